/* linear_gelu (linear, bias and exact GELU with a fused epilogue): PyTorch
 * float64 golden values (tools/fixtures/gen_linear_gelu.py), finite
 * differences, agreement with the unfused mf_gelu(mf_linear(...)), a bias
 * gradient independent of the thread count, bf16 autocast, bad input. */
#include <math.h>
#include <string.h>

#include "medfm/amp.h"
#include "medfm/parallel.h"
#include "tests/core/ops/golden.h"

#define FX "linear_gelu.safetensors"

/* A fresh CPU copy of t without history. */
static mf_tensor *copy_of(const mf_tensor *t) {
    mf_tensor *c;
    MF_OK_OR_FAIL(mf_tensor_empty_like(t, &c));
    MF_OK_OR_FAIL(mf_tensor_copy_(c, t));
    return c;
}

/* in: x, w and (ctx non-NULL) bias */
static mf_status call_fused(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_linear_gelu(in[0], in[1], ctx ? in[2] : NULL, out);
}

static mf_status call_unfused(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    mf_tensor *h;
    MF_TRY(mf_linear(in[0], in[1], ctx ? in[2] : NULL, &h));
    mf_status st = mf_gelu(h, out);
    mf_tensor_release(h);
    return st;
}

/* sum(y * r) backpropagated; r fixed random of y's shape and dtype. */
static void backward_weighted(mf_tensor *y, uint64_t seed) {
    mf_tensor *r = t_uniform(seed, y->ndim, y->shape, y->dtype, -1, 1), *p, *l;
    MF_OK_OR_FAIL(mf_mul(y, r, &p));
    MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
    MF_OK_OR_FAIL(mf_backward(l, NULL, false));
    t_release_all((mf_tensor *[]){r, p, l}, 3);
}

Test(linear_gelu, grads_match_finite_difference_with_and_without_bias_for_2d_and_3d_input) {
    const int64_t xs[2][3] = {{6, 5, 0}, {2, 3, 5}};
    for (int k = 0; k < 2; k++) {
        /* |pre| up to ~4: both tails and the curved middle of GELU */
        mf_tensor *x = t_param(t_uniform(10 + k, k ? 3 : 2, xs[k], MF_F64, -1, 1));
        mf_tensor *w = t_param(t_uniform(20 + k, 2, (int64_t[]){4, 5}, MF_F64, -1.5, 1.5));
        mf_tensor *b = t_param(t_uniform(30 + k, 1, (int64_t[]){4}, MF_F64, -1, 1));
        t_gradcheck("linear_gelu with bias", call_fused, (void *)1, 3, (mf_tensor *[]){x, w, b}, 1e-6, 1e-8, 1e-5);
        t_gradcheck("linear_gelu without bias", call_fused, NULL, 2, (mf_tensor *[]){x, w}, 1e-6, 1e-8, 1e-5);
        t_release_all((mf_tensor *[]){x, w, b}, 3);
    }
}

Test(linear_gelu, bias_alone_gets_its_gradient_when_x_and_w_need_none) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){7, 3}, MF_F64, -1, 1);
    mf_tensor *w = t_uniform(2, 2, (int64_t[]){4, 3}, MF_F64, -1, 1);
    mf_tensor *b = t_param(t_uniform(3, 1, (int64_t[]){4}, MF_F64, -1, 1));
    t_gradcheck("linear_gelu bias only", call_fused, (void *)1, 3, (mf_tensor *[]){x, w, b}, 1e-6, 1e-8, 1e-5);
    cr_assert_null(x->grad);
    cr_assert_null(w->grad);
    t_release_all((mf_tensor *[]){x, w, b}, 3);
}

Test(linear_gelu, matches_torch_float64_forward_and_every_gradient) {
    const char *cases[] = {"bias_2d", "bias_3d", "nobias_2d", "nobias_3d"};
    for (int c = 0; c < 4; c++) {
        bool bias = !strncmp(cases[c], "bias", 4);
        mf_tensor *x = t_param(t_golden_load(FX, cases[c], "x", MF_F64));
        mf_tensor *w = t_param(t_golden_load(FX, cases[c], "w", MF_F64));
        mf_tensor *b = bias ? t_param(t_golden_load(FX, cases[c], "b", MF_F64)) : NULL;
        mf_tensor *y, *g = t_golden_load(FX, cases[c], "g", MF_F64);
        MF_OK_OR_FAIL(mf_linear_gelu(x, w, b, &y));
        mf_tensor *want = t_golden_load(FX, cases[c], "y", MF_F64);
        t_assert_close(y, want, 1e-12, 1e-10, cases[c]);
        MF_OK_OR_FAIL(mf_backward(y, g, false));
        const char *fields[3] = {"gx", "gw", "gb"};
        mf_tensor *params[3] = {x, w, b};
        for (int i = 0; i < (bias ? 3 : 2); i++) {
            mf_tensor *gw = t_golden_load(FX, cases[c], fields[i], MF_F64);
            char what[64];
            snprintf(what, sizeof what, "%s %s", cases[c], fields[i]);
            cr_assert_not_null(params[i]->grad, "%s: no gradient", what);
            t_assert_close(params[i]->grad, gw, 1e-12, 1e-10, what);
            mf_tensor_release(gw);
        }
        t_release_all((mf_tensor *[]){x, w, b, y, g, want}, 6);
    }
}

