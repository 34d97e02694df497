/* CUDA batch, layer and group norm against the CPU backend: outputs,
 * gradients of input, weight and bias, and the running statistics. */
#include <stdio.h>

#include "medfm/autograd.h"
#include "medfm/ops/norm.h"
#include "medfm/ops/view.h"
#include "tests/core/backend/cuda_compare.h"

typedef struct {
    bool training;
    int n_norm;
    int64_t groups;
} norm_ctx;

static mf_status op_bn(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const norm_ctx *c = ctx;
    return mf_batch_norm(in[0], in[3], in[4], in[1], in[2], c->training, 0.1, 1e-5, out);
}
static mf_status op_bn_relu(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const norm_ctx *c = ctx;
    return mf_batch_norm_relu(in[0], in[3], in[4], in[1], in[2], c->training, 0.1, 1e-5, out);
}
static mf_status op_ln(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const norm_ctx *c = ctx;
    return mf_layer_norm(in[0], c->n_norm, in[1], in[2], 1e-5, out);
}
static mf_status op_gn(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const norm_ctx *c = ctx;
    return mf_group_norm(in[0], c->groups, in[1], in[2], 1e-5, out);
}

/* Batch norm of x (N, C, ...) on both backends, train and eval: weight,
 * bias and running statistics drawn from seeds seed + 1 .. seed + 4 in the
 * parameter dtype (f32 for bf16/f16 x); x, weight and bias gradients. */
static void compare_bn_op(const char *what, const mf_tensor *x, uint64_t seed, t_cuda_op op) {
    int64_t C = x->shape[1];
    mf_dtype pt = x->dtype == MF_BF16 || x->dtype == MF_F16 ? MF_F32 : x->dtype;
    for (int tr = 0; tr < 2; tr++) {
        norm_ctx c = {.training = tr};
        mf_tensor *in[5] = {(mf_tensor *)x, t_uniform(seed + 1, 1, &C, pt, 0.5, 1.5),
                            t_uniform(seed + 2, 1, &C, pt, -1, 1), t_uniform(seed + 3, 1, &C, pt, -1, 1),
                            t_uniform(seed + 4, 1, &C, pt, 0.5, 2)};
        bool g[5] = {true, true, true, false, false};
        char label[96];
        snprintf(label, sizeof label, "%s %s", what, tr ? "train" : "eval");
        t_cuda_compare(label, 5, in, g, op, &c, 8);
        for (int i = 1; i < 5; i++)
            mf_tensor_release(in[i]);
    }
}

static void compare_bn(const char *what, const mf_tensor *x, uint64_t seed) { compare_bn_op(what, x, seed, op_bn); }

Test(cuda_norm, batch_norm_matches_the_cpu_in_training_and_eval) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_tensor *x = t_uniform(1, 4, (int64_t[]){4, 6, 5, 7}, k ? MF_F64 : MF_F32, -2, 3);
        compare_bn("batch_norm", x, 1);
        mf_tensor_release(x);
    }
}

/* Channels of more than 8192 values are split over several blocks whose
 * sums are added in a second pass (rows of a channel across ranges, and a
 * single image whose one row spans three ranges). */
Test(cuda_norm, batch_norm_over_channels_split_across_blocks_matches_the_cpu) {
    t_need_cuda();
    int64_t shapes[2][3] = {{3, 4, 3001}, {1, 2, 20000}};
    for (int k = 0; k < 2; k++)
        for (int sh = 0; sh < 2; sh++) {
            mf_tensor *x = t_uniform(11, 3, shapes[sh], k ? MF_F64 : MF_F32, 5, 7);
            compare_bn("batch_norm split", x, 11);
            mf_tensor_release(x);
        }
}

/* bf16/f16 data with f32 parameters (autocast): output and input gradient
 * in the data's dtype, parameter gradients in f32, as on the CPU; rows of
 * 35 values take the element kernels, rows of 64 the 16-byte vectors. */
