/* CUDA pooling, resampling, pad and roll against the CPU backend, forward
 * and backward. */
#include <string.h>

#include "medfm/ops/pool.h"
#include "tests/core/backend/cuda_compare.h"

typedef struct {
    int kind;
    mf_pool_params p;
    int64_t size[3];
    bool align;
} pool_ctx;

static mf_status op_pool(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const pool_ctx *c = ctx;
    switch (c->kind) {
    case 0:
        return mf_max_pool(in[0], &c->p, out);
    case 1:
        return mf_avg_pool(in[0], &c->p, out);
    case 2:
        return mf_adaptive_avg_pool(in[0], c->size, out);
    case 3:
        return mf_upsample(in[0], c->size, MF_UPSAMPLE_LINEAR, c->align, out);
    case 4:
        return mf_upsample(in[0], c->size, MF_UPSAMPLE_NEAREST, false, out);
    case 5:
        return mf_pad(in[0], 4, (int64_t[]){1, 2, 2, 0}, MF_PAD_REFLECT, 0, out);
    case 6:
        return mf_pad(in[0], 4, (int64_t[]){1, 2, 3, 1}, MF_PAD_CONSTANT, 0.5, out);
    default:
        return mf_roll(in[0], 2, (int64_t[]){2, -1}, (int[]){2, 3}, out);
    }
}

static pool_ctx window(int kind, int64_t k, int64_t s, int64_t pad, int64_t dil, bool incl) {
    pool_ctx c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    for (int d = 0; d < 3; d++) {
        c.p.kernel[d] = k;
        c.p.stride[d] = s;
        c.p.padding[d] = pad;
        c.p.dilation[d] = dil;
    }
    c.p.count_include_pad = incl;
    return c;
}

Test(cuda_pool, max_and_avg_pooling_match_the_cpu_in_2d_and_3d) {
    t_need_cuda();
    bool g[1] = {true};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        mf_tensor *x2 = t_uniform(1, 4, (int64_t[]){2, 3, 11, 9}, dt, -1, 1);
        mf_tensor *x3 = t_uniform(2, 5, (int64_t[]){1, 2, 6, 7, 5}, dt, -1, 1);
        pool_ctx cases[] = {window(0, 3, 2, 1, 1, false), window(0, 2, 1, 0, 2, false), window(1, 3, 2, 1, 1, true),
                            window(1, 3, 2, 1, 1, false)};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            t_cuda_compare("pool 2d", 1, &x2, g, op_pool, &cases[i], 4);
            t_cuda_compare("pool 3d", 1, &x3, g, op_pool, &cases[i], 4);
        }
        mf_tensor_release(x2);
        mf_tensor_release(x3);
    }
}

/* Linear upsampling (with and without align_corners) and nearest
 * upsampling of x, forward and backward, within `slack` of the CPU. */
static void compare_upsampling(mf_tensor *x, double slack) {
    bool g[1] = {true};
    for (int al = 0; al < 2; al++) {
        pool_ctx u = {.kind = 3, .size = {13, 17}, .align = al};
        t_cuda_compare("upsample linear", 1, &x, g, op_pool, &u, slack);
    }
    pool_ctx n = {.kind = 4, .size = {14, 20}};
    t_cuda_compare("upsample nearest", 1, &x, g, op_pool, &n, slack);
}

/* Reflect pad, constant pad and roll of x, likewise. */
static void compare_pad_roll(mf_tensor *x, double slack) {
    bool g[1] = {true};
    for (int kind = 5; kind <= 7; kind++) {
        pool_ctx c = {.kind = kind};
        t_cuda_compare("pad/roll", 1, &x, g, op_pool, &c, slack);
    }
}

Test(cuda_pool, adaptive_pooling_and_upsampling_match_the_cpu) {
    t_need_cuda();
    bool g[1] = {true};
    mf_tensor *x = t_uniform(3, 4, (int64_t[]){2, 3, 7, 10}, MF_F32, -1, 1);
    pool_ctx c = {.kind = 2, .size = {3, 4}};
    t_cuda_compare("adaptive_avg_pool", 1, &x, g, op_pool, &c, 4);
    compare_upsampling(x, 4);
    mf_tensor_release(x);
}

