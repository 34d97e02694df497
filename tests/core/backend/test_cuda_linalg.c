/* CUDA matmul/bmm/linear against the CPU backend, forward and backward:
 * plain, transposed, broadcast and copied (non-BLAS) layouts, exact f32,
 * f64, TF32 within its looser tolerance, and bf16/f16 (mixed precision). */
#include "medfm/amp.h"
#include "medfm/ops/linalg.h"
#include "medfm/ops/view.h"
#include "tests/core/backend/cuda_compare.h"

static mf_status op_matmul(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    return mf_matmul(in[0], in[1], out);
}

static mf_status op_bmm(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const bool *t = ctx;
    return mf_bmm(in[0], in[1], t[0], t[1], out);
}

static mf_status op_linear(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    return mf_linear(in[0], in[1], in[2], out);
}

/* matmul of a (permuted, hence strided) view */
static mf_status op_matmul_strided(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    mf_tensor *v;
    MF_TRY(mf_permute(in[0], (int[]){1, 0, 2}, &v));
    mf_status st = mf_matmul(v, in[1], out);
    mf_tensor_release(v);
    return st;
}

Test(cuda_linalg, matmul_and_its_gradients_match_the_cpu_in_f32_and_f64) {
    t_need_cuda();
    t_cuda_exact();
    bool g2[2] = {true, true};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        mf_tensor *in[2] = {t_uniform(1, 2, (int64_t[]){37, 53}, dt, -1, 1),
                            t_uniform(2, 2, (int64_t[]){53, 29}, dt, -1, 1)};
        t_cuda_compare("matmul 2d", 2, in, g2, op_matmul, NULL, 4);
        mf_tensor *b3[2] = {t_uniform(3, 3, (int64_t[]){4, 17, 9}, dt, -1, 1),
                            t_uniform(4, 2, (int64_t[]){9, 11}, dt, -1, 1)};
        t_cuda_compare("matmul broadcast", 2, b3, g2, op_matmul, NULL, 4);
        mf_tensor *s[2] = {t_uniform(5, 3, (int64_t[]){6, 3, 8}, dt, -1, 1),
                           t_uniform(6, 3, (int64_t[]){3, 8, 5}, dt, -1, 1)};
        t_cuda_compare("matmul strided batch", 2, s, g2, op_matmul_strided, NULL, 4);
        for (int i = 0; i < 2; i++) {
            mf_tensor_release(in[i]);
            mf_tensor_release(b3[i]);
            mf_tensor_release(s[i]);
        }
    }
}

Test(cuda_linalg, bmm_with_every_transpose_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    bool g2[2] = {true, true};
    for (int t = 0; t < 4; t++) {
        bool tr[2] = {t & 1, (t >> 1) & 1};
        int64_t as[3] = {5, tr[0] ? 13 : 7, tr[0] ? 7 : 13}, bs[3] = {5, tr[1] ? 6 : 13, tr[1] ? 13 : 6};
        mf_tensor *in[2] = {t_uniform(7 + t, 3, as, MF_F32, -1, 1), t_uniform(9 + t, 3, bs, MF_F32, -1, 1)};
        t_cuda_compare("bmm", 2, in, g2, op_bmm, tr, 4);
        mf_tensor_release(in[0]);
        mf_tensor_release(in[1]);
    }
}

Test(cuda_linalg, linear_with_bias_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    bool g3[3] = {true, true, true};
    mf_tensor *in[3] = {t_uniform(11, 3, (int64_t[]){3, 10, 64}, MF_F32, -1, 1),
                        t_uniform(12, 2, (int64_t[]){48, 64}, MF_F32, -1, 1),
                        t_uniform(13, 1, (int64_t[]){48}, MF_F32, -1, 1)};
    t_cuda_compare("linear", 3, in, g3, op_linear, NULL, 4);
    for (int i = 0; i < 3; i++)
        mf_tensor_release(in[i]);
}

Test(cuda_linalg, tf32_matmul_stays_within_its_tolerance) {
    t_need_cuda();
    setenv("MEDFM_CUDA_TF32", "1", 1);
    mf_tensor *a = t_uniform(21, 2, (int64_t[]){128, 256}, MF_F32, -1, 1),
              *b = t_uniform(22, 2, (int64_t[]){256, 96}, MF_F32, -1, 1);
    mf_tensor *da = t_on(a, T_CUDA, false), *db = t_on(b, T_CUDA, false), *want, *got;
    MF_OK_OR_FAIL(mf_matmul(a, b, &want));
    MF_OK_OR_FAIL(mf_matmul(da, db, &got));
    mf_tensor *h = t_on(got, MF_DEVICE_CPU, false);
    t_assert_close(h, want, 2e-2, 1e-3, "tf32 matmul");
    mf_tensor *all[] = {a, b, da, db, want, got, h};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mf_tensor_release(all[i]);
}

Test(cuda_linalg, bf16_and_f16_matmul_bmm_and_linear_match_the_cpu) {
    t_need_cuda();
    bool g2[2] = {true, true}, g3[3] = {true, true, true}, tt[2] = {true, false};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F16 : MF_BF16;
        mf_tensor *m[2] = {t_uniform(1, 2, (int64_t[]){37, 53}, dt, -1, 1), t_uniform(2, 2, (int64_t[]){53, 29}, dt, -1, 1)};
        t_cuda_compare("low-precision matmul", 2, m, g2, op_matmul, NULL, 1);
        mf_tensor *b[2] = {t_uniform(3, 3, (int64_t[]){3, 17, 9}, dt, -1, 1), t_uniform(4, 3, (int64_t[]){3, 17, 11}, dt, -1, 1)};
        t_cuda_compare("low-precision bmm a^T b", 2, b, g2, op_bmm, tt, 1);
        mf_tensor *l[3] = {t_uniform(5, 3, (int64_t[]){2, 7, 24}, dt, -1, 1), t_uniform(6, 2, (int64_t[]){10, 24}, dt, -1, 1),
                           t_uniform(7, 1, (int64_t[]){10}, dt, -1, 1)};
        t_cuda_compare("low-precision linear", 3, l, g3, op_linear, NULL, 1);
        mf_tensor *all[] = {m[0], m[1], b[0], b[1], l[0], l[1], l[2]};
        for (int i = 0; i < 7; i++)
            mf_tensor_release(all[i]);
    }
}

static mf_status op_linear_autocast(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    MF_TRY(mf_autocast_enter(MF_BF16));
    mf_status st = mf_linear(in[0], in[1], in[2], out);
    mf_autocast_exit();
    return st;
}

/* f32 master weights on the GPU: the bf16 linear's gradients come back f32. */
Test(cuda_linalg, autocast_linear_on_f32_weights_matches_the_cpu) {
    t_need_cuda();
    bool g3[3] = {true, true, true};
    mf_tensor *l[3] = {t_uniform(5, 2, (int64_t[]){16, 24}, MF_F32, -1, 1),
                       t_uniform(6, 2, (int64_t[]){10, 24}, MF_F32, -1, 1), t_uniform(7, 1, (int64_t[]){10}, MF_F32, -1, 1)};
    t_cuda_compare("autocast linear", 3, l, g3, op_linear_autocast, NULL, 1);
    for (int i = 0; i < 3; i++)
        mf_tensor_release(l[i]);
}
