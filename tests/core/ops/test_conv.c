/* Convolutions: torch float64 golden values (forward and all gradients),
 * a naive reference across the kernel's code paths, finite-difference
 * gradients, f32/f64 agreement and bad input. */
#include <stdio.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

typedef struct {
    bool transposed;
    mf_conv_params p;
    bool no_bias; /* inputs are x, w only */
} conv_case;

static mf_status call_conv(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    const conv_case *c = ctx;
    mf_tensor *b = c->no_bias ? NULL : in[2];
    return c->transposed ? mf_conv_transpose(in[0], in[1], b, &c->p, out) : mf_conv(in[0], in[1], b, &c->p, out);
}

static mf_conv_params params(int nsp, const int64_t *s, const int64_t *p, const int64_t *d, const int64_t *op,
                             int64_t groups) {
    mf_conv_params r = mf_conv_params_default();
    for (int i = 0; i < nsp; i++) {
        r.stride[i] = s ? s[i] : 1;
        r.padding[i] = p ? p[i] : 0;
        r.dilation[i] = d ? d[i] : 1;
        r.output_padding[i] = op ? op[i] : 0;
    }
    r.groups = groups;
    return r;
}

static mf_tensor *fx(const char *c, const char *what) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", c, what);
    return t_fixture("conv.safetensors", name);
}

static int64_t fx_int(const char *c, const char *what, int i) {
    mf_tensor *t = fx(c, what);
    int64_t v = (int64_t)mf_tensor_get_flat(t, i);
    mf_tensor_release(t);
    return v;
}

Test(conv, forward_and_gradients_match_torch_float64_golden_values) {
    const char *cases[] = {"c1", "c2", "c3", "t1", "t2", "t3"};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *c = cases[k];
        mf_tensor *x = t_param(fx(c, "x")), *w = t_param(fx(c, "w")), *b = t_param(fx(c, "b"));
        mf_tensor *gy = fx(c, "gy"), *y_want = fx(c, "y"), *gx = fx(c, "gx"), *gw = fx(c, "gw"), *gb = fx(c, "gb");
        int nsp = x->ndim - 2;
        conv_case cc = {.transposed = fx_int(c, "transposed", 0) != 0, .p = mf_conv_params_default()};
        for (int i = 0; i < nsp; i++) {
            cc.p.stride[i] = fx_int(c, "stride", i);
            cc.p.padding[i] = fx_int(c, "padding", i);
            cc.p.dilation[i] = fx_int(c, "dilation", i);
            cc.p.output_padding[i] = fx_int(c, "output_padding", i);
        }
        cc.p.groups = fx_int(c, "groups", 0);
        mf_tensor *y;
        MF_OK_OR_FAIL(call_conv(&cc, (mf_tensor *[]){x, w, b}, &y));
        t_assert_close(y, y_want, 1e-12, 1e-10, c);
        MF_OK_OR_FAIL(mf_backward(y, gy, false));
        t_assert_close(x->grad, gx, 1e-12, 1e-10, c);
        t_assert_close(w->grad, gw, 1e-12, 1e-10, c);
        t_assert_close(b->grad, gb, 1e-12, 1e-10, c);
        mf_tensor *all[] = {x, w, b, gy, y_want, gx, gw, gb, y};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            mf_tensor_release(all[i]);
    }
}