/* 300 rows: the bias gradient is summed over several row chunks. */
Test(linear_gelu, equals_gelu_of_linear_in_f32_forward_and_backward) {
    for (int bias = 0; bias < 2; bias++) {
        mf_tensor *src[3] = {t_uniform(40, 3, (int64_t[]){3, 100, 24}, MF_F32, -1, 1),
                             t_uniform(41, 2, (int64_t[]){37, 24}, MF_F32, -0.8, 0.8),
                             t_uniform(42, 1, (int64_t[]){37}, MF_F32, -2, 2)};
        mf_tensor *a[3], *u[3], *ya, *yu;
        for (int i = 0; i < 3; i++) {
            a[i] = t_param(copy_of(src[i]));
            u[i] = t_param(copy_of(src[i]));
        }
        void *ctx = bias ? (void *)1 : NULL;
        MF_OK_OR_FAIL(call_fused(ctx, a, &ya));
        MF_OK_OR_FAIL(call_unfused(ctx, u, &yu));
        t_assert_close(ya, yu, 1e-6, 1e-5, "linear_gelu forward vs gelu(linear)");
        backward_weighted(ya, 7);
        backward_weighted(yu, 7);
        const char *names[3] = {"gradient of x", "gradient of w", "gradient of bias"};
        for (int i = 0; i < (bias ? 3 : 2); i++) {
            cr_assert(a[i]->grad && u[i]->grad, "%s missing", names[i]);
            t_assert_close(a[i]->grad, u[i]->grad, 1e-5, 1e-5, names[i]);
        }
        if (!bias)
            cr_assert_null(a[2]->grad, "an unused bias got a gradient");
        t_release_all((mf_tensor *[]){src[0], src[1], src[2], a[0], a[1], a[2], u[0], u[1], u[2], ya, yu}, 11);
    }
}

/* The gradient of a plain sum arrives as a broadcast (stride-0) view. */
Test(linear_gelu, a_broadcast_upstream_gradient_gives_the_unfused_gradients) {
    mf_tensor *src[3] = {t_uniform(70, 2, (int64_t[]){33, 10}, MF_F64, -1, 1),
                         t_uniform(71, 2, (int64_t[]){12, 10}, MF_F64, -1, 1),
                         t_uniform(72, 1, (int64_t[]){12}, MF_F64, -1, 1)};
    mf_tensor *a[3], *u[3], *ys[2], *ls[2];
    for (int i = 0; i < 3; i++) {
        a[i] = t_param(copy_of(src[i]));
        u[i] = t_param(copy_of(src[i]));
    }
    MF_OK_OR_FAIL(call_fused((void *)1, a, &ys[0]));
    MF_OK_OR_FAIL(call_unfused((void *)1, u, &ys[1]));
    for (int k = 0; k < 2; k++) {
        MF_OK_OR_FAIL(mf_sum(ys[k], 0, NULL, false, &ls[k]));
        MF_OK_OR_FAIL(mf_backward(ls[k], NULL, false));
    }
    for (int i = 0; i < 3; i++)
        t_assert_close(a[i]->grad, u[i]->grad, 1e-13, 1e-12, "gradient under a summed output");
    t_release_all((mf_tensor *[]){src[0], src[1], src[2], a[0], a[1], a[2], u[0], u[1], u[2], ys[0], ys[1], ls[0],
                                ls[1]},
                13);
}

/* 2000 rows in 64-row chunks: the summation order is fixed by the shape
 * (the GEMM stays below the size at which it would be split). */
