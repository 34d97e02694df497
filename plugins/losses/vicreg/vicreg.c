/* The vicreg loss plugin (Bardes et al. 2022, the PyTorch reference's
 * formulas) over two views z0, z1 (N, F):
 *   invariance  mse(z0, z1)
 *   variance    mean(relu(1 - sqrt(var(z) + 1e-4))) / 2 per view (unbiased var)
 *   covariance  sum of squared off-diagonal entries of cov(z) / F per view
 * loss = sim_coeff inv + std_coeff var + cov_coeff cov. */

#include "medfm/loss.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/linalg.h"
#include "medfm/ops/loss.h"
#include "medfm/ops/reduce.h"
#include "medfm/ops/view.h"
#include "medfm/plugin.h"

typedef struct coeffs {
    double sim, std, cov;
} coeffs;

/* (1 - I) in x's dtype and device. */
static mf_status off_diagonal(int64_t F, const mf_tensor *like, mf_tensor **out) {
    int64_t shape[2] = {F, F};
    mf_tensor *w;
    MF_TRY(mf_tensor_full(2, shape, like->dtype, MF_DEVICE_CPU, 1.0, &w));
    for (int64_t i = 0; i < F; i++)
        mf_tensor_set_flat(w, i * F + i, 0.0);
    if (like->storage->device.type == MF_CPU) {
        *out = w;
        return MF_OK;
    }
    mf_status st = mf_to_device(w, like->storage->device, out);
    mf_tensor_release(w);
    return st;
}

/* Variance and covariance terms of one view: *std_term, *cov_term. */
static mf_status regularisers(const mf_tensor *z, mf_tensor **std_term, mf_tensor **cov_term) {
    int64_t N = z->shape[0], F = z->shape[1];
    int dim = 0;
    mf_tensor *mu = NULL, *c = NULL, *var = NULL, *v = NULL, *sd = NULL, *gap = NULL, *hinge = NULL, *m = NULL;
    mf_tensor *cT = NULL, *cc = NULL, *cov = NULL, *mask = NULL, *off = NULL, *sq = NULL, *s = NULL;
    mf_status st;
    MF_CHECK(mf_mean(z, 1, &dim, true, &mu));
    MF_CHECK(mf_sub(z, mu, &c));
    MF_CHECK(mf_var(c, 1, &dim, 1, false, &var));
    MF_CHECK(mf_add_scalar(var, 1e-4, &v));
    MF_CHECK(mf_sqrt(v, &sd));
    MF_CHECK(mf_affine(sd, -1.0, 1.0, &gap));
    MF_CHECK(mf_relu(gap, &hinge));
    MF_CHECK(mf_mean(hinge, 0, NULL, false, &m));
    MF_CHECK(mf_mul_scalar(m, 0.5, std_term));
    MF_CHECK(mf_transpose(c, 0, 1, &cT));
    MF_CHECK(mf_matmul(cT, c, &cc));
    MF_CHECK(mf_mul_scalar(cc, 1.0 / (double)(N - 1), &cov));
    MF_CHECK(off_diagonal(F, cov, &mask));
    MF_CHECK(mf_mul(cov, mask, &off));
    MF_CHECK(mf_square(off, &sq));
    MF_CHECK(mf_sum(sq, 0, NULL, false, &s));
    MF_CHECK(mf_mul_scalar(s, 1.0 / (double)F, cov_term));
cleanup:
    mf_tensor_release(mu), mf_tensor_release(c), mf_tensor_release(var), mf_tensor_release(v);
    mf_tensor_release(sd), mf_tensor_release(gap), mf_tensor_release(hinge), mf_tensor_release(m);
    mf_tensor_release(cT), mf_tensor_release(cc), mf_tensor_release(cov), mf_tensor_release(mask);
    mf_tensor_release(off), mf_tensor_release(sq), mf_tensor_release(s);
    return st;
}

static mf_status forward(mf_loss *l, const mf_batch *in, mf_tensor **loss, mf_batch *logs) {
    const coeffs *k = l->state;
    mf_tensor *z0, *z1;
    MF_TRY(mf_batch_need(in, "z0", "vicreg", &z0));
    MF_TRY(mf_batch_need(in, "z1", "vicreg", &z1));
    if (z0->ndim != 2 || z1->ndim != 2 || z0->shape[0] != z1->shape[0] || z0->shape[1] != z1->shape[1] ||
        z0->shape[0] < 2)
        return MF_ERR(MF_ERR_SHAPE, "vicreg: z0 %s and z1 %s must both be (N, F), N >= 2", MF_SHAPE(z0),
                      MF_SHAPE(z1));
    mf_tensor *inv = NULL, *s0 = NULL, *c0 = NULL, *s1 = NULL, *c1 = NULL, *sv = NULL, *cv = NULL;
    mf_tensor *a = NULL, *b = NULL, *c = NULL, *ab = NULL;
    mf_status st;
    MF_CHECK(mf_mse_loss(z0, z1, MF_REDUCE_MEAN, &inv));
    MF_CHECK(regularisers(z0, &s0, &c0));
    MF_CHECK(regularisers(z1, &s1, &c1));
    MF_CHECK(mf_add(s0, s1, &sv));
    MF_CHECK(mf_add(c0, c1, &cv));
    MF_CHECK(mf_mul_scalar(inv, k->sim, &a));
    MF_CHECK(mf_mul_scalar(sv, k->std, &b));
    MF_CHECK(mf_mul_scalar(cv, k->cov, &c));
    MF_CHECK(mf_add(a, b, &ab));
    MF_CHECK(mf_add(ab, c, loss));
cleanup:
    mf_tensor_release(inv), mf_tensor_release(s0), mf_tensor_release(c0), mf_tensor_release(s1);
    mf_tensor_release(c1), mf_tensor_release(sv), mf_tensor_release(cv), mf_tensor_release(a);
    mf_tensor_release(b), mf_tensor_release(c), mf_tensor_release(ab);
    return st;
}

static mf_status create(const mf_cfg *cfg, mf_loss **out) {
    coeffs k = {25, 25, 1};
    if (cfg) {
        MF_TRY(mf_cfg_get_float(cfg, "sim_coeff", k.sim, &k.sim));
        MF_TRY(mf_cfg_get_float(cfg, "std_coeff", k.std, &k.std));
        MF_TRY(mf_cfg_get_float(cfg, "cov_coeff", k.cov, &k.cov));
    }
    return mf_loss_new("vicreg", forward, &k, sizeof k, out);
}

static const mf_key_spec keys[] = {
    {"sim_coeff", MF_KEY_FLOAT, "25.0", "invariance (MSE) weight (reference: 25)", 0, MF_NO_LIMIT, NULL, NULL, false},
    {"std_coeff", MF_KEY_FLOAT, "25.0", "variance hinge weight (reference: 25)", 0, MF_NO_LIMIT, NULL, NULL, false},
    {"cov_coeff", MF_KEY_FLOAT, "1.0", "covariance weight (reference: 1)", 0, MF_NO_LIMIT, NULL, NULL, false},
};
static const mf_schema schema = {"loss vicreg", keys, 3, false};
static const mf_loss_vtable vtable = {sizeof vtable, create};
static const mf_plugin_info info = {sizeof(mf_plugin_info), MF_KIND_LOSS, "vicreg", "0.1.0",
                                    "VICReg invariance/variance/covariance loss over two views {z0, z1}", &schema,
                                    &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "vicreg"));
    return mf_registry_add(reg, &info);
}