Test(cuda_pool, pad_and_roll_match_the_cpu) {
    t_need_cuda();
    mf_tensor *x = t_uniform(4, 4, (int64_t[]){2, 3, 5, 6}, MF_F64, -1, 1);
    compare_pad_roll(x, 4);
    mf_tensor_release(x);
}

/* bf16 and f16: both backends compute in f32 and round once, so results
 * agree to the low dtype's tolerance (forward maxima exactly). */
static const mf_dtype lowp_dts[2] = {MF_BF16, MF_F16};

Test(cuda_pool, max_pooling_in_bf16_and_f16_matches_the_cpu_in_2d_and_3d) {
    t_need_cuda();
    bool g[1] = {true};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = lowp_dts[k];
        mf_tensor *x2 = t_uniform(11, 4, (int64_t[]){2, 4, 16, 15}, dt, -1, 1);
        mf_tensor *x3 = t_uniform(12, 5, (int64_t[]){1, 2, 6, 7, 5}, dt, -1, 1);
        /* ResNet's stem pool (overlapping 3x3 windows, stride 2, pad 1), then a dilated one */
        pool_ctx cases[] = {window(0, 3, 2, 1, 1, false), window(0, 2, 1, 0, 2, false)};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            t_cuda_compare("low-precision max_pool 2d", 1, &x2, g, op_pool, &cases[i], 1);
            t_cuda_compare("low-precision max_pool 3d", 1, &x3, g, op_pool, &cases[i], 1);
        }
        mf_tensor *xg = t_on(x2, T_CUDA, false), *yg, *yc;
        MF_OK_OR_FAIL(op_pool(&xg, &cases[0], &yg));
        MF_OK_OR_FAIL(op_pool(&x2, &cases[0], &yc));
        t_assert_matches_cpu(yg, yc, 0, "low-precision max_pool picks the cpu's values exactly");
        mf_tensor_release(xg);
        mf_tensor_release(yg);
        mf_tensor_release(yc);
        mf_tensor_release(x2);
        mf_tensor_release(x3);
    }
}

Test(cuda_pool, avg_and_adaptive_pooling_in_bf16_and_f16_match_the_cpu) {
    t_need_cuda();
    bool g[1] = {true};
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = lowp_dts[k];
        mf_tensor *x2 = t_uniform(13, 4, (int64_t[]){2, 3, 11, 9}, dt, -1, 1);
        mf_tensor *x3 = t_uniform(14, 5, (int64_t[]){1, 2, 6, 7, 5}, dt, -1, 1);
        pool_ctx cases[] = {window(1, 3, 2, 1, 1, true), window(1, 3, 2, 1, 1, false)};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            t_cuda_compare("low-precision avg_pool 2d", 1, &x2, g, op_pool, &cases[i], 1);
            t_cuda_compare("low-precision avg_pool 3d", 1, &x3, g, op_pool, &cases[i], 1);
        }
        pool_ctx c = {.kind = 2, .size = {3, 4}};
        t_cuda_compare("low-precision adaptive_avg_pool", 1, &x2, g, op_pool, &c, 1);
        pool_ctx one = {.kind = 2, .size = {1, 1}};
        t_cuda_compare("low-precision global adaptive_avg_pool", 1, &x2, g, op_pool, &one, 1);
        mf_tensor_release(x2);
        mf_tensor_release(x3);
    }
}

Test(cuda_pool, upsampling_in_bf16_and_f16_matches_the_cpu) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_tensor *x = t_uniform(15, 4, (int64_t[]){2, 3, 7, 10}, lowp_dts[k], -1, 1);
        compare_upsampling(x, 1);
        mf_tensor_release(x);
    }
}

Test(cuda_pool, pad_and_roll_in_bf16_and_f16_match_the_cpu) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_tensor *x = t_uniform(16, 4, (int64_t[]){2, 3, 5, 6}, lowp_dts[k], -1, 1);
        compare_pad_roll(x, 1);
        mf_tensor_release(x);
    }
}