/* Direct-loop conv (any rank 1-3) in f64: the obviously-correct reference. */
static mf_tensor *naive_conv(const mf_tensor *x, const mf_tensor *w, const mf_tensor *b, const mf_conv_params *p) {
    int nsp = x->ndim - 2;
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, out[3] = {1, 1, 1}, s[3] = {1, 1, 1}, pd[3] = {0}, d[3] = {1, 1, 1};
    for (int i = 0; i < nsp; i++) {
        int j = 3 - nsp + i;
        in[j] = x->shape[2 + i], k[j] = w->shape[2 + i];
        s[j] = p->stride[i], pd[j] = p->padding[i], d[j] = p->dilation[i];
        out[j] = (in[j] + 2 * pd[j] - d[j] * (k[j] - 1) - 1) / s[j] + 1;
    }
    int64_t N = x->shape[0], C = x->shape[1], O = w->shape[0], G = p->groups, cg = C / G, og = O / G;
    int64_t shape[5] = {N, O};
    for (int i = 0; i < nsp; i++)
        shape[2 + i] = out[3 - nsp + i];
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_tensor_zeros(nsp + 2, shape, MF_F64, MF_DEVICE_CPU, &y));
    int64_t P = out[0] * out[1] * out[2];
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t q = 0; q < P; q++) {
                int64_t o0 = q / (out[1] * out[2]), o1 = q / out[2] % out[1], o2 = q % out[2];
                double acc = b ? mf_tensor_get_flat(b, o) : 0;
                int64_t gi = o / og;
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t a = 0; a < k[0]; a++)
                        for (int64_t e = 0; e < k[1]; e++)
                            for (int64_t f = 0; f < k[2]; f++) {
                                int64_t i0 = o0 * s[0] - pd[0] + a * d[0], i1 = o1 * s[1] - pd[1] + e * d[1],
                                        i2 = o2 * s[2] - pd[2] + f * d[2];
                                if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                                    continue;
                                int64_t xi = (((n * C + gi * cg + c) * in[0] + i0) * in[1] + i1) * in[2] + i2;
                                int64_t wi = (((o * cg + c) * k[0] + a) * k[1] + e) * k[2] + f;
                                acc += mf_tensor_get_flat(x, xi) * mf_tensor_get_flat(w, wi);
                            }
                mf_tensor_set_flat(y, (n * O + o) * P + q, acc);
            }
    return y;
}