Test(cuda_norm, batch_norm_of_low_precision_data_with_f32_parameters_matches_the_cpu) {
    t_need_cuda();
    mf_dtype dts[2] = {MF_BF16, MF_F16};
    const int64_t shapes[2][4] = {{4, 3, 5, 7}, {4, 3, 8, 8}};
    for (int k = 0; k < 4; k++) {
        mf_tensor *x32 = t_uniform(21, 4, shapes[k / 2], MF_F32, -2, 3), *x;
        MF_OK_OR_FAIL(mf_to_dtype(x32, dts[k % 2], &x));
        compare_bn(k < 2 ? "batch_norm lowp" : "batch_norm lowp vec", x, 21);
        mf_tensor_release(x32);
        mf_tensor_release(x);
    }
}

Test(cuda_norm, batch_norm_updates_the_running_statistics_like_the_cpu) {
    t_need_cuda();
    mf_tensor *x = t_uniform(7, 3, (int64_t[]){8, 3, 10}, MF_F32, -1, 2);
    mf_tensor *rm = t_uniform(8, 1, (int64_t[]){3}, MF_F32, -1, 1),
              *rv = t_uniform(9, 1, (int64_t[]){3}, MF_F32, 0.5, 1);
    mf_tensor *dx = t_on(x, T_CUDA, false), *drm = t_on(rm, T_CUDA, false), *drv = t_on(rv, T_CUDA, false), *y, *dy;
    MF_OK_OR_FAIL(mf_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5, &y));
    MF_OK_OR_FAIL(mf_batch_norm(dx, drm, drv, NULL, NULL, true, 0.1, 1e-5, &dy));
    t_assert_matches_cpu(dy, y, 4, "batch_norm y");
    t_assert_matches_cpu(drm, rm, 4, "running mean");
    t_assert_matches_cpu(drv, rv, 4, "running var");
    mf_tensor *all[] = {x, rm, rv, dx, drm, drv, y, dy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mf_tensor_release(all[i]);
}

Test(cuda_norm, layer_norm_matches_the_cpu) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        norm_ctx c = {.n_norm = 1};
        mf_tensor *in[3] = {t_uniform(1, 3, (int64_t[]){4, 9, 200}, dt, -2, 3),
                            t_uniform(2, 1, (int64_t[]){200}, dt, 0.5, 1.5),
                            t_uniform(3, 1, (int64_t[]){200}, dt, -1, 1)};
        bool g[3] = {true, true, true};
        t_cuda_compare("layer_norm", 3, in, g, op_ln, &c, 8);
        norm_ctx c2 = {.n_norm = 2};
        mf_tensor *in2[3] = {t_uniform(4, 3, (int64_t[]){5, 3, 7}, dt, -2, 3),
                             t_uniform(5, 2, (int64_t[]){3, 7}, dt, 0.5, 1.5), NULL};
        t_cuda_compare("layer_norm 2 dims, no bias", 3, in2, g, op_ln, &c2, 8);
        for (int i = 0; i < 3; i++) {
            mf_tensor_release(in[i]);
            mf_tensor_release(in2[i]);
        }
    }
}

Test(cuda_norm, group_norm_matches_the_cpu) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        norm_ctx c = {.groups = 3};
        mf_tensor *in[3] = {t_uniform(1, 4, (int64_t[]){2, 6, 5, 4}, dt, -2, 3),
                            t_uniform(2, 1, (int64_t[]){6}, dt, 0.5, 1.5), t_uniform(3, 1, (int64_t[]){6}, dt, -1, 1)};
        bool g[3] = {true, true, true};
        t_cuda_compare("group_norm", 3, in, g, op_gn, &c, 8);
        for (int i = 0; i < 3; i++)
            mf_tensor_release(in[i]);
    }
}

/* The fused relu: its forward clips as written, its backward masks the
 * incoming gradient in both passes (split channels included). */
