/* The "resnet" encoder plugin: torchvision's ResNet-18/34/50/101/152 with its
 * exact parameter and buffer names (conv1.weight, bn1.*, layerN.M.*,
 * layerN.0.downsample.0/1.*), no fc unless num_classes asks for one, so that
 * torchvision and LVM-Med state dicts load with strict matching.
 *
 * Stages (what U-Net decoders and LVM-Med's local affinity use), finest first:
 *   0: relu(bn1(conv1(x)))  64 channels        stride 2  (before the maxpool)
 *   1: layer1               64 x expansion      stride 4
 *   2: layer2              128 x expansion      stride 8
 *   3: layer3              256 x expansion      stride 16
 *   4: layer4              512 x expansion      stride 32
 * `pooled` is the global average of layer4 (N, 512 x expansion), or the fc
 * logits (N, num_classes) when num_classes > 0, as torchvision's forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/encoder.h"
#include "medfm/plugin.h"
#include "resnet.h"

enum { N_STAGES = 5 };

typedef struct {
    mf_module base;
    int depth;
    int frozen_stages; /* -1 none, 0 stem, k stem + layer1..k */
    bool freeze_bn;
    int fc; /* child slot of fc, -1 if none */
} rn_net;

/* Children slots of rn_net, in torchvision's order. */
enum { C_CONV1, C_BN1, C_RELU, C_MAXPOOL, C_LAYER1 };

static void set_bn_eval(mf_module *m) {
    if (!strncmp(mf_module_type(m), "BatchNorm", 9))
        m->training = false;
    for (int i = 0; i < m->n_children; i++)
        set_bn_eval(m->children[i].item);
}

/* Frozen parts stay in eval mode whatever mode the caller set (mmdet's rule). */
static void apply_freeze(rn_net *n) {
    mf_module *m = &n->base;
    if (n->freeze_bn)
        set_bn_eval(m);
    if (n->frozen_stages >= 0) {
        mf_module_train(mf_module_child(m, C_CONV1), false);
        mf_module_train(mf_module_child(m, C_BN1), false);
        for (int l = 0; l < n->frozen_stages; l++)
            mf_module_train(mf_module_child(m, C_LAYER1 + l), false);
    }
}

static mf_status net_run(rn_net *n, const mf_tensor *x, bool all_stages, mf_encoder_output *out) {
    mf_module *m = &n->base;
    mf_tensor *t = NULL, *cur = NULL;
    mf_status st = MF_OK;
    memset(out, 0, sizeof *out);
    int64_t cin = mf_module_param(mf_module_child(m, C_CONV1), 0)->shape[1];
    if (x->ndim != 4 || x->shape[1] != cin)
        return MF_ERR(MF_ERR_SHAPE, "resnet%d: input %s, want (N, %lld, H, W)", n->depth, MF_SHAPE(x),
                      (long long)cin);
    apply_freeze(n);
    MF_CHECK(mf_module_forward(mf_module_child(m, C_CONV1), x, &t));
    MF_CHECK(rn_bn_relu(mf_module_child(m, C_BN1), t, &cur));
    mf_tensor_clear(&t);
    t = cur;
    cur = NULL;
    if (all_stages)
        out->stages[out->n_stages++] = mf_tensor_retain(t);
    MF_CHECK(mf_module_forward(mf_module_child(m, C_MAXPOOL), t, &cur));
    mf_tensor_clear(&t);
    for (int l = 0; l < 4; l++) {
        MF_CHECK(mf_module_forward(mf_module_child(m, C_LAYER1 + l), cur, &t));
        mf_tensor_clear(&cur);
        cur = t;
        t = NULL;
        if (all_stages)
            out->stages[out->n_stages++] = mf_tensor_retain(cur);
    }
    MF_CHECK(mf_mean(cur, 2, (const int[]){2, 3}, false, &t));
    if (n->fc >= 0) {
        mf_tensor_clear(&cur);
        MF_CHECK(mf_module_forward(mf_module_child(m, n->fc), t, &cur));
        mf_tensor_clear(&t);
        t = cur;
        cur = NULL;
    }
    out->pooled = t;
    t = NULL;
cleanup:
    mf_tensor_release(t);
    mf_tensor_release(cur);
    if (st != MF_OK)
        mf_encoder_output_clear(out);
    return st;
}

