/* CUDA attention (cuBLAS products, fused softmax rows) against the CPU
 * backend: forward and the gradients of q, k, v and a broadcast bias,
 * including a fully masked row; bf16/f16 through f32 copies. The fused
 * kernels (MEDFM_CUDA_ATTENTION=flash, set inside each test: a test runs
 * in its own process) against the CPU and against the gemm kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/graph.h"
#include "medfm/ops/attention.h"
#include "tests/core/backend/cuda_compare.h"

static mf_status op_attn(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    return mf_attention(in[0], in[1], in[2], in[3], 0, out);
}

Test(cuda_attention, attention_and_its_gradients_match_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    bool g[4] = {true, true, true, true};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        mf_tensor *in[4] = {
            t_uniform(1, 4, (int64_t[]){2, 3, 7, 8}, dt, -1, 1), t_uniform(2, 4, (int64_t[]){2, 3, 9, 8}, dt, -1, 1),
            t_uniform(3, 4, (int64_t[]){2, 3, 9, 5}, dt, -1, 1), t_uniform(4, 4, (int64_t[]){1, 3, 7, 9}, dt, -1, 1)};
        t_cuda_compare("attention with bias", 4, in, g, op_attn, NULL, 8);
        mf_tensor *nb[4] = {in[0], in[1], in[2], NULL};
        t_cuda_compare("attention", 4, nb, g, op_attn, NULL, 8);
        for (int i = 0; i < 4; i++)
            mf_tensor_release(in[i]);
    }
}

Test(cuda_attention, a_fully_masked_row_gives_zeros_like_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    double bias[4 * 5];
    for (int i = 0; i < 20; i++)
        bias[i] = i < 5 ? -INFINITY : (i % 3 == 0 ? -INFINITY : 0.0);
    mf_tensor *in[4] = {t_uniform(1, 4, (int64_t[]){1, 1, 4, 6}, MF_F32, -1, 1),
                        t_uniform(2, 4, (int64_t[]){1, 1, 5, 6}, MF_F32, -1, 1),
                        t_uniform(3, 4, (int64_t[]){1, 1, 5, 3}, MF_F32, -1, 1),
                        t_from(4, (int64_t[]){1, 1, 4, 5}, MF_F32, bias)};
    bool g[4] = {true, true, true, false};
    t_cuda_compare("masked attention", 4, in, g, op_attn, NULL, 8);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(in[i]);
}

/* bf16/f16 run the f32 path on f32 copies on both backends and round once. */
Test(cuda_attention, bf16_and_f16_attention_match_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    bool g[4] = {true, true, true, true};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F16 : MF_BF16;
        mf_tensor *in[4] = {
            t_uniform(1, 4, (int64_t[]){2, 3, 7, 8}, dt, -1, 1), t_uniform(2, 4, (int64_t[]){2, 3, 9, 8}, dt, -1, 1),
            t_uniform(3, 4, (int64_t[]){2, 3, 9, 5}, dt, -1, 1), t_uniform(4, 4, (int64_t[]){1, 3, 7, 9}, dt, -1, 1)};
        t_cuda_compare("low-precision attention with bias", 4, in, g, op_attn, NULL, 1);
        for (int i = 0; i < 4; i++)
            mf_tensor_release(in[i]);
    }
}

/* ---- fused (flash) kernels: MEDFM_CUDA_ATTENTION=flash ---- */

static void use_flash(void) { setenv("MEDFM_CUDA_ATTENTION", "flash", 1); }

/* The CUDA op took the fused path: its node saved the rows' f32 lse
 * (B, H, Lq) last instead of the probabilities. */
static void assert_took_flash(const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *bias) {
    mf_tensor *c[4] = {t_on(q, T_CUDA, true), t_on(k, T_CUDA, false), t_on(v, T_CUDA, false),
                       bias ? t_on(bias, T_CUDA, false) : NULL};
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_attention(c[0], c[1], c[2], c[3], 0, &y));
    cr_assert(y->grad_fn, "attention recorded no node");
    const mf_tensor *lse = y->grad_fn->saved[y->grad_fn->n_saved - 1];
    cr_assert(lse && lse->dtype == MF_F32 && lse->ndim == 3 && lse->shape[2] == q->shape[2],
              "the flash path should save the f32 lse (B, H, Lq) last");
    mf_tensor_release(y);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(c[i]);
}

