/* CPU bf16/f16 kernels: matmul, conv, attention and pooling run the f32
 * kernels on f32 copies and round once, so each equals the f32 op on the
 * rounded inputs, rounded; forward and gradients. Elementwise ops and
 * dropout also accept bf16. */
#include <string.h>

#include "tests/support/testing.h"

static mf_tensor *cast(const mf_tensor *x, mf_dtype dt) {
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_to_dtype(x, dt, &y));
    return y;
}

/* A bf16/f16 leaf and its f32 twin holding the same (rounded) values. */
static void pair(uint64_t seed, int ndim, const int64_t *shape, mf_dtype dt, mf_tensor **lo, mf_tensor **f32) {
    mf_tensor *x = t_uniform(seed, ndim, shape, MF_F32, -1, 1);
    *lo = cast(x, dt);
    *f32 = t_param(cast(*lo, MF_F32));
    t_param(*lo);
    mf_tensor_release(x);
}

/* lo (low dtype) equals f32 rounded to the low dtype. */
static void expect_rounded_close(const mf_tensor *lo, const mf_tensor *f32, double tol, const char *what) {
    cr_assert_eq(lo->dtype == MF_BF16 || lo->dtype == MF_F16, true, "%s: dtype %s", what, mf_dtype_name(lo->dtype));
    mf_tensor *r = cast(f32, lo->dtype), *a = cast(lo, MF_F32), *b = cast(r, MF_F32);
    t_assert_close(a, b, tol, tol, what);
    mf_tensor_release(r);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

typedef mf_status (*op2)(mf_tensor *const *in, mf_tensor **out);

static void expect_rounded_equal(const mf_tensor *lo, const mf_tensor *f32, const char *what) {
    expect_rounded_close(lo, f32, 0, what);
}

/* Runs op on the low and the f32 inputs, checks the output and each input
 * gradient for one upstream gradient (equal, or within gtol where the
 * backward reuses a rounded intermediate). */
static void check_tol(const char *what, mf_dtype dt, op2 op, int n, const int64_t (*shapes)[5], const int *ndims,
                      double gtol) {
    mf_tensor *lo[4], *hi[4], *ylo, *yhi;
    for (int i = 0; i < n; i++)
        pair(10 + (uint64_t)i, ndims[i], shapes[i], dt, &lo[i], &hi[i]);
    MF_OK_OR_FAIL(op(lo, &ylo));
    MF_OK_OR_FAIL(op(hi, &yhi));
    expect_rounded_equal(ylo, yhi, what);
    /* the same upstream gradient (exact in the low dtype) for both */
    mf_tensor *w = t_uniform(99, ylo->ndim, ylo->shape, MF_F32, -1, 1), *wlo = cast(w, dt), *whi = cast(wlo, MF_F32);
    MF_OK_OR_FAIL(mf_backward(ylo, wlo, false));
    MF_OK_OR_FAIL(mf_backward(yhi, whi, false));
    for (int i = 0; i < n; i++) {
        cr_assert(lo[i]->grad && hi[i]->grad, "%s: input %d has no gradient", what, i);
        cr_expect_eq(lo[i]->grad->dtype, dt);
        expect_rounded_close(lo[i]->grad, hi[i]->grad, gtol, what);
        mf_tensor_release(lo[i]);
        mf_tensor_release(hi[i]);
    }
    mf_tensor *ts[] = {ylo, yhi, w, wlo, whi};
    for (int i = 0; i < 5; i++)
        mf_tensor_release(ts[i]);
}

static void check(const char *what, mf_dtype dt, op2 op, int n, const int64_t (*shapes)[5], const int *ndims) {
    check_tol(what, dt, op, n, shapes, ndims, 0);
}

static mf_status do_matmul(mf_tensor *const *in, mf_tensor **out) { return mf_matmul(in[0], in[1], out); }
static mf_status do_bmm_t(mf_tensor *const *in, mf_tensor **out) { return mf_bmm(in[0], in[1], false, true, out); }
static mf_status do_conv(mf_tensor *const *in, mf_tensor **out) {
    mf_conv_params p = mf_conv_params_default();
    p.padding[0] = p.padding[1] = 1;
    p.stride[0] = p.stride[1] = 2;
    return mf_conv(in[0], in[1], in[2], &p, out);
}
static mf_status do_convt3(mf_tensor *const *in, mf_tensor **out) {
    mf_conv_params p = mf_conv_params_default();
    return mf_conv_transpose(in[0], in[1], in[2], &p, out);
}
static mf_status do_attention(mf_tensor *const *in, mf_tensor **out) {
    return mf_attention(in[0], in[1], in[2], NULL, 0, out);
}
static mf_status do_attention_bias(mf_tensor *const *in, mf_tensor **out) {
    return mf_attention(in[0], in[1], in[2], in[3], 0, out);
}
static mf_status do_maxpool(mf_tensor *const *in, mf_tensor **out) {
    mf_pool_params p = {.kernel = {2, 2}, .stride = {2, 2}};
    return mf_max_pool(in[0], &p, out);
}
static mf_status do_avgpool(mf_tensor *const *in, mf_tensor **out) {
    mf_pool_params p = {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}, .count_include_pad = true};
    return mf_avg_pool(in[0], &p, out);
}
static mf_status do_adaptive(mf_tensor *const *in, mf_tensor **out) {
    return mf_adaptive_avg_pool(in[0], (int64_t[]){1, 1}, out);
}