Test(cuda_norm, batch_norm_relu_matches_the_cpu_in_f32_and_bf16) {
    t_need_cuda();
    t_cuda_exact();
    const int64_t shapes[2][4] = {{4, 6, 5, 7}, {2, 3, 100, 50}};
    const mf_dtype dts[2] = {MF_F32, MF_BF16};
    for (int k = 0; k < 4; k++) {
        mf_tensor *x = t_uniform(30 + k, 4, shapes[k / 2], dts[k % 2], -2, 3);
        compare_bn_op("batch_norm_relu", x, 40, op_bn_relu);
        mf_tensor_release(x);
    }
}

/* Rows of whole 16-byte vectors take the vector kernels only when the data
 * is aligned: the same x one element off the alignment (the element
 * kernels) gives the CPU's output and gradients, with and without the
 * fused relu, in f32 and bf16. */
Test(cuda_norm, batch_norm_of_a_misaligned_input_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    const mf_dtype dts[2] = {MF_F32, MF_BF16};
    int64_t C = 3;
    for (int k = 0; k < 4; k++) {
        mf_tensor *x0 = t_uniform(60 + k, 4, (int64_t[]){2, 3, 8, 16}, dts[k % 2], -2, 3);
        mf_tensor *w0 = t_uniform(61, 1, &C, MF_F32, 0.5, 1.5), *b0 = t_uniform(62, 1, &C, MF_F32, -1, 1);
        mf_tensor *x[2] = {t_on(x0, MF_DEVICE_CPU, true), t_misaligned_on(x0, T_CUDA, true)};
        mf_tensor *w[2] = {t_on(w0, MF_DEVICE_CPU, true), t_on(w0, T_CUDA, true)};
        mf_tensor *b[2] = {t_on(b0, MF_DEVICE_CPU, true), t_on(b0, T_CUDA, true)}, *y[2], *l[2];
        mf_tensor *r0 = t_uniform(63, 4, x0->shape, x0->dtype, -1, 1), *r[2] = {r0, t_on(r0, T_CUDA, false)};
        for (int d = 0; d < 2; d++) { /* loss = sum(y * r): every gradient matters */
            mf_tensor *p;
            MF_OK_OR_FAIL((k < 2 ? mf_batch_norm : mf_batch_norm_relu)(x[d], NULL, NULL, w[d], b[d], true, 0.1, 1e-5,
                                                                      &y[d]));
            MF_OK_OR_FAIL(mf_mul(y[d], r[d], &p));
            MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l[d]));
            MF_OK_OR_FAIL(mf_backward(l[d], NULL, false));
            mf_tensor_release(p);
        }
        const char *what = k < 2 ? "batch_norm" : "batch_norm_relu";
        t_assert_matches_cpu(y[1], y[0], 8, what);
        t_assert_matches_cpu(x[1]->grad, x[0]->grad, 8, what);
        t_assert_matches_cpu(w[1]->grad, w[0]->grad, 8, what);
        t_assert_matches_cpu(b[1]->grad, b[0]->grad, 8, what);
        mf_tensor *all[] = {x0, w0, b0, x[0], x[1], w[0], w[1], b[0], b[1], y[0], y[1], l[0], l[1], r0, r[1]};
        t_release_all(all, sizeof all / sizeof all[0]);
    }
}

/* ------------------------------------------------------ channels-last */

/* A channels-last copy of x on the CUDA device, a leaf requiring grad. */
static mf_tensor *t_cuda_channels_last(const mf_tensor *x) {
    mf_tensor *d = t_on(x, T_CUDA, false), *cl;
    MF_OK_OR_FAIL(mf_contiguous_channels_last(d, &cl));
    MF_OK_OR_FAIL(mf_tensor_set_requires_grad(cl, true));
    mf_tensor_release(d);
    cr_assert(mf_tensor_is_channels_last(cl) && (mf_tensor_is_contiguous(cl) || cl->stride[1] == 1));
    return cl;
}