static mf_status net_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    mf_encoder_output o;
    *out = NULL;
    MF_TRY(net_run((rn_net *)m, x, false, &o));
    *out = o.pooled;
    o.pooled = NULL;
    mf_encoder_output_clear(&o);
    return MF_OK;
}

static const mf_module_vtable net_vt = {"ResNet", net_forward, NULL};

/* Replaces every floating parameter and buffer by a copy in dtype dt. */
static mf_status cast_leaf(mf_tensor **slot, mf_dtype dt, bool param) {
    mf_tensor *t = *slot, *c = NULL;
    if (!mf_dtype_is_float(t->dtype) || t->dtype == dt)
        return MF_OK;
    MF_TRY(mf_tensor_empty(t->ndim, t->shape, dt, t->storage->device, &c));
    mf_status st = mf_tensor_copy_(c, t);
    if (st == MF_OK && param)
        st = mf_tensor_set_requires_grad(c, true);
    if (st != MF_OK) {
        mf_tensor_release(c);
        return st;
    }
    mf_tensor_release(t);
    *slot = c;
    return MF_OK;
}

static mf_status cast_module(mf_module *m, mf_dtype dt) {
    for (int i = 0; i < m->n_params; i++)
        MF_TRY(cast_leaf((mf_tensor **)&m->params[i].item, dt, true));
    for (int i = 0; i < m->n_buffers; i++)
        MF_TRY(cast_leaf((mf_tensor **)&m->buffers[i].item, dt, false));
    for (int i = 0; i < m->n_children; i++)
        MF_TRY(cast_module(m->children[i].item, dt));
    return MF_OK;
}

static mf_status freeze_params(mf_module *m) {
    for (int i = 0; i < m->n_params; i++)
        MF_TRY(mf_tensor_set_requires_grad(m->params[i].item, false));
    for (int i = 0; i < m->n_children; i++)
        MF_TRY(freeze_params(m->children[i].item));
    return MF_OK;
}

typedef struct {
    int depth;
    int64_t in_channels, num_classes;
    bool zero_init_residual, freeze_bn, strict;
    int frozen_stages;
    mf_dtype dtype;
    const char *weights, *weights_prefix;
} rn_config;

static mf_status build(const rn_config *c, mf_rng *rng, rn_net **out) {
    static const int blocks[5][4] = {{2, 2, 2, 2}, {3, 4, 6, 3}, {3, 4, 6, 3}, {3, 4, 23, 3}, {3, 8, 36, 3}};
    int which = c->depth == 18 ? 0 : c->depth == 34 ? 1 : c->depth == 50 ? 2 : c->depth == 101 ? 3 : 4;
    bool bottleneck = c->depth >= 50;
    mf_module *m, *ch = NULL;
    *out = NULL;
    MF_TRY(mf_module_alloc(sizeof(rn_net), &net_vt, &m));
    rn_net *n = (rn_net *)m;
    n->depth = c->depth;
    n->frozen_stages = c->frozen_stages;
    n->freeze_bn = c->freeze_bn;
    n->fc = -1;
    mf_status st = MF_OK;
    MF_CHECK(rn_conv(c->in_channels, 64, 7, 2, rng, &ch));
    MF_CHECK(mf_module_add_child(m, "conv1", ch, NULL));
    MF_CHECK(rn_bn(64, &ch));
    MF_CHECK(mf_module_add_child(m, "bn1", ch, NULL));
    MF_CHECK(mf_nn_activation_new(MF_ACT_RELU, &ch));
    MF_CHECK(mf_module_add_child(m, "relu", ch, NULL));
    mf_pool_params pool = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    MF_CHECK(mf_nn_max_pool_new(2, &pool, &ch));
    MF_CHECK(mf_module_add_child(m, "maxpool", ch, NULL));
    int64_t inplanes = 64, expansion = bottleneck ? 4 : 1;
    for (int l = 0; l < 4; l++) {
        mf_module *layer;
        MF_CHECK(mf_nn_sequential_new(&layer));
        char name[16];
        snprintf(name, sizeof name, "layer%d", l + 1);
        MF_CHECK(mf_module_add_child(m, name, layer, NULL));
        int64_t planes = (int64_t)64 << l;
        for (int b = 0; b < blocks[which][l]; b++) {
            MF_CHECK(rn_block_new(bottleneck, inplanes, planes, b == 0 && l > 0 ? 2 : 1, c->zero_init_residual,
                                  rng, &ch));
            MF_CHECK(mf_nn_sequential_append(layer, ch));
            inplanes = planes * expansion;
        }
    }
    if (c->num_classes > 0) {
        MF_CHECK(mf_nn_linear_new(inplanes, c->num_classes, true, rng, &ch));
        MF_CHECK(mf_module_add_child(m, "fc", ch, NULL));
        n->fc = m->n_children - 1;
    }
    if (c->dtype != MF_F32)
        MF_CHECK(cast_module(m, c->dtype));
    *out = n;
    return MF_OK;
cleanup:
    mf_module_free(m);
    return st;
}