/* q (B,H,Lq,D), k (B,H,Lk,D), v (B,H,Lk,Dv) and a bias of shape bs (nb
 * dims; NULL for none) compared with the CPU, every input with a gradient. */
static void flash_case_nd(const char *what, mf_dtype dt, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t D,
                          int64_t Dv, int nb, const int64_t *bs, double slack) {
    mf_tensor *in[4] = {t_uniform(11, 4, (int64_t[]){B, H, Lq, D}, dt, -1, 1),
                        t_uniform(12, 4, (int64_t[]){B, H, Lk, D}, dt, -1, 1),
                        t_uniform(13, 4, (int64_t[]){B, H, Lk, Dv}, dt, -1, 1),
                        bs ? t_uniform(14, nb, bs, dt, -1, 1) : NULL};
    assert_took_flash(in[0], in[1], in[2], in[3]);
    bool g[4] = {true, true, true, true};
    t_cuda_compare(what, 4, in, g, op_attn, NULL, slack);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(in[i]);
}

static void flash_case(const char *what, mf_dtype dt, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t D,
                       int64_t Dv, const int64_t *bs, double slack) {
    flash_case_nd(what, dt, B, H, Lq, Lk, D, Dv, 4, bs, slack);
}

Test(cuda_attention, flash_attention_and_its_gradients_match_the_cpu_in_f32) {
    t_need_cuda();
    t_cuda_exact();
    use_flash();
    flash_case("flash, bias shared by the batch", MF_F32, 2, 3, 7, 9, 8, 5, (int64_t[]){1, 3, 7, 9}, 8);
    flash_case("flash, bias shared by the heads", MF_F32, 2, 3, 7, 9, 8, 5, (int64_t[]){2, 1, 7, 9}, 8);
    flash_case("flash without bias", MF_F32, 2, 3, 7, 9, 8, 5, NULL, 8);
    /* fewer dims than the scores, broadcast over the query rows too */
    flash_case_nd("flash, a 3-d bias (H, 1, Lk)", MF_F32, 2, 3, 7, 9, 8, 5, 3, (int64_t[]){3, 1, 9}, 8);
}

/* Several query and key tiles, neither length a multiple of a tile. */
Test(cuda_attention, flash_attention_over_several_tiles_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    use_flash();
    flash_case("flash, 37 queries over 70 keys", MF_F32, 1, 2, 37, 70, 16, 12, (int64_t[]){1, 2, 37, 70}, 8);
}

/* Head dims at the fused kernels' limit. */
Test(cuda_attention, flash_attention_with_head_dims_of_128_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    use_flash();
    flash_case("flash, D = Dv = 128", MF_F32, 1, 1, 5, 33, 128, 128, (int64_t[]){1, 1, 1, 33}, 8);
}

Test(cuda_attention, flash_bf16_and_f16_attention_match_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    use_flash();
    flash_case("flash bf16", MF_BF16, 2, 3, 7, 9, 8, 5, (int64_t[]){1, 3, 7, 9}, 1);
    flash_case("flash f16", MF_F16, 2, 3, 7, 9, 8, 5, (int64_t[]){2, 1, 7, 9}, 1);
}

/* Row 0 is masked entirely (output and gradients 0), other rows partly;
 * the bias gradient is 0 under the -inf entries. */
Test(cuda_attention, flash_gives_zeros_for_a_fully_masked_row_like_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    use_flash();
    double bias[4 * 5];
    for (int i = 0; i < 20; i++)
        bias[i] = i < 5 ? -INFINITY : (i % 3 == 0 ? -INFINITY : 0.25 * (i % 4));
    mf_tensor *in[4] = {t_uniform(1, 4, (int64_t[]){1, 1, 4, 6}, MF_F32, -1, 1),
                        t_uniform(2, 4, (int64_t[]){1, 1, 5, 6}, MF_F32, -1, 1),
                        t_uniform(3, 4, (int64_t[]){1, 1, 5, 3}, MF_F32, -1, 1),
                        t_from(4, (int64_t[]){1, 1, 4, 5}, MF_F32, bias)};
    assert_took_flash(in[0], in[1], in[2], in[3]);
    bool g[4] = {true, true, true, true};
    t_cuda_compare("masked flash attention", 4, in, g, op_attn, NULL, 8);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(in[i]);
}

