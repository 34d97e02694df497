/* The hamming loss plugin (LVM-Med eq. 5): L(x, t) = x . (1 - t) + t . (1 - x)
 * between a (relaxed or 0/1) matching x and the target matching t, summed
 * over each problem and averaged over the batch of problems (dim 0), as
 * BB-GM and LVM-Med do. Its gradient 1 - 2t per entry (over the batch) is
 * what the IMLE / blackbox estimators turn into target costs. */
#include <string.h>

#include "medfm/loss.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/reduce.h"
#include "medfm/plugin.h"

typedef enum { PER_PROBLEM, MEAN, SUM } reduction;

static mf_status forward(mf_loss *l, const mf_batch *in, mf_tensor **loss, mf_batch *logs) {
    reduction red = *(reduction *)l->state;
    mf_tensor *x, *t, *sum = NULL, *xt = NULL, *xt2 = NULL, *err = NULL, *tot = NULL;
    MF_TRY(mf_batch_need(in, "x", "hamming", &x));
    MF_TRY(mf_batch_need(in, "target", "hamming", &t));
    if (x->ndim != t->ndim || memcmp(x->shape, t->shape, sizeof x->shape[0] * (size_t)x->ndim))
        return MF_ERR(MF_ERR_SHAPE, "hamming: x %s and target %s must have one shape", MF_SHAPE(x), MF_SHAPE(t));
    if (x->ndim < 1)
        return MF_ERR(MF_ERR_SHAPE, "hamming: x must have a batch dim, got %s", MF_SHAPE(x));
    mf_status st;
    /* x (1 - t) + t (1 - x) = x + t - 2 x t */
    MF_CHECK(mf_add(x, t, &sum));
    MF_CHECK(mf_mul(x, t, &xt));
    MF_CHECK(mf_mul_scalar(xt, 2.0, &xt2));
    MF_CHECK(mf_sub(sum, xt2, &err));
    if (red == MEAN) {
        MF_CHECK(mf_mean(err, 0, NULL, false, loss));
    } else {
        MF_CHECK(mf_sum(err, 0, NULL, false, &tot));
        MF_CHECK(mf_mul_scalar(tot, red == SUM ? 1.0 : 1.0 / (double)x->shape[0], loss));
    }
cleanup:
    mf_tensor_release(sum), mf_tensor_release(xt), mf_tensor_release(xt2), mf_tensor_release(err);
    mf_tensor_release(tot);
    return st;
}

static mf_status create(const mf_cfg *cfg, mf_loss **out) {
    const char *r = "per_problem";
    if (cfg)
        MF_TRY(mf_cfg_get_string(cfg, "reduction", r, &r));
    reduction red = !strcmp(r, "mean") ? MEAN : !strcmp(r, "sum") ? SUM : PER_PROBLEM;
    if (red == PER_PROBLEM && strcmp(r, "per_problem"))
        return MF_ERR(MF_ERR_CONFIG, "hamming: reduction must be per_problem, mean or sum, got '%s'", r);
    return mf_loss_new("hamming", forward, &red, sizeof red, out);
}

static const mf_key_spec keys[] = {
    {"reduction", MF_KEY_CHOICE, "per_problem",
     "per_problem: sum over each problem, mean over dim 0 (BB-GM, LVM-Med); mean: over every entry; sum", MF_NO_LIMIT,
     MF_NO_LIMIT, "per_problem|mean|sum", NULL, false},
};
static const mf_schema schema = {"loss hamming", keys, 1, false};
static const mf_loss_vtable vtable = {sizeof vtable, create};
static const mf_plugin_info info = {sizeof(mf_plugin_info), MF_KIND_LOSS, "hamming", "0.1.0",
                                    "Hamming distance between a matching x and a target matching", &schema, &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "hamming"));
    return mf_registry_add(reg, &info);
}
