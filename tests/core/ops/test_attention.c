/* Scaled dot-product attention: torch golden values with a learned,
 * broadcast bias and a -inf mask, finite-difference gradients for q, k, v
 * and bias, fully masked rows, f32 against f64, and bad input. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FIX "attention.safetensors"
#define SCALE 0.3

static mf_tensor *fx(const char *prefix, const char *what) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    return t_fixture(FIX, name);
}

static void golden(const char *prefix, bool masked) {
    const char *names[4] = {"q", "k", "v", "bias"};
    mf_tensor *in[4], *bias = NULL, *out;
    for (int i = 0; i < 4; i++)
        in[i] = t_param(fx(prefix, names[i]));
    bias = in[3];
    if (masked) { /* bias (H, Lq, Lk) + mask (B, 1, 1, Lk) -> (B, H, Lq, Lk) */
        mf_tensor *mask = t_fixture(FIX, "mask");
        MF_OK_OR_FAIL(mf_add(in[3], mask, &bias));
        mf_tensor_release(mask);
    }
    MF_OK_OR_FAIL(mf_attention(in[0], in[1], in[2], bias, SCALE, &out));
    mf_tensor *want = fx(prefix, "out"), *w = fx(prefix, "w");
    t_assert_close(out, want, 1e-12, 1e-10, prefix);
    MF_OK_OR_FAIL(mf_backward(out, w, false));
    for (int i = 0; i < 4; i++) {
        char g[32];
        snprintf(g, sizeof g, "grad_%s", names[i]);
        mf_tensor *gw = fx(prefix, g);
        t_assert_close(in[i]->grad, gw, 1e-12, 1e-10, g);
        mf_tensor_release(gw);
    }
    if (bias != in[3])
        mf_tensor_release(bias);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(in[i]);
    mf_tensor_release(out);
    mf_tensor_release(want);
    mf_tensor_release(w);
}

Test(attention, matches_torch_with_a_broadcast_learned_bias) { golden("bias", false); }

Test(attention, matches_torch_with_a_minus_inf_mask_added_to_the_bias) { golden("masked", true); }

static mf_status call_attn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_attention(in[0], in[1], in[2], in[3], *(double *)ctx, out);
}

Test(attention, grads_wrt_q_k_v_and_a_broadcast_bias_match_finite_difference) {
    int64_t B = 2, H = 2, Lq = 3, Lk = 4, D = 3, Dv = 2;
    mf_tensor *in[4] = {t_param(t_uniform(61, 4, (int64_t[]){B, H, Lq, D}, MF_F64, -1, 1)),
                        t_param(t_uniform(62, 4, (int64_t[]){B, H, Lk, D}, MF_F64, -1, 1)),
                        t_param(t_uniform(63, 4, (int64_t[]){B, H, Lk, Dv}, MF_F64, -1, 1)),
                        t_param(t_uniform(64, 3, (int64_t[]){H, 1, Lk}, MF_F64, -1, 1))};
    double scale = 0.7;
    t_gradcheck("attention", call_attn, &scale, 4, in, 1e-6, 1e-8, 1e-6);
    /* full-shape bias and the default scale */
    mf_tensor_release(in[3]);
    in[3] = t_param(t_uniform(65, 4, (int64_t[]){B, H, Lq, Lk}, MF_F64, -1, 1));
    scale = 0;
    t_gradcheck("attention", call_attn, &scale, 4, in, 1e-6, 1e-8, 1e-6);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(in[i]);
}

static mf_status call_attn_nobias(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_attention(in[0], in[1], in[2], NULL, *(double *)ctx, out);
}