Test(conv, matches_naive_reference_on_direct_packed_and_im2col_paths) {
    struct {
        int nsp;
        int64_t x[5], w[5];
        int64_t s[3], p[3], d[3], groups;
    } cs[] = {
        {2, {2, 8, 5, 5}, {6, 8, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 1},    /* 1x1: plain GEMM per image */
        {2, {5, 8, 3, 3}, {6, 4, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 2},    /* 1x1, images packed */
        {2, {6, 3, 4, 5}, {4, 3, 3, 3}, {1, 2}, {1, 1}, {1, 1}, 1},    /* packed im2col */
        {2, {1, 4, 9, 8}, {6, 2, 3, 2}, {2, 1}, {2, 0}, {2, 3}, 2},    /* single image */
        {1, {7, 4, 11}, {4, 4, 3}, {3}, {2}, {2}, 1},
        {3, {3, 2, 4, 5, 3}, {4, 2, 2, 3, 1}, {1, 2, 1}, {1, 0, 1}, {1, 1, 1}, 1},
        {2, {2, 4, 6, 6}, {8, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 4},    /* depthwise-style */
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        int nd = cs[i].nsp + 2;
        mf_tensor *x = t_uniform(10 + i, nd, cs[i].x, MF_F64, -1, 1), *w = t_uniform(20 + i, nd, cs[i].w, MF_F64, -1, 1);
        mf_tensor *b = t_uniform(30 + i, 1, cs[i].w, MF_F64, -1, 1);
        mf_conv_params p = params(cs[i].nsp, cs[i].s, cs[i].p, cs[i].d, NULL, cs[i].groups);
        mf_tensor *y, *want = naive_conv(x, w, b, &p);
        MF_OK_OR_FAIL(mf_conv(x, w, b, &p, &y));
        t_assert_close(y, want, 1e-12, 1e-10, "conv vs naive");
        mf_tensor *all[] = {x, w, b, y, want};
        for (size_t j = 0; j < 5; j++)
            mf_tensor_release(all[j]);
    }
}

static void gradcheck_case(const char *what, bool tr, int nsp, const int64_t *xs, const int64_t *ws, bool bias,
                           mf_conv_params p, uint64_t seed) {
    int nd = nsp + 2;
    int64_t cb = tr ? ws[1] * p.groups : ws[0];
    mf_tensor *x = t_param(t_uniform(seed, nd, xs, MF_F64, -1, 1));
    mf_tensor *w = t_param(t_uniform(seed + 1, nd, ws, MF_F64, -1, 1));
    mf_tensor *b = bias ? t_param(t_uniform(seed + 2, 1, &cb, MF_F64, -1, 1)) : NULL;
    conv_case c = {tr, p, !bias};
    t_gradcheck(what, call_conv, &c, bias ? 3 : 2, (mf_tensor *[]){x, w, b}, 1e-6, 1e-7, 1e-5);
    mf_tensor_release(x);
    mf_tensor_release(w);
    mf_tensor_release(b);
}

Test(conv, conv1d_2d_3d_grads_match_finite_difference) {
    gradcheck_case("conv1d", false, 1, (int64_t[]){2, 4, 7}, (int64_t[]){6, 2, 3}, true,
                   params(1, (int64_t[]){2}, (int64_t[]){1}, (int64_t[]){2}, NULL, 2), 1);
    gradcheck_case("conv2d", false, 2, (int64_t[]){2, 3, 5, 6}, (int64_t[]){4, 3, 3, 2}, true,
                   params(2, (int64_t[]){1, 2}, (int64_t[]){1, 0}, (int64_t[]){1, 2}, NULL, 1), 2);
    gradcheck_case("conv2d packed", false, 2, (int64_t[]){5, 2, 3, 3}, (int64_t[]){3, 2, 2, 2}, false,
                   params(2, NULL, (int64_t[]){1, 1}, NULL, NULL, 1), 3);
    gradcheck_case("conv2d 1x1", false, 2, (int64_t[]){2, 4, 3, 3}, (int64_t[]){2, 2, 1, 1}, true,
                   params(2, NULL, NULL, NULL, NULL, 2), 4);
    gradcheck_case("conv3d", false, 3, (int64_t[]){1, 2, 3, 4, 3}, (int64_t[]){2, 2, 2, 2, 2}, true,
                   params(3, (int64_t[]){1, 2, 1}, (int64_t[]){0, 1, 1}, (int64_t[]){1, 1, 2}, NULL, 1), 5);
}

Test(conv, transposed_grads_match_finite_difference_with_output_padding) {
    gradcheck_case("convT1d", true, 1, (int64_t[]){2, 4, 4}, (int64_t[]){4, 3, 3}, true,
                   params(1, (int64_t[]){2}, (int64_t[]){1}, NULL, (int64_t[]){1}, 2), 11);
    gradcheck_case("convT2d", true, 2, (int64_t[]){2, 3, 3, 2}, (int64_t[]){3, 2, 3, 2}, true,
                   params(2, (int64_t[]){2, 1}, (int64_t[]){1, 0}, (int64_t[]){1, 2}, (int64_t[]){1, 1}, 1), 12);
    gradcheck_case("convT2d packed", true, 2, (int64_t[]){5, 2, 2, 2}, (int64_t[]){2, 2, 2, 2}, false,
                   params(2, (int64_t[]){2, 2}, NULL, NULL, NULL, 1), 13);
    gradcheck_case("convT3d", true, 3, (int64_t[]){1, 2, 2, 3, 2}, (int64_t[]){2, 2, 2, 2, 2}, true,
                   params(3, (int64_t[]){2, 1, 2}, (int64_t[]){0, 1, 0}, NULL, (int64_t[]){1, 0, 0}, 1), 14);
}

/* Runs the conv with x, w as leaves and returns y, x.grad, w.grad as f64. */
static void run_with_grads(const conv_case *c, mf_tensor *x, mf_tensor *w, const mf_tensor *gy64, mf_tensor **res) {
    MF_OK_OR_FAIL(mf_tensor_set_requires_grad(x, true));
    MF_OK_OR_FAIL(mf_tensor_set_requires_grad(w, true));
    mf_tensor *y, *gy;
    MF_OK_OR_FAIL(call_conv((void *)c, (mf_tensor *[]){x, w, NULL}, &y));
    MF_OK_OR_FAIL(mf_to_dtype(gy64, x->dtype, &gy));
    MF_OK_OR_FAIL(mf_backward(y, gy, false));
    MF_OK_OR_FAIL(mf_to_dtype(y, MF_F64, &res[0]));
    MF_OK_OR_FAIL(mf_to_dtype(x->grad, MF_F64, &res[1]));
    MF_OK_OR_FAIL(mf_to_dtype(w->grad, MF_F64, &res[2]));
    mf_tensor_release(y);
    mf_tensor_release(gy);
}

Test(conv, f32_agrees_with_f64_forward_and_backward) {
    for (int tr = 0; tr < 2; tr++) {
        for (int big = 0; big < 2; big++) { /* small: images packed; big: one image per GEMM */
            int64_t hw = big ? 24 : 7;
            int64_t xs[4] = {4, 6, hw, hw}, ws[4] = {6, 3, 3, 3};
            mf_conv_params p = params(2, (int64_t[]){2, 2}, (int64_t[]){1, 1}, NULL, tr ? (int64_t[]){1, 1} : NULL, 2);
            mf_tensor *x64 = t_uniform(40, 4, xs, MF_F64, -1, 1), *w64 = t_uniform(41, 4, ws, MF_F64, -1, 1);
            mf_tensor *x32, *w32;
            MF_OK_OR_FAIL(mf_to_dtype(x64, MF_F32, &x32));
            MF_OK_OR_FAIL(mf_to_dtype(w64, MF_F32, &w32));
            conv_case c = {tr, p, true};
            mf_tensor *y;
            MF_OK_OR_FAIL(call_conv(&c, (mf_tensor *[]){x64, w64, NULL}, &y));
            mf_tensor *gy = t_uniform(42, y->ndim, y->shape, MF_F64, -1, 1);
            mf_tensor *r64[3], *r32[3];
            run_with_grads(&c, x64, w64, gy, r64);
            run_with_grads(&c, x32, w32, gy, r32);
            const char *what[3] = {"y", "grad x", "grad w"};
            for (int i = 0; i < 3; i++) {
                t_assert_close(r32[i], r64[i], 1e-4, 1e-4, what[i]);
                mf_tensor_release(r32[i]);
                mf_tensor_release(r64[i]);
            }
            mf_tensor *all[] = {x64, w64, x32, w32, y, gy};
            for (size_t i = 0; i < 6; i++)
                mf_tensor_release(all[i]);
        }
    }
}

static mf_status try_conv(bool tr, int nx, const int64_t *xs, mf_dtype xdt, int nw, const int64_t *ws, mf_dtype wdt,
                          const mf_conv_params *p) {
    mf_tensor *x = t_uniform(1, nx, xs, xdt, -1, 1), *w = t_uniform(2, nw, ws, wdt, -1, 1), *y = NULL;
    mf_status st = tr ? mf_conv_transpose(x, w, NULL, p, &y) : mf_conv(x, w, NULL, p, &y);
    cr_assert(st != MF_OK || y, "no output");
    if (st != MF_OK)
        cr_assert_null(y);
    mf_tensor_release(x);
    mf_tensor_release(w);
    mf_tensor_release(y);
    return st;
}

static void expect_error(mf_status got, mf_status want, const char *op) {
    cr_assert_eq(got, want, "got %s, want %s: %s", mf_status_name(got), mf_status_name(want), mf_last_error());
    cr_assert(strstr(mf_last_error(), op), "message does not name %s: %s", op, mf_last_error());
}

Test(conv, channel_mismatch_is_a_shape_error_naming_both_shapes) {
    mf_conv_params p = mf_conv_params_default();
    expect_error(try_conv(false, 4, (int64_t[]){1, 3, 5, 5}, MF_F32, 4, (int64_t[]){2, 4, 3, 3}, MF_F32, &p),
                 MF_ERR_SHAPE, "conv");
    cr_assert(strstr(mf_last_error(), "[1, 3, 5, 5]") && strstr(mf_last_error(), "[2, 4, 3, 3]"), "%s",
              mf_last_error());
    expect_error(try_conv(true, 4, (int64_t[]){1, 3, 5, 5}, MF_F32, 4, (int64_t[]){4, 2, 3, 3}, MF_F32, &p),
                 MF_ERR_SHAPE, "conv_transpose");
}

Test(conv, groups_that_do_not_divide_channels_are_rejected) {
    mf_conv_params p = mf_conv_params_default();
    p.groups = 2;
    expect_error(try_conv(false, 4, (int64_t[]){1, 3, 5, 5}, MF_F32, 4, (int64_t[]){2, 1, 3, 3}, MF_F32, &p),
                 MF_ERR_SHAPE, "groups");
    p.groups = 0;
    expect_error(try_conv(false, 4, (int64_t[]){1, 4, 5, 5}, MF_F32, 4, (int64_t[]){2, 4, 3, 3}, MF_F32, &p),
                 MF_ERR_INVALID, "conv");
}

Test(conv, kernel_larger_than_padded_input_is_a_shape_error) {
    mf_conv_params p = mf_conv_params_default();
    p.padding[0] = p.padding[1] = 1;
    expect_error(try_conv(false, 4, (int64_t[]){1, 2, 3, 3}, MF_F32, 4, (int64_t[]){2, 2, 6, 3}, MF_F32, &p),
                 MF_ERR_SHAPE, "larger than padded input");
    p = mf_conv_params_default();
    p.dilation[0] = 3;
    expect_error(try_conv(false, 3, (int64_t[]){1, 2, 6}, MF_F32, 3, (int64_t[]){2, 2, 3}, MF_F32, &p),
                 MF_ERR_SHAPE, "conv");
}

Test(conv, wrong_ranks_dtype_mismatch_and_bad_output_padding_are_rejected) {
    mf_conv_params p = mf_conv_params_default();
    expect_error(try_conv(false, 2, (int64_t[]){3, 5}, MF_F32, 2, (int64_t[]){2, 3}, MF_F32, &p), MF_ERR_SHAPE,
                 "conv");
    expect_error(try_conv(false, 4, (int64_t[]){1, 2, 5, 5}, MF_F32, 3, (int64_t[]){2, 2, 3}, MF_F32, &p),
                 MF_ERR_SHAPE, "conv");
    expect_error(try_conv(false, 4, (int64_t[]){1, 2, 5, 5}, MF_F32, 4, (int64_t[]){2, 2, 3, 3}, MF_F64, &p),
                 MF_ERR_DTYPE, "conv");
    p.output_padding[0] = 1; /* stride 1, dilation 1: output_padding must be 0 */
    expect_error(try_conv(true, 4, (int64_t[]){1, 2, 5, 5}, MF_F32, 4, (int64_t[]){2, 2, 3, 3}, MF_F32, &p),
                 MF_ERR_INVALID, "output_padding");
}

Test(conv, bias_of_the_wrong_length_is_rejected) {
    mf_conv_params p = mf_conv_params_default();
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){1, 2, 5}, MF_F32, -1, 1), *w = t_uniform(2, 3, (int64_t[]){3, 2, 2}, MF_F32, -1, 1);
    mf_tensor *b = t_uniform(3, 1, (int64_t[]){2}, MF_F32, -1, 1), *y = NULL;
    expect_error(mf_conv(x, w, b, &p, &y), MF_ERR_SHAPE, "bias");
    mf_tensor_release(x);
    mf_tensor_release(w);
    mf_tensor_release(b);
}

static void conv_weight_grad(int threads, mf_tensor **gw) {
    mf_set_num_threads(threads);
    mf_tensor *x = t_uniform(5, 4, (int64_t[]){16, 8, 20, 20}, MF_F32, -1, 1);
    mf_tensor *w = t_param(t_uniform(6, 4, (int64_t[]){4, 8, 3, 3}, MF_F32, -1, 1));
    mf_conv_params p = mf_conv_params_default();
    p.padding[0] = p.padding[1] = 1;
    mf_tensor *y, *s;
    MF_OK_OR_FAIL(mf_conv(x, w, NULL, &p, &y));
    MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    *gw = mf_tensor_retain(w->grad);
    mf_tensor_release(x);
    mf_tensor_release(w);
    mf_tensor_release(y);
    mf_tensor_release(s);
}

Test(conv, weight_gradient_is_bit_identical_for_any_thread_count) {
    mf_tensor *a, *b, *c;
    conv_weight_grad(1, &a);
    conv_weight_grad(2, &b);
    conv_weight_grad(3, &c);
    cr_assert_eq(memcmp(mf_tensor_data(a), mf_tensor_data(b), mf_tensor_nbytes(a)), 0, "1 vs 2 threads");
    cr_assert_eq(memcmp(mf_tensor_data(a), mf_tensor_data(c), mf_tensor_nbytes(a)), 0, "1 vs 3 threads");
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(c);
}
