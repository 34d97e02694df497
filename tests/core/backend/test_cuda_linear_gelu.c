/* CUDA linear_gelu (fused bias + GELU epilogue) against the CPU backend,
 * forward and backward: f32, f64, bf16, f16, bf16 autocast on f32 weights,
 * with and without bias; enough rows for a chunked bias-gradient sum and
 * more output features than one column tile. Device mismatch is an error. */
#include <string.h>

#include "medfm/amp.h"
#include "medfm/ops/linalg.h"
#include "tests/core/backend/cuda_compare.h"

static mf_status op_linear_gelu(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    return mf_linear_gelu(in[0], in[1], in[2], out);
}

static mf_status op_linear_gelu_autocast(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    MF_TRY(mf_autocast_enter(MF_BF16));
    mf_status st = mf_linear_gelu(in[0], in[1], in[2], out);
    mf_autocast_exit();
    return st;
}

/* (3, 50, 24) x (300, 24)^T: 150 rows (three 64-row chunks), 300 columns
 * (two column tiles); and a 2-D input without bias. */
static void compare_cases(const char *what, mf_dtype dt, t_cuda_op op, double slack) {
    bool g3[3] = {true, true, true};
    mf_tensor *a[3] = {t_uniform(1, 3, (int64_t[]){3, 50, 24}, dt, -1, 1),
                       t_uniform(2, 2, (int64_t[]){300, 24}, dt, -0.6, 0.6),
                       t_uniform(3, 1, (int64_t[]){300}, dt, -1, 1)};
    char msg[96];
    snprintf(msg, sizeof msg, "%s (%s) with bias", what, mf_dtype_name(dt));
    t_cuda_compare(msg, 3, a, g3, op, NULL, slack);
    mf_tensor *b[3] = {t_uniform(4, 2, (int64_t[]){70, 12}, dt, -1, 1),
                       t_uniform(5, 2, (int64_t[]){9, 12}, dt, -1, 1), NULL};
    snprintf(msg, sizeof msg, "%s (%s) without bias", what, mf_dtype_name(dt));
    t_cuda_compare(msg, 3, b, g3, op, NULL, slack);
    mf_tensor *all[] = {a[0], a[1], a[2], b[0], b[1]};
    for (int i = 0; i < 5; i++)
        mf_tensor_release(all[i]);
}

/* The x gradient is g_pre @ w over 300 features with cancellation: the
 * GEMMs' rounding (BLAS vs cuBLAS) needs the slack test_cuda_linalg gives
 * linear; the epilogue alone agrees to rounding. */
Test(cuda_linear_gelu, forward_and_gradients_match_the_cpu_in_f32_and_f64) {
    t_need_cuda();
    t_cuda_exact();
    compare_cases("linear_gelu", MF_F32, op_linear_gelu, 4);
    compare_cases("linear_gelu", MF_F64, op_linear_gelu, 1);
}

/* f16: one g_pre element rounded the other way (an f32 ulp apart before
 * rounding: FMA contraction differs between the two builds) moves the x
 * gradient by |w| ulp_f16(g_pre), several times the f16 tolerance where
 * the 300-term sum cancels; hence slack 4 (still below bf16's 1e-2). */
Test(cuda_linear_gelu, bf16_and_f16_match_the_cpu) {
    t_need_cuda();
    compare_cases("low-precision linear_gelu", MF_BF16, op_linear_gelu, 1);
    compare_cases("low-precision linear_gelu", MF_F16, op_linear_gelu, 4);
}

/* Output and bias gradient only (no GEMM in the backward): the fused
 * epilogue itself, held to the dtype's tolerance without slack. */
Test(cuda_linear_gelu, epilogue_output_and_bias_gradient_match_the_cpu_without_slack) {
    t_need_cuda();
    t_cuda_exact();
    mf_dtype dts[4] = {MF_F32, MF_F64, MF_BF16, MF_F16};
    bool gb[3] = {false, false, true};
    for (int k = 0; k < 4; k++) {
        mf_tensor *a[3] = {t_uniform(11, 3, (int64_t[]){2, 100, 8}, dts[k], -1, 1),
                           t_uniform(12, 2, (int64_t[]){260, 8}, dts[k], -1, 1),
                           t_uniform(13, 1, (int64_t[]){260}, dts[k], -1, 1)};
        t_cuda_compare(mf_dtype_name(dts[k]), 3, a, gb, op_linear_gelu, NULL, 1);
        for (int i = 0; i < 3; i++)
            mf_tensor_release(a[i]);
    }
}

/* The gradients come back f32 but carry bf16 values (one bf16 ulp apart
 * where the two sides round g_pre differently): bf16's tolerance, i.e. the
 * f32 one times 1000. */
Test(cuda_linear_gelu, bf16_autocast_on_f32_weights_matches_the_cpu) {
    t_need_cuda();
    compare_cases("autocast linear_gelu", MF_F32, op_linear_gelu_autocast, t_rtol(MF_BF16) / t_rtol(MF_F32));
}

Test(cuda_linear_gelu, inputs_on_different_devices_are_an_error_naming_the_op) {
    t_need_cuda();
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1);
    mf_tensor *w = t_uniform(2, 2, (int64_t[]){4, 3}, MF_F32, -1, 1), *wg = t_on(w, T_CUDA, false);
    mf_tensor *b = t_uniform(3, 1, (int64_t[]){4}, MF_F32, -1, 1), *xg = t_on(x, T_CUDA, false), *y = NULL;
    mf_status st = mf_linear_gelu(x, wg, NULL, &y);
    cr_assert_eq(st, MF_ERR_DEVICE, "x on cpu, w on cuda: %s", mf_last_error());
    cr_assert(strstr(mf_last_error(), "linear_gelu"), "%s", mf_last_error());
    st = mf_linear_gelu(xg, wg, b, &y);
    cr_assert_eq(st, MF_ERR_DEVICE, "bias on cpu: %s", mf_last_error());
    cr_assert(strstr(mf_last_error(), "linear_gelu"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor *all[] = {x, w, wg, b, xg};
    for (int i = 0; i < 5; i++)
        mf_tensor_release(all[i]);
}
