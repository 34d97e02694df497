/* CUDA softmax, log-softmax and the fused cross-entropy against the CPU
 * backend, forward and backward, and the out-of-range target error;
 * bce_with_logits, mse and l1 losses. */
#include <math.h>
#include <string.h>

#include "medfm/ops/loss.h"
#include "medfm/ops/softmax.h"
#include "tests/core/backend/cuda_compare.h"

typedef struct {
    int dim;
    bool log;
    mf_ce_params ce;
} loss_ctx;

static mf_status op_softmax(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const loss_ctx *c = ctx;
    return c->log ? mf_log_softmax(in[0], c->dim, out) : mf_softmax(in[0], c->dim, out);
}

static mf_status op_ce(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    loss_ctx c = *(const loss_ctx *)ctx;
    c.ce.weight = in[2];
    return mf_cross_entropy(in[0], in[1], &c.ce, out);
}

Test(cuda_loss, softmax_and_log_softmax_match_the_cpu_along_every_dim) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        mf_tensor *x = t_uniform(1, 3, (int64_t[]){5, 70, 6}, dt, -5, 5);
        bool g[1] = {true};
        for (int dim = 0; dim < 3; dim++)
            for (int lg = 0; lg < 2; lg++) {
                loss_ctx c = {.dim = dim, .log = lg};
                t_cuda_compare(lg ? "log_softmax" : "softmax", 1, &x, g, op_softmax, &c, 4);
            }
        mf_tensor_release(x);
    }
}

static mf_tensor *targets(uint64_t seed, int ndim, const int64_t *shape, int64_t C, bool with_ignored) {
    mf_tensor *u = t_uniform(seed, ndim, shape, MF_F64, 0, (double)C - 1e-9), *t;
    int64_t n = mf_tensor_numel(u);
    double *v = malloc(sizeof(double) * (size_t)n);
    const double *ud = mf_tensor_data(u);
    for (int64_t i = 0; i < n; i++)
        v[i] = with_ignored && i % 5 == 2 ? -100.0 : (double)(int64_t)ud[i];
    t = t_from(ndim, shape, MF_I64, v);
    free(v);
    mf_tensor_release(u);
    return t;
}

Test(cuda_loss, cross_entropy_matches_the_cpu_with_weights_smoothing_and_ignored_targets) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        for (int variant = 0; variant < 3; variant++) {
            loss_ctx c = {.ce = mf_ce_params_default()};
            c.ce.label_smoothing = variant >= 1 ? 0.1 : 0.0;
            mf_tensor *in[3] = {t_uniform(1, 2, (int64_t[]){12, 10}, dt, -3, 3),
                                targets(2, 1, (int64_t[]){12}, 10, variant == 2),
                                variant == 2 ? t_uniform(3, 1, (int64_t[]){10}, dt, 0.2, 2) : NULL};
            bool g[3] = {true, false, false};
            t_cuda_compare("cross_entropy", 3, in, g, op_ce, &c, 8);
            for (int i = 0; i < 3; i++)
                mf_tensor_release(in[i]);
        }
        /* segmentation logits (N, C, H, W), no reduction */
        loss_ctx c = {.ce = mf_ce_params_default()};
        c.ce.reduction = MF_REDUCE_NONE;
        mf_tensor *in[3] = {t_uniform(4, 4, (int64_t[]){2, 5, 6, 7}, dt, -3, 3),
                            targets(5, 3, (int64_t[]){2, 6, 7}, 5, true), NULL};
        bool g[3] = {true, false, false};
        t_cuda_compare("cross_entropy spatial", 3, in, g, op_ce, &c, 8);
        for (int i = 0; i < 3; i++)
            mf_tensor_release(in[i]);
    }
}

/* The check runs in the kernel (no host wait): the loss's read reports it. */
Test(cuda_loss, cross_entropy_reports_a_target_out_of_range_at_the_next_read) {
    t_need_cuda();
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, -1, 1);
    mf_tensor *t = t_from(1, (int64_t[]){3}, MF_I64, (double[]){1, 7, 2});
    mf_tensor *dx = t_on(x, T_CUDA, false), *dt = t_on(t, T_CUDA, false), *y = NULL;
    mf_ce_params p = mf_ce_params_default();
    MF_OK_OR_FAIL(mf_cross_entropy(dx, dt, &p, &y));
    double v;
    cr_assert_eq(mf_tensor_item(y, &v), MF_ERR_INVALID);
    const char *m = mf_last_error();
    cr_assert(strstr(m, "cross_entropy") && strstr(m, "target 7") && strstr(m, "position 1") &&
                  strstr(m, "4 classes"),
              "message: %s", m);
    MF_OK_OR_FAIL(mf_tensor_item(y, &v)); /* reported once */
    cr_assert(isfinite(v));
    mf_tensor *all[] = {x, t, dx, dt, y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mf_tensor_release(all[i]);
}