/* f64 and head dims over the fused limit run the gemm kernels instead. */
Test(cuda_attention, flash_leaves_f64_and_wide_heads_to_the_gemm_kernels) {
    t_need_cuda();
    t_cuda_exact();
    use_flash();
    mf_dtype dts[2] = {MF_F64, MF_F32};
    int64_t ds[2] = {8, 130};
    for (int c = 0; c < 2; c++) {
        mf_tensor *in[4] = {t_uniform(1, 4, (int64_t[]){1, 2, 3, ds[c]}, dts[c], -1, 1),
                            t_uniform(2, 4, (int64_t[]){1, 2, 4, ds[c]}, dts[c], -1, 1),
                            t_uniform(3, 4, (int64_t[]){1, 2, 4, 3}, dts[c], -1, 1), NULL};
        mf_tensor *q = t_on(in[0], T_CUDA, true), *y;
        mf_tensor *k = t_on(in[1], T_CUDA, false), *v = t_on(in[2], T_CUDA, false);
        MF_OK_OR_FAIL(mf_attention(q, k, v, NULL, 0, &y));
        cr_assert_eq(y->grad_fn->saved[y->grad_fn->n_saved - 1]->ndim, 4, "case %d: the gemm path saves p last", c);
        mf_tensor_release(q), mf_tensor_release(k), mf_tensor_release(v), mf_tensor_release(y);
        bool g[4] = {true, true, true, false};
        t_cuda_compare("attention beside flash", 4, in, g, op_attn, NULL, 8);
        for (int i = 0; i < 3; i++)
            mf_tensor_release(in[i]);
    }
}

Test(cuda_attention, an_unknown_attention_kernel_choice_is_a_clear_error) {
    t_need_cuda();
    setenv("MEDFM_CUDA_ATTENTION", "fast", 1);
    mf_tensor *h = t_uniform(1, 4, (int64_t[]){1, 1, 2, 4}, MF_F32, -1, 1), *x = t_on(h, T_CUDA, false), *y = NULL;
    mf_status st = mf_attention(x, x, x, NULL, 0, &y);
    cr_assert_eq(st, MF_ERR_CONFIG, "expected a config error, got %d", (int)st);
    const char *msg = mf_last_error();
    cr_assert(strstr(msg, "MEDFM_CUDA_ATTENTION") && strstr(msg, "fast") && strstr(msg, "gemm") &&
                  strstr(msg, "flash"),
              "the message should name the variable, the value and the choices: %s", msg);
    cr_assert_null(y);
    mf_tensor_release(h);
    mf_tensor_release(x);
}

/* Both CUDA paths on the same inputs: outputs and all four gradients. */
static void flash_vs_gemm(mf_dtype dt, double slack) {
    mf_tensor *in[4] = {t_uniform(21, 4, (int64_t[]){2, 2, 11, 8}, dt, -1, 1),
                        t_uniform(22, 4, (int64_t[]){2, 2, 40, 8}, dt, -1, 1),
                        t_uniform(23, 4, (int64_t[]){2, 2, 40, 6}, dt, -1, 1),
                        t_uniform(24, 4, (int64_t[]){1, 2, 11, 40}, dt, -1, 1)};
    mf_tensor *r = t_uniform(25, 4, (int64_t[]){2, 2, 11, 6}, dt, -1, 1), *rg = t_on(r, T_CUDA, false);
    mf_tensor *y[2], *c[2][4];
    const char *mode[2] = {"gemm", "flash"};
    for (int m = 0; m < 2; m++) {
        setenv("MEDFM_CUDA_ATTENTION", mode[m], 1);
        for (int i = 0; i < 4; i++)
            c[m][i] = t_on(in[i], T_CUDA, true);
        mf_tensor *p, *l;
        MF_OK_OR_FAIL(mf_attention(c[m][0], c[m][1], c[m][2], c[m][3], 0, &y[m]));
        MF_OK_OR_FAIL(mf_mul(y[m], rg, &p));
        MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
        MF_OK_OR_FAIL(mf_backward(l, NULL, false));
        mf_tensor_release(p), mf_tensor_release(l);
    }
    mf_tensor *yh = t_on(y[0], MF_DEVICE_CPU, false);
    t_assert_matches_cpu(y[1], yh, slack, "flash vs gemm output");
    for (int i = 0; i < 4; i++) {
        mf_tensor *gh = t_on(c[0][i]->grad, MF_DEVICE_CPU, false);
        char msg[64];
        snprintf(msg, sizeof msg, "flash vs gemm gradient %d", i);
        t_assert_matches_cpu(c[1][i]->grad, gh, slack, msg);
        mf_tensor_release(gh);
    }
    mf_tensor_release(yh), mf_tensor_release(r), mf_tensor_release(rg);
    for (int m = 0; m < 2; m++) {
        mf_tensor_release(y[m]);
        for (int i = 0; i < 4; i++)
            mf_tensor_release(c[m][i]);
    }
    for (int i = 0; i < 4; i++)
        mf_tensor_release(in[i]);
}