Test(attention, grads_match_finite_difference_without_bias_on_strided_inputs) {
    mf_tensor *qb = t_param(t_uniform(71, 4, (int64_t[]){1, 3, 2, 4}, MF_F64, -1, 1));
    mf_tensor *k = t_param(t_uniform(72, 4, (int64_t[]){1, 2, 5, 4}, MF_F64, -1, 1));
    mf_tensor *v = t_param(t_uniform(73, 4, (int64_t[]){1, 2, 5, 3}, MF_F64, -1, 1));
    mf_tensor *in[3] = {qb, k, v};
    /* q as a transposed view (B, H, Lq, D) of a (B, Lq, H, D) tensor */
    mf_tensor *qt;
    MF_OK_OR_FAIL(mf_transpose(qb, 1, 2, &qt));
    mf_tensor *y, *yc, *qc;
    MF_OK_OR_FAIL(mf_attention(qt, k, v, NULL, 0, &y));
    MF_OK_OR_FAIL(mf_contiguous(qt, &qc));
    MF_OK_OR_FAIL(mf_attention(qc, k, v, NULL, 0, &yc));
    t_assert_close(y, yc, 0, 0, "strided q");
    mf_tensor_release(y);
    mf_tensor_release(yc);
    mf_tensor_release(qc);
    mf_tensor_release(qt);
    mf_tensor_release(qb);
    in[0] = t_param(t_uniform(74, 4, (int64_t[]){1, 2, 3, 4}, MF_F64, -1, 1));
    double scale = 0.5;
    t_gradcheck("attention without bias", call_attn_nobias, &scale, 3, in, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(in[0]);
    mf_tensor_release(k);
    mf_tensor_release(v);
}

Test(attention, a_fully_masked_row_gives_zero_output_and_finite_zero_grads) {
    mf_tensor *q = t_param(t_uniform(81, 4, (int64_t[]){1, 1, 2, 3}, MF_F64, -1, 1));
    mf_tensor *k = t_param(t_uniform(82, 4, (int64_t[]){1, 1, 3, 3}, MF_F64, -1, 1));
    mf_tensor *v = t_param(t_uniform(83, 4, (int64_t[]){1, 1, 3, 2}, MF_F64, -1, 1));
    double ninf = -INFINITY;
    mf_tensor *bias = t_param(t_from(2, (int64_t[]){2, 3}, MF_F64, (double[]){0, ninf, 0.5, ninf, ninf, ninf}));
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_attention(q, k, v, bias, 0, &y));
    cr_assert_eq(mf_tensor_get_flat(y, 2), 0.0);
    cr_assert_eq(mf_tensor_get_flat(y, 3), 0.0);
    cr_assert(isfinite(mf_tensor_get_flat(y, 0)));
    mf_tensor *gy = t_uniform(84, 4, (int64_t[]){1, 1, 2, 2}, MF_F64, -1, 1);
    MF_OK_OR_FAIL(mf_backward(y, gy, false));
    mf_tensor_release(gy);
    mf_tensor *ps[4] = {q, k, v, bias};
    for (int i = 0; i < 4; i++)
        for (int64_t e = 0; e < mf_tensor_numel(ps[i]); e++)
            cr_assert(isfinite(mf_tensor_get_flat(ps[i]->grad, e)), "grad %d[%lld] not finite", i, (long long)e);
    /* row 1 of q sees nothing: its gradient is exactly 0; masked bias entries get 0 */
    for (int64_t e = 3; e < 6; e++)
        cr_assert_eq(mf_tensor_get_flat(q->grad, e), 0.0);
    cr_assert_eq(mf_tensor_get_flat(bias->grad, 1), 0.0);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(ps[i]);
    mf_tensor_release(y);
}

Test(attention, f32_matches_f64_forward_and_backward) {
    int64_t qs[4] = {2, 3, 17, 16}, ks[4] = {2, 3, 23, 16}, bs[3] = {3, 17, 23};
    mf_tensor *t64[4], *t32[4], *y[2];
    for (int i = 0; i < 4; i++) {
        const int64_t *s = i == 0 ? qs : i == 3 ? bs : ks;
        int nd = i == 3 ? 3 : 4;
        t64[i] = t_param(t_uniform(90 + i, nd, s, MF_F64, -1, 1));
        t32[i] = t_param(t_uniform(90 + i, nd, s, MF_F32, -1, 1));
    }
    MF_OK_OR_FAIL(mf_attention(t64[0], t64[1], t64[2], t64[3], 0, &y[0]));
    MF_OK_OR_FAIL(mf_attention(t32[0], t32[1], t32[2], t32[3], 0, &y[1]));
    mf_tensor *yd;
    MF_OK_OR_FAIL(mf_to_dtype(y[1], MF_F64, &yd));
    t_assert_close(yd, y[0], 1e-6, 1e-5, "f32 attention");
    mf_tensor *g64 = t_uniform(99, 4, y[0]->shape, MF_F64, -1, 1);
    mf_tensor *g32 = t_uniform(99, 4, y[0]->shape, MF_F32, -1, 1);
    MF_OK_OR_FAIL(mf_backward(y[0], g64, false));
    MF_OK_OR_FAIL(mf_backward(y[1], g32, false));
    for (int i = 0; i < 4; i++) {
        mf_tensor *gd;
        MF_OK_OR_FAIL(mf_to_dtype(t32[i]->grad, MF_F64, &gd));
        t_assert_close(gd, t64[i]->grad, 1e-5, 1e-4, "f32 attention grad");
        mf_tensor_release(gd);
        mf_tensor_release(t64[i]);
        mf_tensor_release(t32[i]);
    }
    mf_tensor_release(yd);
    mf_tensor_release(y[0]);
    mf_tensor_release(y[1]);
    mf_tensor_release(g64);
    mf_tensor_release(g32);
}