/* ------------------------------------------ bce_with_logits, mse, l1 */

typedef struct {
    mf_reduction r;
    int kind; /* bce: 0 neither, 1 weight, 2 pos_weight, 3 both; regression: 0 mse, 1 l1 */
} reg_ctx;

static mf_status op_bce(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const reg_ctx *c = ctx;
    mf_tensor *x;
    MF_TRY(mf_transpose(in[0], 0, 1, &x)); /* strided logits [6, 5] */
    mf_status st = mf_bce_with_logits(x, in[1], c->kind & 1 ? in[2] : NULL, c->kind & 2 ? in[3] : NULL, c->r, out);
    mf_tensor_release(x);
    return st;
}

static const mf_reduction reductions[3] = {MF_REDUCE_MEAN, MF_REDUCE_SUM, MF_REDUCE_NONE};
static const mf_dtype loss_dtypes[3] = {MF_F32, MF_F64, MF_BF16};

/* Soft targets, a weight broadcast over rows and a pos_weight over the last
 * dim: all four inputs get gradients, for every reduction. */
Test(cuda_loss, bce_with_logits_matches_the_cpu_with_and_without_weights_for_every_reduction) {
    t_need_cuda();
    for (int k = 0; k < 3; k++) {
        mf_dtype dt = loss_dtypes[k];
        mf_tensor *in[4] = {t_uniform(400, 2, (int64_t[]){5, 6}, dt, -4, 4), t_uniform(401, 2, (int64_t[]){6, 5}, dt, 0, 1),
                            t_uniform(402, 2, (int64_t[]){6, 1}, dt, 0.2, 2), t_uniform(403, 1, (int64_t[]){5}, dt, 0.5, 3)};
        for (int kind = 0; kind < 4; kind++)
            for (int r = 0; r < 3; r++) {
                reg_ctx c = {reductions[r], kind};
                bool g[4] = {true, true, kind & 1, kind & 2};
                char what[64];
                snprintf(what, sizeof what, "bce kind %d reduction %d %s", kind, r, mf_dtype_name(dt));
                t_cuda_compare(what, 4, in, g, op_bce, &c, 4);
            }
        t_release_all(in, 4);
    }
}

static mf_status op_regression(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const reg_ctx *c = ctx;
    mf_tensor *x;
    MF_TRY(mf_transpose(in[0], 0, 1, &x)); /* strided input [4, 7] */
    mf_status st = c->kind ? mf_l1_loss(x, in[1], c->r, out) : mf_mse_loss(x, in[1], c->r, out);
    mf_tensor_release(x);
    return st;
}

/* Same-shape and broadcast targets; gradients reach input and target. */
Test(cuda_loss, mse_and_l1_losses_match_the_cpu_for_every_reduction) {
    t_need_cuda();
    for (int k = 0; k < 3; k++) {
        mf_dtype dt = loss_dtypes[k];
        mf_tensor *x = t_uniform(410, 2, (int64_t[]){7, 4}, dt, -2, 2);
        mf_tensor *targets[2] = {t_uniform(411, 2, (int64_t[]){4, 7}, dt, -2, 2),
                                 t_uniform(412, 2, (int64_t[]){1, 7}, dt, -2, 2)};
        for (int t = 0; t < 2; t++)
            for (int kind = 0; kind < 2; kind++)
                for (int r = 0; r < 3; r++) {
                    reg_ctx c = {reductions[r], kind};
                    mf_tensor *in[2] = {x, targets[t]};
                    bool g[2] = {true, true};
                    char what[64];
                    snprintf(what, sizeof what, "%s target %d reduction %d %s", kind ? "l1" : "mse", t, r,
                             mf_dtype_name(dt));
                    t_cuda_compare(what, 2, in, g, op_regression, &c, 2);
                }
        mf_tensor_release(x);
        t_release_all(targets, 2);
    }
}