Test(linear_gelu, bias_gradient_is_bitwise_the_same_for_any_thread_count) {
    mf_tensor *x = t_uniform(50, 2, (int64_t[]){2000, 8}, MF_F32, -1, 1);
    mf_tensor *w = t_uniform(51, 2, (int64_t[]){40, 8}, MF_F32, -1, 1);
    mf_tensor *gb[2];
    int threads = mf_num_threads();
    for (int k = 0; k < 2; k++) {
        mf_set_num_threads(k ? 4 : 1);
        mf_tensor *b = t_param(t_uniform(52, 1, (int64_t[]){40}, MF_F32, -1, 1)), *y;
        MF_OK_OR_FAIL(mf_linear_gelu(x, w, b, &y));
        backward_weighted(y, 9);
        gb[k] = mf_tensor_retain(b->grad);
        t_release_all((mf_tensor *[]){b, y}, 2);
    }
    mf_set_num_threads(threads);
    cr_assert_eq(memcmp(mf_tensor_data(gb[0]), mf_tensor_data(gb[1]), 40 * sizeof(float)), 0,
                 "bias gradient differs between 1 and 4 threads");
    t_release_all((mf_tensor *[]){x, w, gb[0], gb[1]}, 4);
}

Test(linear_gelu, an_empty_batch_gives_an_empty_output_and_a_zero_bias_gradient) {
    mf_tensor *x = t_param(t_uniform(1, 2, (int64_t[]){0, 3}, MF_F32, -1, 1));
    mf_tensor *w = t_param(t_uniform(2, 2, (int64_t[]){4, 3}, MF_F32, -1, 1));
    mf_tensor *b = t_param(t_uniform(3, 1, (int64_t[]){4}, MF_F32, -1, 1)), *y;
    MF_OK_OR_FAIL(mf_linear_gelu(x, w, b, &y));
    cr_assert(y->ndim == 2 && y->shape[0] == 0 && y->shape[1] == 4, "%s", MF_SHAPE(y));
    backward_weighted(y, 3);
    cr_assert_not_null(b->grad);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(mf_tensor_get_flat(b->grad, i), 0.0);
    t_release_all((mf_tensor *[]){x, w, b, y}, 4);
}

/* x = [1], w = v (n, 1), zero bias: pre = v exactly, and with rows = 1 the
 * bias gradient is gelu'(v). v spans [-12, 12]: f32 must keep its relative
 * accuracy in the negative tail (gelu(-12) ~ -2e-32), where the 1 + erf
 * form would lose every bit; also the vectorised path (n >= 8). */
Test(linear_gelu, f32_values_and_derivatives_keep_relative_accuracy_in_both_tails) {
    enum { N = 481 };
    mf_tensor *x = t_from(2, (int64_t[]){1, 1}, MF_F32, (double[]){1});
    mf_tensor *w, *b, *y;
    MF_OK_OR_FAIL(mf_tensor_empty(2, (int64_t[]){N, 1}, MF_F32, MF_DEVICE_CPU, &w));
    MF_OK_OR_FAIL(mf_tensor_zeros(1, (int64_t[]){N}, MF_F32, MF_DEVICE_CPU, &b));
    t_param(b);
    for (int i = 0; i < N; i++)
        mf_tensor_set_flat(w, i, -12.0 + 24.0 * i / (N - 1));
    MF_OK_OR_FAIL(mf_linear_gelu(x, w, b, &y));
    mf_tensor *ones;
    MF_OK_OR_FAIL(mf_tensor_full(2, (int64_t[]){1, N}, MF_F32, MF_DEVICE_CPU, 1.0, &ones));
    MF_OK_OR_FAIL(mf_backward(y, ones, false));
    /* erfc(z) moves by 2 z^2 times the relative rounding of z = -v/sqrt 2,
     * ~1e-5 at v = -12 for any float evaluation: that, not 1e-7, bounds
     * it. gelu' = cdf + v pdf crosses zero near v = -0.75, so its error is
     * measured against the size of the two terms. */
    for (int i = 0; i < N; i++) {
        double v = mf_tensor_get_flat(w, i), cdf = 0.5 * erfc(-v / sqrt(2.0));
        double vpdf = v * exp(-0.5 * v * v) / sqrt(2.0 * M_PI);
        double gy = mf_tensor_get_flat(y, i), gd = mf_tensor_get_flat(b->grad, i);
        cr_assert(fabs(gy - v * cdf) <= 3e-5 * fabs(v * cdf), "gelu(%.4f) = %.9g, want %.9g", v, gy, v * cdf);
        cr_assert(fabs(gd - (cdf + vpdf)) <= 3e-5 * (fabs(cdf) + fabs(vpdf)), "gelu'(%.4f) = %.9g, want %.9g", v, gd,
                  cdf + vpdf);
    }
    t_release_all((mf_tensor *[]){x, w, b, y, ones}, 5);
}

