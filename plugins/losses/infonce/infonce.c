/* The infonce loss plugin: SimCLR's NT-Xent (Chen et al. 2020). The 2N
 * embeddings of {z0, z1} (N, F) are L2-normalised; each one's positive is
 * the other view of its image and its negatives the other 2N - 2; the loss
 * is the cross-entropy of cos / temperature over the row with the self
 * similarity left out, averaged over the 2N anchors. */
#include <stdlib.h>

#include "medfm/loss.h"
#include "medfm/ops/distance.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/index.h"
#include "medfm/ops/linalg.h"
#include "medfm/ops/loss.h"
#include "medfm/ops/view.h"
#include "medfm/plugin.h"

/* Moves the host constant *t to like's device (in place of the reference). */
static mf_status on_device_of(const mf_tensor *like, mf_tensor **t) {
    if (mf_device_equal(like->storage->device, (*t)->storage->device))
        return MF_OK;
    mf_tensor *moved;
    MF_TRY(mf_to_device(*t, like->storage->device, &moved));
    mf_tensor_release(*t);
    *t = moved;
    return MF_OK;
}

static mf_status forward(mf_loss *l, const mf_batch *in, mf_tensor **loss, mf_batch *logs) {
    double tau = *(double *)l->state;
    mf_tensor *z0, *z1;
    MF_TRY(mf_batch_need(in, "z0", "infonce", &z0));
    MF_TRY(mf_batch_need(in, "z1", "infonce", &z1));
    if (z0->ndim != 2 || z1->ndim != 2 || z0->shape[0] != z1->shape[0] || z0->shape[1] != z1->shape[1] ||
        z0->shape[0] < 1)
        return MF_ERR(MF_ERR_SHAPE, "infonce: z0 %s and z1 %s must both be (N, F), N >= 1", MF_SHAPE(z0),
                      MF_SHAPE(z1));
    int64_t N = z0->shape[0], M = 2 * N;
    mf_tensor *zs[2] = {z0, z1}, *z = NULL, *zn = NULL, *sim = NULL, *logits = NULL, *self = NULL, *target = NULL;
    mf_tensor *masked = NULL;
    mf_status st;
    MF_CHECK(mf_concat(2, zs, 0, &z));
    MF_CHECK(mf_l2_normalize(z, 1, 1e-8, &zn));
    {
        mf_tensor *znT;
        MF_CHECK(mf_transpose(zn, 0, 1, &znT));
        st = mf_matmul(zn, znT, &sim);
        mf_tensor_release(znT);
        MF_CHECK(st);
    }
    MF_CHECK(mf_mul_scalar(sim, 1.0 / tau, &logits));
    int64_t shape[2] = {M, M};
    uint8_t *eye = calloc((size_t)(M * M), 1);
    int64_t *pos = malloc(sizeof *pos * (size_t)M);
    if (!eye || !pos) {
        free(eye), free(pos);
        st = MF_ERR(MF_ERR_NOMEM, "infonce: out of memory");
        goto cleanup;
    }
    for (int64_t i = 0; i < M; i++) {
        eye[i * M + i] = 1;
        pos[i] = (i + N) % M; /* the other view of the same image */
    }
    st = mf_tensor_from_data(2, shape, MF_BOOL, eye, &self);
    if (st == MF_OK)
        st = mf_tensor_from_data(1, &M, MF_I64, pos, &target);
    free(eye), free(pos);
    MF_CHECK(st);
    MF_CHECK(on_device_of(logits, &self));
    MF_CHECK(on_device_of(logits, &target));
    /* a finite stand-in for -inf keeps gradients finite; exp underflows to 0 */
    MF_CHECK(mf_masked_fill(logits, self, -1e9, &masked));
    MF_CHECK(mf_cross_entropy(masked, target, NULL, loss));
cleanup:
    mf_tensor_release(z), mf_tensor_release(zn), mf_tensor_release(sim), mf_tensor_release(logits);
    mf_tensor_release(self), mf_tensor_release(target), mf_tensor_release(masked);
    return st;
}

static mf_status create(const mf_cfg *cfg, mf_loss **out) {
    double tau = 0.1;
    if (cfg)
        MF_TRY(mf_cfg_get_float(cfg, "temperature", tau, &tau));
    if (!(tau > 0))
        return MF_ERR(MF_ERR_CONFIG, "infonce: temperature must be > 0, got %g", tau);
    return mf_loss_new("infonce", forward, &tau, sizeof tau, out);
}

static const mf_key_spec keys[] = {
    {"temperature", MF_KEY_FLOAT, "0.1", "softmax temperature of the cosine logits (SimCLR: 0.1 for large batches)",
     0, MF_NO_LIMIT, NULL, NULL, false},
};
static const mf_schema schema = {"loss infonce", keys, 1, false};
static const mf_loss_vtable vtable = {sizeof vtable, create};
static const mf_plugin_info info = {sizeof(mf_plugin_info), MF_KIND_LOSS, "infonce", "0.1.0",
                                    "SimCLR NT-Xent over two views {z0, z1}", &schema, &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "infonce"));
    return mf_registry_add(reg, &info);
}