Test(attention, head_dim_mismatch_is_a_shape_error_naming_q_and_k) {
    mf_tensor *q = t_uniform(1, 4, (int64_t[]){1, 2, 3, 4}, MF_F32, -1, 1);
    mf_tensor *k = t_uniform(2, 4, (int64_t[]){1, 2, 5, 8}, MF_F32, -1, 1);
    mf_tensor *v = t_uniform(3, 4, (int64_t[]){1, 2, 5, 4}, MF_F32, -1, 1);
    mf_tensor *y = NULL;
    cr_assert_eq(mf_attention(q, k, v, NULL, 0, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "attention") && strstr(mf_last_error(), "[1, 2, 3, 4]") &&
                  strstr(mf_last_error(), "[1, 2, 5, 8]"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(q);
    mf_tensor_release(k);
    mf_tensor_release(v);
}

Test(attention, bias_that_does_not_broadcast_is_a_shape_error) {
    mf_tensor *q = t_uniform(1, 4, (int64_t[]){1, 2, 3, 4}, MF_F32, -1, 1);
    mf_tensor *k = t_uniform(2, 4, (int64_t[]){1, 2, 5, 4}, MF_F32, -1, 1);
    mf_tensor *b = t_uniform(3, 2, (int64_t[]){3, 4}, MF_F32, -1, 1);
    mf_tensor *y = NULL;
    cr_assert_eq(mf_attention(q, k, k, b, 0, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "bias") && strstr(mf_last_error(), "[1, 2, 3, 5]"), "%s", mf_last_error());
    mf_tensor_release(q);
    mf_tensor_release(k);
    mf_tensor_release(b);
}

Test(attention, wrong_rank_or_mixed_dtypes_are_rejected) {
    mf_tensor *q3 = t_uniform(1, 3, (int64_t[]){2, 3, 4}, MF_F32, -1, 1);
    mf_tensor *k = t_uniform(2, 4, (int64_t[]){1, 2, 5, 4}, MF_F32, -1, 1);
    mf_tensor *q64 = t_uniform(1, 4, (int64_t[]){1, 2, 3, 4}, MF_F64, -1, 1);
    mf_tensor *y = NULL;
    cr_assert_eq(mf_attention(q3, k, k, NULL, 0, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "q must have 4 dims"), "%s", mf_last_error());
    cr_assert_eq(mf_attention(q64, k, k, NULL, 0, &y), MF_ERR_DTYPE);
    mf_tensor_release(q3);
    mf_tensor_release(k);
    mf_tensor_release(q64);
}

/* Past OpenBLAS's threading threshold the kernel runs heads in turn; rows
 * of q are independent, so one query row at a time (the pooled path) must
 * give the same output and gradients. */
Test(attention, large_heads_agree_with_one_query_row_at_a_time) {
    int64_t B = 1, H = 2, L = 130, D = 16;
    mf_tensor *q = t_param(t_uniform(101, 4, (int64_t[]){B, H, L, D}, MF_F64, -1, 1));
    mf_tensor *k = t_param(t_uniform(102, 4, (int64_t[]){B, H, L, D}, MF_F64, -1, 1));
    mf_tensor *v = t_param(t_uniform(103, 4, (int64_t[]){B, H, L, D}, MF_F64, -1, 1));
    mf_tensor *w = t_uniform(104, 4, (int64_t[]){B, H, L, D}, MF_F64, -1, 1);
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_attention(q, k, v, NULL, 0, &y));
    MF_OK_OR_FAIL(mf_backward(y, w, false));
    mf_tensor *g_big[3] = {q->grad, k->grad, v->grad};
    q->grad = k->grad = v->grad = NULL;
    for (int64_t i = 0; i < L; i++) {
        mf_tensor *qi, *wi, *yi;
        MF_OK_OR_FAIL(mf_slice(q, 2, i, i + 1, 1, &qi));
        MF_OK_OR_FAIL(mf_slice(w, 2, i, i + 1, 1, &wi));
        MF_OK_OR_FAIL(mf_attention(qi, k, v, NULL, 0, &yi));
        mf_tensor *ys;
        MF_OK_OR_FAIL(mf_slice(y, 2, i, i + 1, 1, &ys));
        t_assert_close(yi, ys, 1e-13, 1e-12, "row output");
        MF_OK_OR_FAIL(mf_backward(yi, wi, false));
        mf_tensor_release(qi);
        mf_tensor_release(wi);
        mf_tensor_release(yi);
        mf_tensor_release(ys);
    }
    t_assert_close(q->grad, g_big[0], 1e-12, 1e-10, "grad q");
    t_assert_close(k->grad, g_big[1], 1e-12, 1e-10, "grad k");
    t_assert_close(v->grad, g_big[2], 1e-12, 1e-10, "grad v");
    for (int i = 0; i < 3; i++)
        mf_tensor_release(g_big[i]);
    mf_tensor *all[] = {q, k, v, w, y};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        mf_tensor_release(all[i]);
}