static mf_status load_weights(const rn_config *c, mf_module *m) {
    mf_named_tensors state = {0};
    MF_TRY(mf_module_state(m, &state));
    mf_status st = c->weights_prefix && *c->weights_prefix
                       ? mf_state_dict_load_prefix(c->weights, c->weights_prefix, state.items, state.n, c->strict,
                                                   NULL)
                       : mf_state_dict_load(c->weights, state.items, state.n, c->strict, NULL);
    mf_named_tensors_free(&state);
    if (st != MF_OK) {
        char *why = strdup(mf_last_error());
        mf_status st2 = MF_ERR(st, "resnet%d: weights %s: %s", c->depth, c->weights, why ? why : "");
        free(why);
        return st2;
    }
    return MF_OK;
}

static mf_status enc_forward(mf_encoder *e, const mf_tensor *x, bool all_stages, mf_encoder_output *out) {
    return net_run((rn_net *)e->module, x, all_stages, out);
}

static void enc_destroy(mf_encoder *e) {
    if (!e)
        return;
    mf_module_free(e->module);
    free(e);
}

static mf_status read_config(const mf_cfg *cfg, rn_config *c) {
    int64_t depth, frozen;
    const char *dtype;
    MF_TRY(mf_cfg_get_int(cfg, "depth", 50, &depth));
    if (depth != 18 && depth != 34 && depth != 50 && depth != 101 && depth != 152)
        return MF_ERR(MF_ERR_CONFIG, "resnet: depth %lld, want 18, 34, 50, 101 or 152", (long long)depth);
    c->depth = (int)depth;
    MF_TRY(mf_cfg_get_int(cfg, "in_channels", 3, &c->in_channels));
    MF_TRY(mf_cfg_get_int(cfg, "num_classes", 0, &c->num_classes));
    if (c->in_channels < 1 || c->num_classes < 0)
        return MF_ERR(MF_ERR_CONFIG, "resnet: in_channels %lld must be >= 1 and num_classes %lld >= 0",
                      (long long)c->in_channels, (long long)c->num_classes);
    MF_TRY(mf_cfg_get_int(cfg, "frozen_stages", -1, &frozen));
    if (frozen < -1 || frozen > 4)
        return MF_ERR(MF_ERR_CONFIG, "resnet: frozen_stages %lld, want -1 (none), 0 (stem) .. 4", (long long)frozen);
    c->frozen_stages = (int)frozen;
    MF_TRY(mf_cfg_get_bool(cfg, "zero_init_residual", false, &c->zero_init_residual));
    MF_TRY(mf_cfg_get_bool(cfg, "freeze_bn", false, &c->freeze_bn));
    MF_TRY(mf_cfg_get_bool(cfg, "strict", true, &c->strict));
    MF_TRY(mf_cfg_get_string(cfg, "weights", NULL, &c->weights));
    MF_TRY(mf_cfg_get_string(cfg, "weights_prefix", "", &c->weights_prefix));
    MF_TRY(mf_cfg_get_string(cfg, "dtype", "float32", &dtype));
    if (!strcmp(dtype, "float32"))
        c->dtype = MF_F32;
    else if (!strcmp(dtype, "float64"))
        c->dtype = MF_F64;
    else
        return MF_ERR(MF_ERR_CONFIG, "resnet: dtype '%s', want float32 or float64", dtype);
    return MF_OK;
}