Test(cuda_attention, flash_and_gemm_kernels_agree_on_the_device) {
    t_need_cuda();
    t_cuda_exact();
    flash_vs_gemm(MF_F32, 8);
    flash_vs_gemm(MF_BF16, 2);
}

/* sum(attention(q, k, v, bias) * r). */
static mf_tensor *flash_loss(mf_tensor *const *in, mf_tensor *r) {
    mf_tensor *y, *p, *l;
    MF_OK_OR_FAIL(mf_attention(in[0], in[1], in[2], in[3], 0, &y));
    MF_OK_OR_FAIL(mf_mul(y, r, &p));
    MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
    mf_tensor_release(y), mf_tensor_release(p);
    return l;
}

/* The fused kernels, their scratch and the bias gradient's zeroing all
 * live inside a captured step: replays with new queries give the CPU's
 * values. */
Test(cuda_attention, a_flash_step_captured_as_a_cuda_graph_replays_new_queries_like_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    use_flash();
    int64_t qs[4] = {1, 2, 7, 8};
    mf_tensor *in[4] = {t_uniform(31, 4, qs, MF_F32, -1, 1), t_uniform(32, 4, (int64_t[]){1, 2, 9, 8}, MF_F32, -1, 1),
                        t_uniform(33, 4, (int64_t[]){1, 2, 9, 5}, MF_F32, -1, 1),
                        t_uniform(34, 4, (int64_t[]){1, 2, 7, 9}, MF_F32, -1, 1)};
    mf_tensor *r = t_uniform(35, 4, (int64_t[]){1, 2, 7, 5}, MF_F32, -1, 1), *rg = t_on(r, T_CUDA, false);
    mf_tensor *d[4];
    for (int i = 0; i < 4; i++)
        d[i] = t_on(in[i], T_CUDA, i > 0);
    MF_OK_OR_FAIL(mf_graph_capture_begin(T_CUDA));
    mf_tensor *dloss = flash_loss(d, rg);
    MF_OK_OR_FAIL(mf_backward(dloss, NULL, false));
    mf_graph *g;
    MF_OK_OR_FAIL(mf_graph_capture_end(T_CUDA, &g));
    for (uint64_t s = 0; s < 2; s++) {
        mf_tensor *q = t_uniform(40 + s, 4, qs, MF_F32, -1, 1);
        MF_OK_OR_FAIL(mf_tensor_copy_(d[0], q));
        MF_OK_OR_FAIL(mf_graph_replay(g));
        mf_tensor *c[4] = {q, t_on(in[1], MF_DEVICE_CPU, true), t_on(in[2], MF_DEVICE_CPU, true),
                           t_on(in[3], MF_DEVICE_CPU, true)};
        mf_tensor *closs = flash_loss(c, r);
        MF_OK_OR_FAIL(mf_backward(closs, NULL, false));
        t_assert_matches_cpu(dloss, closs, 8, "replayed flash loss");
        for (int i = 1; i < 4; i++)
            t_assert_matches_cpu(d[i]->grad, c[i]->grad, 8, "replayed flash gradient");
        for (int i = 0; i < 4; i++)
            mf_tensor_release(c[i]);
        mf_tensor_release(closs);
    }
    mf_graph_free(g);
    mf_tensor_release(dloss), mf_tensor_release(r), mf_tensor_release(rg);
    for (int i = 0; i < 4; i++)
        mf_tensor_release(in[i]), mf_tensor_release(d[i]);
}