Test(linear_gelu, bf16_autocast_gives_a_bf16_output_within_bf16_tolerance_of_f32) {
    mf_tensor *x = t_param(t_uniform(60, 3, (int64_t[]){2, 9, 32}, MF_F32, -1, 1));
    mf_tensor *w = t_param(t_uniform(61, 2, (int64_t[]){20, 32}, MF_F32, -0.5, 0.5));
    mf_tensor *b = t_param(t_uniform(62, 1, (int64_t[]){20}, MF_F32, -1, 1));
    mf_tensor *y32, *y16, *y16f;
    MF_OK_OR_FAIL(mf_linear_gelu(x, w, b, &y32));
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    mf_status st = mf_linear_gelu(x, w, b, &y16);
    MF_OK_OR_FAIL(mf_autocast_exit());
    MF_OK_OR_FAIL(st);
    cr_assert_eq(y16->dtype, MF_BF16, "autocast output is %s", mf_dtype_name(y16->dtype));
    MF_OK_OR_FAIL(mf_to_dtype(y16, MF_F32, &y16f));
    /* inputs and the result each rounded to 8 bits of mantissa */
    t_assert_close(y16f, y32, 2e-2, 2e-2, "bf16 autocast forward");
    /* gradients reach the f32 parameters through the casts, in f32 */
    backward_weighted(y16, 5);
    cr_assert(x->grad && w->grad && b->grad, "missing gradients under autocast");
    cr_assert_eq(b->grad->dtype, MF_F32);
    mf_tensor *gb16 = copy_of(b->grad);
    mf_tensor_release(x->grad), x->grad = NULL;
    mf_tensor_release(w->grad), w->grad = NULL;
    mf_tensor_release(b->grad), b->grad = NULL;
    backward_weighted(y32, 5);
    /* a sum over 18 rows of bf16-rounded terms */
    t_assert_close(gb16, b->grad, 5e-2, 2e-2, "bf16 autocast bias gradient");
    t_release_all((mf_tensor *[]){x, w, b, y32, y16, y16f, gb16}, 7);
}

static void expect_error(mf_status got, mf_status want, const char *needle) {
    cr_assert_eq(got, want, "got %s, want %s: %s", mf_status_name(got), mf_status_name(want), mf_last_error());
    cr_assert(strstr(mf_last_error(), "linear_gelu"), "message does not name linear_gelu: %s", mf_last_error());
    if (needle)
        cr_assert(strstr(mf_last_error(), needle), "message does not name %s: %s", needle, mf_last_error());
}

Test(linear_gelu, bad_inputs_are_rejected_with_messages_naming_the_op_and_shapes) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1);
    mf_tensor *w = t_uniform(2, 2, (int64_t[]){4, 3}, MF_F32, -1, 1);
    mf_tensor *w_in5 = t_uniform(3, 2, (int64_t[]){4, 5}, MF_F32, -1, 1);
    mf_tensor *w64 = t_uniform(4, 2, (int64_t[]){4, 3}, MF_F64, -1, 1);
    mf_tensor *w3d = t_uniform(5, 3, (int64_t[]){1, 4, 3}, MF_F32, -1, 1);
    mf_tensor *b5 = t_uniform(6, 1, (int64_t[]){5}, MF_F32, -1, 1);
    mf_tensor *b64 = t_uniform(7, 1, (int64_t[]){4}, MF_F64, -1, 1);
    mf_tensor *xi;
    MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){2, 3}, MF_I32, MF_DEVICE_CPU, &xi));
    mf_tensor *wi;
    MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){4, 3}, MF_I32, MF_DEVICE_CPU, &wi));
    mf_tensor *y = NULL;
    expect_error(mf_linear_gelu(x, w_in5, NULL, &y), MF_ERR_SHAPE, "[2, 3]");
    cr_assert(strstr(mf_last_error(), "[4, 5]"), "%s", mf_last_error());
    expect_error(mf_linear_gelu(x, w, b5, &y), MF_ERR_SHAPE, "[5]");
    expect_error(mf_linear_gelu(x, w3d, NULL, &y), MF_ERR_SHAPE, NULL);
    expect_error(mf_linear_gelu(x, w64, NULL, &y), MF_ERR_DTYPE, NULL);
    expect_error(mf_linear_gelu(x, w, b64, &y), MF_ERR_DTYPE, NULL);
    expect_error(mf_linear_gelu(xi, wi, NULL, &y), MF_ERR_DTYPE, NULL);
    cr_assert_null(y);
    t_release_all((mf_tensor *[]){x, w, w_in5, w64, w3d, b5, b64, xi, wi}, 9);
}