static mf_status create(const mf_cfg *cfg, mf_rng *rng, mf_encoder **out) {
    rn_config c;
    rn_net *n = NULL;
    *out = NULL;
    MF_TRY(read_config(cfg, &c));
    MF_TRY(build(&c, rng, &n));
    mf_status st = MF_OK;
    if (c.weights)
        MF_CHECK(load_weights(&c, &n->base));
    if (c.frozen_stages >= 0) {
        MF_CHECK(freeze_params(mf_module_child(&n->base, C_CONV1)));
        MF_CHECK(freeze_params(mf_module_child(&n->base, C_BN1)));
        for (int l = 0; l < c.frozen_stages; l++)
            MF_CHECK(freeze_params(mf_module_child(&n->base, C_LAYER1 + l)));
    }
    mf_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        st = MF_ERR(MF_ERR_NOMEM, "resnet%d: out of memory", c.depth);
        goto cleanup;
    }
    int64_t x = c.depth >= 50 ? 4 : 1;
    e->size = sizeof *e;
    e->module = &n->base;
    e->spatial_rank = 2;
    e->in_channels = c.in_channels;
    e->embed_dim = c.num_classes > 0 ? c.num_classes : 512 * x;
    e->n_stages = N_STAGES;
    const int64_t ch[N_STAGES] = {64, 64 * x, 128 * x, 256 * x, 512 * x};
    for (int i = 0; i < N_STAGES; i++) {
        e->stage_channels[i] = ch[i];
        e->stage_stride[i] = (int64_t)2 << i;
    }
    e->forward = enc_forward;
    e->destroy = enc_destroy;
    *out = e;
    return MF_OK;
cleanup:
    mf_module_free(&n->base);
    return st;
}

static const mf_key_spec keys[] = {
    {.name = "depth", .type = MF_KEY_INT, .def = "50", .doc = "18, 34 (BasicBlock) or 50, 101, 152 (Bottleneck)",
     .min = 18, .max = 152},
    {.name = "in_channels", .type = MF_KEY_INT, .def = "3", .doc = "input channels (1 for grey medical images)",
     .min = 1, .max = MF_NO_LIMIT},
    {.name = "num_classes", .type = MF_KEY_INT, .def = "0",
     .doc = "0: no fc, pooled = features; >0: torchvision's fc, pooled = logits", .min = 0, .max = MF_NO_LIMIT},
    {.name = "weights", .type = MF_KEY_PATH, .def = "~", .nullable = true,
     .doc = "safetensors file with torchvision names (tools/convert_weights.py makes one from a .pth)",
     .min = MF_NO_LIMIT, .max = MF_NO_LIMIT},
    {.name = "weights_prefix", .type = MF_KEY_STRING, .def = "\"\"",
     .doc = "prefix of the encoder's keys in the file (\"encoder.\", \"module.\"); other keys are ignored",
     .min = MF_NO_LIMIT, .max = MF_NO_LIMIT},
    {.name = "strict", .type = MF_KEY_BOOL, .def = "true",
     .doc = "missing or unexpected weight keys are errors (mis-shaped ones always are)", .min = MF_NO_LIMIT,
     .max = MF_NO_LIMIT},
    {.name = "zero_init_residual", .type = MF_KEY_BOOL, .def = "false",
     .doc = "zero the last BN weight of each block (torchvision's option)", .min = MF_NO_LIMIT, .max = MF_NO_LIMIT},
    {.name = "frozen_stages", .type = MF_KEY_INT, .def = "-1",
     .doc = "-1 none; 0 stem; k stem and layer1..k: no gradients, BN in eval mode", .min = -1, .max = 4},
    {.name = "freeze_bn", .type = MF_KEY_BOOL, .def = "false",
     .doc = "every BN uses and keeps its running statistics, also in training mode", .min = MF_NO_LIMIT,
     .max = MF_NO_LIMIT},
    {.name = "dtype", .type = MF_KEY_CHOICE, .def = "float32", .choices = "float32|float64",
     .doc = "parameter dtype (float64 for reference checks on CPU)", .min = MF_NO_LIMIT, .max = MF_NO_LIMIT},
};
static const mf_schema schema = {"encoder resnet", keys, (int)(sizeof keys / sizeof keys[0]), false};
static const mf_encoder_vtable vtable = {.size = sizeof(mf_encoder_vtable), .create = create};
static const mf_plugin_info info = {.size = sizeof(mf_plugin_info), .kind = MF_KIND_ENCODER, .name = "resnet",
                                    .version = "1.0.0",
                                    .doc = "torchvision ResNet-18/34/50/101/152 (torchvision state-dict names)",
                                    .schema = &schema, .vtable = &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "resnet"));
    return mf_registry_add(reg, &info);
}
