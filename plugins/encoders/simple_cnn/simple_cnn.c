/* simple_cnn: a small plain conv net for quick experiments and tests.
 * Stage i is [conv3x3 (stride 2 from the second stage on), BatchNorm,
 * ReLU] followed by `blocks - 1` more stride-1 conv/BN/ReLU triples, with
 * width * 2^i channels; `pooled` is the global average of the last stage.
 * Parameter names: "stage<i>.<j>.weight" (Sequential indices). */
#include <stdio.h>
#include <stdlib.h>

#include "medfm/encoder.h"
#include "medfm/nn.h"
#include "medfm/ops/reduce.h"
#include "medfm/plugin.h"

#define NL MF_NO_LIMIT
static const mf_key_spec keys[] = {
    {"in_channels", MF_KEY_INT, "1", "input channels", 1, 1024, NULL, NULL, false},
    {"width", MF_KEY_INT, "16", "channels of the first stage (doubling per stage)", 1, 4096, NULL, NULL, false},
    {"depth", MF_KEY_INT, "3", "number of stages", 1, MF_ENCODER_MAX_STAGES, NULL, NULL, false},
    {"blocks", MF_KEY_INT, "1", "conv/BN/ReLU blocks per stage", 1, 16, NULL, NULL, false},
    {"rank", MF_KEY_INT, "2", "spatial dims: 2 (images) or 3 (volumes)", 2, 3, NULL, NULL, false},
};
static const mf_schema schema = {"encoder simple_cnn", keys, 5, false};

static const mf_module_vtable root_vt = {"SimpleCNN", NULL, NULL};

static mf_status forward(mf_encoder *e, const mf_tensor *x, bool all_stages, mf_encoder_output *out) {
    *out = (mf_encoder_output){0};
    if (x->ndim != e->spatial_rank + 2 || x->shape[1] != e->in_channels)
        return MF_ERR(MF_ERR_SHAPE, "simple_cnn: input %s, expected (N, %lld, ...) with %d spatial dims",
                      MF_SHAPE(x), (long long)e->in_channels, e->spatial_rank);
    mf_tensor *h = mf_tensor_retain((mf_tensor *)x);
    mf_status st = MF_OK;
    for (int i = 0; i < e->n_stages; i++) {
        mf_tensor *y;
        st = mf_module_forward(mf_module_child(e->module, i), h, &y);
        mf_tensor_release(h);
        if (st != MF_OK) {
            mf_encoder_output_clear(out);
            return st;
        }
        h = y;
        if (all_stages) {
            out->stages[i] = mf_tensor_retain(h);
            out->n_stages = i + 1;
        }
    }
    int dims[3] = {2, 3, 4};
    st = mf_mean(h, e->spatial_rank, dims, false, &out->pooled);
    mf_tensor_release(h);
    if (st != MF_OK)
        mf_encoder_output_clear(out);
    return st;
}

static void destroy(mf_encoder *e) {
    if (!e)
        return;
    mf_module_free(e->module);
    free(e);
}

static mf_status create(const mf_cfg *cfg, mf_rng *rng, mf_encoder **out) {
    *out = NULL;
    int64_t cin, width, depth, blocks, rank;
    MF_TRY(mf_cfg_get_int(cfg, "in_channels", 1, &cin));
    MF_TRY(mf_cfg_get_int(cfg, "width", 16, &width));
    MF_TRY(mf_cfg_get_int(cfg, "depth", 3, &depth));
    MF_TRY(mf_cfg_get_int(cfg, "blocks", 1, &blocks));
    MF_TRY(mf_cfg_get_int(cfg, "rank", 2, &rank));
    mf_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return MF_ERR(MF_ERR_NOMEM, "simple_cnn: out of memory");
    e->size = sizeof *e;
    e->spatial_rank = (int)rank;
    e->in_channels = cin;
    e->n_stages = (int)depth;
    e->forward = forward;
    e->destroy = destroy;
    mf_status st;
    MF_CHECK(mf_module_alloc(sizeof(mf_module), &root_vt, &e->module));
    int64_t c = cin;
    for (int i = 0; i < depth; i++) {
        mf_module *stage;
        MF_CHECK(mf_nn_sequential_new(&stage));
        char name[16];
        snprintf(name, sizeof name, "stage%d", i);
        MF_CHECK(mf_module_add_child(e->module, name, stage, NULL));
        int64_t co = width << i;
        for (int b = 0; b < blocks; b++) {
            mf_conv_spec spec = mf_conv_spec_make((int)rank, b ? co : c, co, 3, (i > 0 && b == 0) ? 2 : 1, 1);
            spec.bias = false;
            mf_module *m;
            MF_CHECK(mf_nn_conv_new(&spec, rng, &m));
            MF_CHECK(mf_nn_sequential_append(stage, m));
            MF_CHECK(mf_nn_batch_norm_new((int)rank, co, NULL, &m));
            MF_CHECK(mf_nn_sequential_append(stage, m));
            MF_CHECK(mf_nn_activation_new(MF_ACT_RELU, &m));
            MF_CHECK(mf_nn_sequential_append(stage, m));
        }
        e->stage_channels[i] = co;
        e->stage_stride[i] = (int64_t)1 << i;
        c = co;
    }
    e->embed_dim = c;
    *out = e;
    return MF_OK;
cleanup:
    destroy(e);
    return st;
}

static const mf_encoder_vtable vtable = {sizeof vtable, create};
static const mf_plugin_info info = {sizeof(mf_plugin_info), MF_KIND_ENCODER, "simple_cnn", "0.1.0",
                                    "a small conv net (conv/BN/ReLU stages) for quick experiments", &schema,
                                    &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "simple_cnn"));
    return mf_registry_add(reg, &info);
}