/* Whether the CUDA result t has a channels-last x's layout: channels-last,
 * and not contiguous unless the two layouts coincide (C or S of 1). */
static void assert_channels_last(const mf_tensor *t, const char *what) {
    int64_t S = mf_tensor_numel(t) / (t->shape[0] * t->shape[1]);
    cr_assert(mf_tensor_is_channels_last(t), "%s: not channels-last", what);
    if (t->shape[1] > 1 && S > 1)
        cr_assert(!mf_tensor_is_contiguous(t), "%s: contiguous, not channels-last", what);
}

/* x0's values channels-last on the CUDA device one element past the
 * start of their storage (off the 16-byte alignment of the vector
 * kernels), a leaf requiring grad. */
static mf_tensor *t_cuda_channels_last_misaligned(const mf_tensor *x0) {
    int nd = x0->ndim, to[8], back[8];
    for (int d = 0; d < nd; d++) { /* (N, C, S...) <-> (N, S..., C) */
        to[d] = d == 0 ? 0 : d == nd - 1 ? 1 : d + 1;
        back[d] = d == 0 ? 0 : d == 1 ? nd - 1 : d - 1;
    }
    mf_tensor *p, *nhwc, *m, *v, *cl;
    MF_OK_OR_FAIL(mf_permute(x0, to, &p));
    MF_OK_OR_FAIL(mf_contiguous(p, &nhwc));
    m = t_misaligned_on(nhwc, T_CUDA, false);
    MF_OK_OR_FAIL(mf_permute(m, back, &v));
    MF_OK_OR_FAIL(mf_tensor_detach(v, &cl));
    MF_OK_OR_FAIL(mf_tensor_set_requires_grad(cl, true));
    mf_tensor *tmp[] = {p, nhwc, m, v};
    t_release_all(tmp, sizeof tmp / sizeof tmp[0]);
    cr_assert(mf_tensor_is_channels_last(cl) && !mf_tensor_is_contiguous(cl) && cl->offset == 1);
    return cl;
}

typedef struct {
    bool relu, training, affine;
    bool g_channels_last; /* the incoming gradient channels-last (else contiguous: the op converts it) */
    bool misaligned;      /* x one element off the 16-byte alignment */
} bn_cl_case;

/* Batch norm of x (N, C, ...) made channels-last on the CUDA device
 * against the CPU on x as it is (contiguous): output, running statistics,
 * and the backward of the op's node given one gradient (gx, gw, gb); the
 * CUDA output and gx must be channels-last. */
