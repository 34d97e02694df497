/* CUDA attention (cuBLAS products, fused softmax rows) against the CPU
 * backend: forward and the gradients of q, k, v and a broadcast bias,
 * including a fully masked row; bf16/f16 through f32 copies. */
#include <math.h>

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
