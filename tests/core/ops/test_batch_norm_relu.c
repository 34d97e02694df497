/* mf_batch_norm_relu and mf_nn_batch_norm_relu_forward: the fused op gives
 * relu(batch_norm(x)) exactly (outputs, every gradient, running
 * statistics) in f64, f32 and bf16, training and eval, and its gradients
 * match finite differences. */
#include <string.h>

#include "medfm/nn.h"
#include "medfm/ops/norm.h"
#include "tests/support/testing.h"

/* relu(bn(x)) fused or as two ops; the running statistics are updated in
 * place. */
static void forward(bool fused, mf_tensor *x, mf_tensor *rm, mf_tensor *rv, mf_tensor *w, mf_tensor *b, bool training,
                    mf_tensor **y) {
    if (fused) {
        MF_OK_OR_FAIL(mf_batch_norm_relu(x, rm, rv, w, b, training, 0.1, 1e-5, y));
        return;
    }
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5, &t));
    MF_OK_OR_FAIL(mf_relu(t, y));
    mf_tensor_release(t);
}

Test(batch_norm_relu, equals_relu_of_batch_norm_bit_for_bit_in_every_dtype_and_mode) {
    const mf_dtype dts[3] = {MF_F64, MF_F32, MF_BF16};
    int64_t shape[4] = {3, 4, 5, 6}, C = 4;
    for (int d = 0; d < 3; d++)
        for (int tr = 0; tr < 2; tr++) {
            mf_dtype pt = dts[d] == MF_BF16 ? MF_F32 : dts[d];
            mf_tensor *x0 = t_uniform(1, 4, shape, MF_F32, -2, 2), *r = t_uniform(9, 4, shape, dts[d], -1, 1);
            mf_tensor *x[2], *w[2], *b[2], *rm[2], *rv[2], *y[2];
            for (int k = 0; k < 2; k++) {
                mf_tensor *xd;
                MF_OK_OR_FAIL(mf_to_dtype(x0, dts[d], &xd));
                x[k] = t_param(xd);
                w[k] = t_param(t_uniform(2, 1, &C, pt, 0.5, 1.5));
                b[k] = t_param(t_uniform(3, 1, &C, pt, -0.5, 0.5));
                rm[k] = t_uniform(4, 1, &C, pt, -1, 1);
                rv[k] = t_uniform(5, 1, &C, pt, 0.5, 2);
                forward(k == 0, x[k], rm[k], rv[k], w[k], b[k], tr, &y[k]);
                mf_tensor *p, *l;
                MF_OK_OR_FAIL(mf_mul(y[k], r, &p));
                MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
                MF_OK_OR_FAIL(mf_backward(l, NULL, false));
                mf_tensor_release(p), mf_tensor_release(l);
            }
            cr_assert_eq(y[0]->dtype, dts[d]);
            double zeros = 0;
            for (int64_t i = 0; i < mf_tensor_numel(y[0]); i++)
                zeros += mf_tensor_get_flat(y[0], i) == 0;
            cr_assert(zeros > 0 && zeros < mf_tensor_numel(y[0]), "the relu should clip some values, not all");
            t_assert_close(y[0], y[1], 0, 0, "y");
            t_assert_close(x[0]->grad, x[1]->grad, 0, 0, "x gradient");
            t_assert_close(w[0]->grad, w[1]->grad, 0, 0, "weight gradient");
            t_assert_close(b[0]->grad, b[1]->grad, 0, 0, "bias gradient");
            t_assert_close(rm[0], rm[1], 0, 0, "running mean");
            t_assert_close(rv[0], rv[1], 0, 0, "running var");
            mf_tensor *all[] = {x0, r, x[0], x[1], w[0], w[1], b[0], b[1], rm[0], rm[1], rv[0], rv[1], y[0], y[1]};
            t_release_all(all, sizeof all / sizeof *all);
        }
}

static mf_status run_fused(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    (void)ctx;
    return mf_batch_norm_relu(in[0], NULL, NULL, in[1], in[2], true, 0.1, 1e-5, out);
}

Test(batch_norm_relu, gradients_match_finite_differences) {
    int64_t shape[3] = {4, 3, 5}, C = 3;
    mf_tensor *in[3] = {t_param(t_uniform(11, 3, shape, MF_F64, -2, 2)),
                        t_param(t_uniform(12, 1, &C, MF_F64, 0.5, 1.5)),
                        t_param(t_uniform(13, 1, &C, MF_F64, -0.3, 0.3))};
    t_gradcheck("batch_norm_relu", run_fused, NULL, 3, in, 1e-6, 1e-8, 1e-5);
    for (int k = 0; k < 3; k++)
        mf_tensor_release(in[k]);
}

Test(batch_norm_relu, the_module_form_runs_the_batch_norm_module_then_relu) {
    mf_module *bn[2];
    for (int k = 0; k < 2; k++)
        MF_OK_OR_FAIL(mf_nn_batch_norm_new(2, 3, NULL, &bn[k]));
    mf_tensor *x = t_uniform(21, 4, (int64_t[]){2, 3, 4, 4}, MF_F32, -1, 2), *y[2], *t;
    MF_OK_OR_FAIL(mf_nn_batch_norm_relu_forward(bn[0], x, &y[0]));
    MF_OK_OR_FAIL(mf_module_forward(bn[1], x, &t));
    MF_OK_OR_FAIL(mf_relu(t, &y[1]));
    t_assert_close(y[0], y[1], 0, 0, "relu(bn(x))");
    for (int b = 0; b < 3; b++)
        t_assert_close(mf_module_buffer(bn[0], b), mf_module_buffer(bn[1], b), 0, 0, "buffers");
    cr_assert_eq(mf_tensor_get_flat(mf_module_buffer(bn[0], 2), 0), 1.0, "num_batches_tracked counts the step");
    mf_module *seq;
    MF_OK_OR_FAIL(mf_nn_sequential_new(&seq));
    mf_tensor *bad = NULL;
    cr_assert_eq(mf_nn_batch_norm_relu_forward(seq, x, &bad), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "Sequential") && strstr(mf_last_error(), "BatchNorm"), "%s", mf_last_error());
    cr_assert_null(bad);
    mf_module_free(seq);
    mf_tensor_release(t), mf_tensor_release(x), mf_tensor_release(y[0]), mf_tensor_release(y[1]);
    mf_module_free(bn[0]), mf_module_free(bn[1]);
}