static void compare_bn_channels_last(const char *what, const mf_tensor *x0, uint64_t seed, bn_cl_case k) {
    int64_t C = x0->shape[1];
    mf_dtype pt = x0->dtype == MF_BF16 || x0->dtype == MF_F16 ? MF_F32 : x0->dtype;
    mf_tensor *p0[4] = {t_uniform(seed + 1, 1, &C, pt, 0.5, 1.5), t_uniform(seed + 2, 1, &C, pt, -1, 1),
                        t_uniform(seed + 3, 1, &C, pt, -1, 1), t_uniform(seed + 4, 1, &C, pt, 0.5, 2)};
    mf_tensor *r = t_uniform(seed + 5, x0->ndim, x0->shape, x0->dtype, -1, 1);
    mf_tensor *x[2] = {t_on(x0, MF_DEVICE_CPU, true),
                       k.misaligned ? t_cuda_channels_last_misaligned(x0) : t_cuda_channels_last(x0)},
              *p[2][4], *y[2], *g[2];
    g[0] = mf_tensor_retain(r);
    if (k.g_channels_last) {
        mf_tensor *gd = t_on(r, T_CUDA, false);
        MF_OK_OR_FAIL(mf_contiguous_channels_last(gd, &g[1]));
        mf_tensor_release(gd);
    } else {
        g[1] = t_on(r, T_CUDA, false);
    }
    mf_tensor *gin[2][3];
    for (int d = 0; d < 2; d++) {
        mf_device dev = d ? T_CUDA : MF_DEVICE_CPU;
        for (int i = 0; i < 4; i++)
            p[d][i] = t_on(p0[i], dev, i < 2);
        mf_tensor *w = k.affine ? p[d][0] : NULL, *b = k.affine ? p[d][1] : NULL;
        MF_OK_OR_FAIL((k.relu ? mf_batch_norm_relu : mf_batch_norm)(x[d], p[d][2], p[d][3], w, b, k.training, 0.1,
                                                                    1e-5, &y[d]));
        mf_node *n = y[d]->grad_fn;
        cr_assert(n, "%s: no autograd node", what);
        MF_OK_OR_FAIL(n->backward(n, g[d], gin[d]));
    }
    char msg[128];
    snprintf(msg, sizeof msg, "%s %s%s%s %s", what, k.training ? "train" : "eval", k.relu ? " relu" : "",
             k.affine ? "" : " no affine", MF_SHAPE(x0));
    assert_channels_last(y[1], msg);
    assert_channels_last(gin[1][0], msg);
    t_assert_matches_cpu(y[1], y[0], 8, msg);
    t_assert_matches_cpu(p[1][2], p[0][2], 8, msg);
    t_assert_matches_cpu(p[1][3], p[0][3], 8, msg);
    t_assert_matches_cpu(gin[1][0], gin[0][0], 8, msg);
    for (int i = 1; i < 3; i++) {
        cr_assert_eq(!gin[0][i], !k.affine, "%s: parameter gradient %d", msg, i);
        if (k.affine)
            t_assert_matches_cpu(gin[1][i], gin[0][i], 8, msg);
    }
    for (int d = 0; d < 2; d++) {
        mf_tensor *all[] = {x[d], y[d], g[d], gin[d][0], gin[d][1], gin[d][2], p[d][0], p[d][1], p[d][2], p[d][3]};
        t_release_all(all, sizeof all / sizeof all[0]);
    }
    mf_tensor *rest[] = {r, p0[0], p0[1], p0[2], p0[3]};
    t_release_all(rest, sizeof rest / sizeof rest[0]);
}

/* Channel counts off the 32-channel tiles (5, 37), one position or many,
 * 4-D and 5-D, enough rows (N * S) for several row ranges of 256; each in
 * training and eval, some without weight and bias (eval then needs no
 * sums), the incoming gradient channels-last or contiguous (the op
 * converts it) in turn. Zero ends a 4-D shape. */
static const int64_t bn_cl_shapes[][5] = {
    {8, 5, 7, 9}, {8, 37, 7, 9}, {6, 37, 1, 1}, {2, 37, 20, 25}, {2, 6, 3, 4, 5},
};

/* Channel counts of whole 16-byte vectors (multiples of 4 for f32, of 8
 * for bf16 but for 12): rows narrower than a warp's vectors (C 12 to 64:
 * a warp spans several rows, lanes idle where C / V is no power of two),
 * wider ones over several channel tiles (320), 5-D, and several row
 * ranges (1000 and 504 rows). */
static const int64_t bn_cl_vec_shapes[][5] = {
    {4, 64, 5, 6}, {3, 24, 7, 9}, {2, 24, 20, 25}, {2, 320, 3, 3}, {2, 16, 3, 4, 5}, {8, 12, 7, 9},
};

#define BN_CL_OVER(what, dt, relu, seed, shapes, misaligned) \
    bn_cl_over_shapes(what, dt, relu, seed, sizeof shapes / sizeof shapes[0], shapes, misaligned)