Test(cpu_lowp, bf16_matmul_is_the_rounded_f32_product_forward_and_backward) {
    check("matmul", MF_BF16, do_matmul, 2, (const int64_t[][5]){{3, 7, 5}, {5, 4}}, (int[]){3, 2});
}

Test(cpu_lowp, f16_bmm_with_a_transposed_operand_is_the_rounded_f32_product) {
    check("bmm", MF_F16, do_bmm_t, 2, (const int64_t[][5]){{2, 3, 6}, {2, 4, 6}}, (int[]){3, 3});
}

Test(cpu_lowp, bf16_conv2d_is_the_rounded_f32_conv_forward_and_backward) {
    check("conv2d", MF_BF16, do_conv, 3, (const int64_t[][5]){{2, 3, 7, 7}, {4, 3, 3, 3}, {4}}, (int[]){4, 4, 1});
}

Test(cpu_lowp, bf16_conv_transpose3d_is_the_rounded_f32_one) {
    check("conv_transpose3d", MF_BF16, do_convt3, 3, (const int64_t[][5]){{1, 2, 3, 3, 3}, {2, 3, 2, 2, 2}, {3}},
          (int[]){5, 5, 1});
}

/* The backward reads the probabilities saved in bf16, so its gradients
 * agree to bf16 precision rather than exactly. */
Test(cpu_lowp, bf16_attention_is_the_rounded_f32_attention) {
    check_tol("attention", MF_BF16, do_attention, 3,
              (const int64_t[][5]){{1, 2, 5, 4}, {1, 2, 6, 4}, {1, 2, 6, 3}}, (int[]){4, 4, 4}, 1e-2);
}

/* With a bias that takes a gradient the backward has nine tensors (five
 * in, four gradients out), all with f32 twins. */
Test(cpu_lowp, bf16_attention_with_a_bias_is_the_rounded_f32_attention) {
    check_tol("attention with bias", MF_BF16, do_attention_bias, 4,
              (const int64_t[][5]){{1, 2, 5, 4}, {1, 2, 6, 4}, {1, 2, 6, 3}, {1, 2, 5, 6}}, (int[]){4, 4, 4, 4}, 1e-2);
}

Test(cpu_lowp, bf16_max_avg_and_adaptive_pooling_match_f32) {
    const int64_t s[][5] = {{2, 3, 6, 6}};
    check("max_pool", MF_BF16, do_maxpool, 1, s, (int[]){4});
    check("avg_pool", MF_BF16, do_avgpool, 1, s, (int[]){4});
    check("adaptive_avg_pool", MF_BF16, do_adaptive, 1, s, (int[]){4});
}

Test(cpu_lowp, elementwise_activations_and_views_work_on_bf16) {
    mf_tensor *x0 = t_uniform(1, 2, (int64_t[]){4, 6}, MF_F32, -2, 2), *x = cast(x0, MF_BF16), *xf = cast(x, MF_F32);
    mf_status (*un[])(const mf_tensor *, mf_tensor **) = {mf_relu, mf_gelu, mf_sigmoid, mf_tanh};
    for (size_t i = 0; i < sizeof un / sizeof un[0]; i++) {
        mf_tensor *y, *yf;
        MF_OK_OR_FAIL(un[i](x, &y));
        MF_OK_OR_FAIL(un[i](xf, &yf));
        expect_rounded_equal(y, yf, "activation");
        mf_tensor_release(y);
        mf_tensor_release(yf);
    }
    mf_tensor *r, *t, *s, *sf;
    MF_OK_OR_FAIL(mf_reshape(x, 2, (int64_t[]){3, 8}, &r));
    MF_OK_OR_FAIL(mf_transpose(r, 0, 1, &t));
    MF_OK_OR_FAIL(mf_mul(t, t, &s));
    cr_expect_eq(s->dtype, MF_BF16);
    mf_tensor *rf, *tf;
    MF_OK_OR_FAIL(mf_reshape(xf, 2, (int64_t[]){3, 8}, &rf));
    MF_OK_OR_FAIL(mf_transpose(rf, 0, 1, &tf));
    MF_OK_OR_FAIL(mf_mul(tf, tf, &sf));
    expect_rounded_equal(s, sf, "mul of transposed views");
    mf_tensor *ts[] = {x0, x, xf, r, t, s, rf, tf, sf};
    for (int i = 0; i < 9; i++)
        mf_tensor_release(ts[i]);
}

Test(cpu_lowp, dropout_on_bf16_keeps_the_dtype_and_zeroes_or_scales) {
    mf_tensor *x;
    MF_OK_OR_FAIL(mf_tensor_full(1, (int64_t[]){1000}, MF_BF16, MF_DEVICE_CPU, 1.0, &x));
    mf_rng rng;
    mf_rng_init(&rng, 7);
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_dropout(x, 0.5, true, &rng, &y));
    cr_expect_eq(y->dtype, MF_BF16);
    int zeros = 0;
    for (int i = 0; i < 1000; i++) {
        double v = mf_tensor_get_flat(y, i);
        cr_assert(v == 0.0 || v == 2.0, "element %d is %g", i, v);
        zeros += v == 0.0;
    }
    cr_expect(zeros > 400 && zeros < 600, "%d zeros of 1000", zeros);
    mf_tensor_release(x);
    mf_tensor_release(y);
}
