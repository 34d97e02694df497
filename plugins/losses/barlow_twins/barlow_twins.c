/* The barlow_twins loss plugin (Zbontar et al. 2021, their reference
 * formulas): each embedding dim of z0, z1 (N, F) is standardised over the
 * batch (BatchNorm1d without affine: biased variance, eps 1e-5), the
 * cross-correlation c = z0n^T z1n / N is pushed to the identity:
 *     L = sum_i (1 - c_ii)^2 + lambda sum_(i != j) c_ij^2. */

#include "medfm/loss.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/linalg.h"
#include "medfm/ops/reduce.h"
#include "medfm/ops/view.h"
#include "medfm/plugin.h"

/* (x - mean) / sqrt(var + 1e-5) over dim 0. */
static mf_status standardise(const mf_tensor *x, mf_tensor **out) {
    int dim = 0;
    mf_tensor *mu = NULL, *var = NULL, *c = NULL, *sd = NULL;
    mf_status st;
    MF_CHECK(mf_mean(x, 1, &dim, true, &mu));
    MF_CHECK(mf_var(x, 1, &dim, 0, true, &var));
    MF_CHECK(mf_sub(x, mu, &c));
    mf_tensor *v;
    MF_CHECK(mf_add_scalar(var, 1e-5, &v));
    st = mf_rsqrt(v, &sd);
    mf_tensor_release(v);
    MF_CHECK(st);
    MF_CHECK(mf_mul(c, sd, out));
cleanup:
    mf_tensor_release(mu), mf_tensor_release(var), mf_tensor_release(c), mf_tensor_release(sd);
    return st;
}

/* diag_w on the diagonal, off_w elsewhere: (F, F) in x's dtype and device. */
static mf_status weights(int64_t F, double diag_w, double off_w, const mf_tensor *like, mf_tensor **out) {
    int64_t shape[2] = {F, F};
    mf_tensor *w;
    MF_TRY(mf_tensor_full(2, shape, like->dtype, MF_DEVICE_CPU, off_w, &w));
    for (int64_t i = 0; i < F; i++)
        mf_tensor_set_flat(w, i * F + i, diag_w);
    if (like->storage->device.type == MF_CPU) {
        *out = w;
        return MF_OK;
    }
    mf_status st = mf_to_device(w, like->storage->device, out);
    mf_tensor_release(w);
    return st;
}

static mf_status forward(mf_loss *l, const mf_batch *in, mf_tensor **loss, mf_batch *logs) {
    double lambda = *(double *)l->state;
    mf_tensor *z0, *z1;
    MF_TRY(mf_batch_need(in, "z0", "barlow_twins", &z0));
    MF_TRY(mf_batch_need(in, "z1", "barlow_twins", &z1));
    if (z0->ndim != 2 || z1->ndim != 2 || z0->shape[0] != z1->shape[0] || z0->shape[1] != z1->shape[1] ||
        z0->shape[0] < 2)
        return MF_ERR(MF_ERR_SHAPE, "barlow_twins: z0 %s and z1 %s must both be (N, F), N >= 2", MF_SHAPE(z0),
                      MF_SHAPE(z1));
    int64_t N = z0->shape[0], F = z0->shape[1];
    mf_tensor *a = NULL, *b = NULL, *aT = NULL, *ab = NULL, *c = NULL, *eye = NULL, *d = NULL, *sq = NULL;
    mf_tensor *w = NULL, *ws = NULL;
    mf_status st;
    MF_CHECK(standardise(z0, &a));
    MF_CHECK(standardise(z1, &b));
    MF_CHECK(mf_transpose(a, 0, 1, &aT));
    MF_CHECK(mf_matmul(aT, b, &ab));
    MF_CHECK(mf_mul_scalar(ab, 1.0 / (double)N, &c));
    MF_CHECK(weights(F, 1.0, 0.0, c, &eye));
    MF_CHECK(mf_sub(c, eye, &d)); /* c - I: off-diagonal entries are c_ij themselves */
    MF_CHECK(mf_square(d, &sq));
    MF_CHECK(weights(F, 1.0, lambda, c, &w));
    MF_CHECK(mf_mul(sq, w, &ws));
    MF_CHECK(mf_sum(ws, 0, NULL, false, loss));
cleanup:
    mf_tensor_release(a), mf_tensor_release(b), mf_tensor_release(aT), mf_tensor_release(ab);
    mf_tensor_release(c), mf_tensor_release(eye), mf_tensor_release(d), mf_tensor_release(sq);
    mf_tensor_release(w), mf_tensor_release(ws);
    return st;
}

static mf_status create(const mf_cfg *cfg, mf_loss **out) {
    double lambda = 0.0051;
    if (cfg)
        MF_TRY(mf_cfg_get_float(cfg, "lambda", lambda, &lambda));
    if (!(lambda >= 0))
        return MF_ERR(MF_ERR_CONFIG, "barlow_twins: lambda must be >= 0, got %g", lambda);
    return mf_loss_new("barlow_twins", forward, &lambda, sizeof lambda, out);
}

static const mf_key_spec keys[] = {
    {"lambda", MF_KEY_FLOAT, "0.0051", "weight of the off-diagonal (redundancy) term (reference: 0.0051)", 0,
     MF_NO_LIMIT, NULL, NULL, false},
};
static const mf_schema schema = {"loss barlow_twins", keys, 1, false};
static const mf_loss_vtable vtable = {sizeof vtable, create};
static const mf_plugin_info info = {sizeof(mf_plugin_info), MF_KIND_LOSS, "barlow_twins", "0.1.0",
                                    "Barlow Twins cross-correlation loss over two views {z0, z1}", &schema, &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "barlow_twins"));
    return mf_registry_add(reg, &info);
}