static void bn_cl_over_shapes(const char *what, mf_dtype dt, bool relu, uint64_t seed, int n,
                              const int64_t (*shapes)[5], bool misaligned) {
    for (int sh = 0; sh < n; sh++)
        for (int m = 0; m < 2; m++) {
            int nd = shapes[sh][4] ? 5 : 4;
            mf_tensor *x32 = t_uniform(seed + (uint64_t)sh, nd, shapes[sh], MF_F32, -2, 3), *x;
            MF_OK_OR_FAIL(mf_to_dtype(x32, dt, &x));
            bn_cl_case k = {.relu = relu,
                            .training = m == 0,
                            .affine = (sh + m) % 3 != 2,
                            .g_channels_last = (sh + m) % 2 == 0,
                            .misaligned = misaligned};
            compare_bn_channels_last(what, x, seed + 10 * (uint64_t)sh, k);
            mf_tensor_release(x32);
            mf_tensor_release(x);
        }
}

Test(cuda_norm, batch_norm_of_a_channels_last_input_matches_the_cpu_and_stays_channels_last) {
    t_need_cuda();
    t_cuda_exact();
    BN_CL_OVER("batch_norm channels-last f32", MF_F32, false, 100, bn_cl_shapes, false);
    BN_CL_OVER("batch_norm channels-last f64", MF_F64, false, 200, bn_cl_shapes, false);
}

Test(cuda_norm, batch_norm_relu_of_a_channels_last_input_matches_the_cpu_and_stays_channels_last) {
    t_need_cuda();
    t_cuda_exact();
    BN_CL_OVER("batch_norm_relu channels-last f32", MF_F32, true, 300, bn_cl_shapes, false);
    BN_CL_OVER("batch_norm_relu channels-last f64", MF_F64, true, 400, bn_cl_shapes, false);
}

/* bf16 data with f32 parameters and statistics, as the NCHW path. */
Test(cuda_norm, batch_norm_of_a_channels_last_bf16_input_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    BN_CL_OVER("batch_norm channels-last bf16", MF_BF16, false, 500, bn_cl_shapes, false);
    BN_CL_OVER("batch_norm_relu channels-last bf16", MF_BF16, true, 600, bn_cl_shapes, false);
}

/* Channel counts of whole 16-byte vectors take the vector kernels (V
 * channels a thread): f32 (4), bf16 and f16 (8), training and eval. */
Test(cuda_norm, batch_norm_of_a_channels_last_input_of_whole_vectors_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    BN_CL_OVER("batch_norm channels-last vec f32", MF_F32, false, 700, bn_cl_vec_shapes, false);
    BN_CL_OVER("batch_norm channels-last vec bf16", MF_BF16, false, 800, bn_cl_vec_shapes, false);
    BN_CL_OVER("batch_norm channels-last vec f16", MF_F16, false, 850, bn_cl_vec_shapes, false);
}

Test(cuda_norm, batch_norm_relu_of_a_channels_last_input_of_whole_vectors_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    BN_CL_OVER("batch_norm_relu channels-last vec f32", MF_F32, true, 900, bn_cl_vec_shapes, false);
    BN_CL_OVER("batch_norm_relu channels-last vec bf16", MF_BF16, true, 1000, bn_cl_vec_shapes, false);
    BN_CL_OVER("batch_norm_relu channels-last vec f16", MF_F16, true, 1050, bn_cl_vec_shapes, false);
}

/* The same channel counts one element off the alignment: the element
 * kernels, with and without the fused relu. */
static const int64_t bn_cl_misaligned_shapes[][5] = {{4, 64, 5, 6}, {8, 24, 7, 9}};

Test(cuda_norm, batch_norm_of_a_misaligned_channels_last_input_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    const mf_dtype dts[2] = {MF_F32, MF_BF16};
    for (int k = 0; k < 4; k++)
        BN_CL_OVER(k < 2 ? "batch_norm channels-last misaligned" : "batch_norm_relu channels-last misaligned",
                   dts[k % 2], k >= 2, 1100 + 10 * (uint64_t)k, bn_cl_misaligned_shapes, true);
}
