/* Channels-last on the CUDA backend against the CPU (which runs the same ops
 * in its usual layout): convolutions under mf_conv_set_channels_last give
 * channels-last outputs and input gradients with the CPU's values, forward
 * and backward, 2-D and 3-D, strided, grouped, transposed, with bias, in
 * f32, f64 and bf16; elementwise ops keep the layout and run it as one
 * flat dim. */
#include <string.h>

#include "medfm/ops/conv.h"
#include "medfm/ops/norm.h"
#include "medfm/ops/pool.h"
#include "medfm/ops/view.h"
#include "tests/core/backend/cuda_compare.h"

typedef struct {
    mf_conv_params p;
    bool transpose;
} cl_case;

/* The op under the switch; on the CUDA side the output must be channels-last
 * (and, with more than one channel and position, not also contiguous). */
static mf_status op_conv_cl(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const cl_case *c = ctx;
    bool was = mf_conv_set_channels_last(true);
    mf_status st = c->transpose ? mf_conv_transpose(in[0], in[1], in[2], &c->p, out)
                                : mf_conv(in[0], in[1], in[2], &c->p, out);
    mf_conv_set_channels_last(was);
    if (st == MF_OK && (*out)->storage->device.type == MF_CUDA)
        cr_assert(mf_tensor_is_channels_last(*out) && !mf_tensor_is_contiguous(*out),
                  "a cuda convolution under the switch gives a channels-last output");
    if (st == MF_OK && (*out)->storage->device.type == MF_CPU)
        cr_assert(mf_tensor_is_contiguous(*out), "the cpu backend ignores the switch");
    return st;
}

static cl_case make(int64_t s, int64_t pad, int64_t groups, bool transpose) {
    cl_case c = {mf_conv_params_default(), transpose};
    for (int d = 0; d < 3; d++) {
        c.p.stride[d] = s;
        c.p.padding[d] = pad;
    }
    c.p.groups = groups;
    return c;
}

static void run(const char *what, int nd, const int64_t *xs, const int64_t *ws, const cl_case *c, mf_dtype dt,
                bool bias) {
    int64_t bs[1] = {c->transpose ? ws[1] * c->p.groups : ws[0]};
    mf_tensor *in[3] = {t_uniform(1, nd, xs, dt, -1, 1), t_uniform(2, nd, ws, dt, -1, 1),
                        bias ? t_uniform(3, 1, bs, dt, -1, 1) : NULL};
    bool g[3] = {true, true, bias};
    t_cuda_compare(what, 3, in, g, op_conv_cl, c, dt == MF_BF16 ? 16 : 8);
    for (int i = 0; i < 3; i++)
        mf_tensor_release(in[i]);
}

Test(cuda_channels_last, convolutions_under_the_switch_match_the_cpu_forward_and_backward) {
    t_need_cuda();
    t_cuda_exact();
    cl_case plain = make(1, 1, 1, false), strided = make(2, 1, 1, false), grouped = make(1, 1, 2, false);
    cl_case tr = make(2, 1, 1, true);
    tr.p.output_padding[0] = tr.p.output_padding[1] = 1;
    mf_dtype dts[2] = {MF_F32, MF_F64};
    for (int k = 0; k < 2; k++) {
        run("conv2d 3x3 + bias", 4, (int64_t[]){2, 3, 9, 8}, (int64_t[]){5, 3, 3, 3}, &plain, dts[k], true);
        run("conv2d stride 2", 4, (int64_t[]){2, 4, 11, 10}, (int64_t[]){6, 4, 3, 3}, &strided, dts[k], false);
        run("conv2d grouped", 4, (int64_t[]){2, 4, 7, 7}, (int64_t[]){6, 2, 3, 3}, &grouped, dts[k], true);
        run("conv3d", 5, (int64_t[]){2, 2, 5, 4, 6}, (int64_t[]){3, 2, 3, 3, 3}, &plain, dts[k], true);
        run("conv_transpose2d", 4, (int64_t[]){2, 4, 5, 6}, (int64_t[]){4, 3, 3, 3}, &tr, dts[k], true);
    }
}

Test(cuda_channels_last, bf16_convolutions_under_the_switch_match_the_cpu) {
    t_need_cuda();
    cl_case plain = make(1, 1, 1, false);
    run("bf16 conv2d", 4, (int64_t[]){2, 8, 6, 7}, (int64_t[]){4, 8, 3, 3}, &plain, MF_BF16, true);
    run("bf16 conv2d 1x1", 4, (int64_t[]){3, 16, 5, 5}, (int64_t[]){8, 16, 1, 1}, &plain, MF_BF16, false);
}

/* Two CUDA tensors with the same values to f32 rounding. */
static void close_on_cpu(const mf_tensor *a, const mf_tensor *b, const char *what) {
    mf_tensor *ac = t_on(a, MF_DEVICE_CPU, false), *bc = t_on(b, MF_DEVICE_CPU, false);
    t_assert_close(ac, bc, 1e-5, 1e-5, what);
    mf_tensor_release(ac);
    mf_tensor_release(bc);
}

Test(cuda_channels_last, the_backward_follows_the_forwards_layout_and_leaf_gradients_are_contiguous) {
    t_need_cuda();
    t_cuda_exact();
    mf_tensor *xc = t_uniform(4, 4, (int64_t[]){2, 3, 6, 5}, MF_F32, -1, 1);
    mf_tensor *wc = t_uniform(5, 4, (int64_t[]){4, 3, 3, 3}, MF_F32, -1, 1);
    mf_tensor *x = t_on(xc, T_CUDA, true), *w = t_on(wc, T_CUDA, true), *y, *l;
    mf_conv_params p = mf_conv_params_default();
    p.padding[0] = p.padding[1] = 1;
    bool was = mf_conv_set_channels_last(true);
    MF_OK_OR_FAIL(mf_conv(x, w, NULL, &p, &y));
    mf_conv_set_channels_last(was);
    /* the backward runs outside the switch: it follows the forward */
    MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &l));
    MF_OK_OR_FAIL(mf_backward(l, NULL, false));
    cr_assert(mf_tensor_is_contiguous(x->grad) && mf_tensor_is_contiguous(w->grad), "leaf gradients are contiguous");
    /* against the same convolution without the switch */
    mf_tensor *x2 = t_on(xc, T_CUDA, true), *w2 = t_on(wc, T_CUDA, true), *y2, *l2;
    MF_OK_OR_FAIL(mf_conv(x2, w2, NULL, &p, &y2));
    cr_assert(mf_tensor_is_contiguous(y2), "off: N-C-spatial");
    MF_OK_OR_FAIL(mf_sum(y2, 0, NULL, false, &l2));
    MF_OK_OR_FAIL(mf_backward(l2, NULL, false));
    close_on_cpu(y, y2, "output");
    close_on_cpu(x->grad, x2->grad, "input gradient");
    close_on_cpu(w->grad, w2->grad, "weight gradient");
    mf_tensor *more[] = {x2, w2, y2, l2};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        mf_tensor_release(more[i]);
    mf_tensor *list[] = {xc, wc, x, w, y, l};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        mf_tensor_release(list[i]);
}

/* relu(a) + b * a with a, b channels-last: every output keeps the layout. */
static mf_status op_elementwise(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    mf_tensor *a = NULL, *b = NULL, *r = NULL, *m = NULL;
    mf_status st;
    MF_CHECK(mf_contiguous_channels_last(in[0], &a));
    MF_CHECK(mf_contiguous_channels_last(in[1], &b));
    MF_CHECK(mf_relu(a, &r));
    MF_CHECK(mf_mul(b, a, &m));
    MF_CHECK(mf_add(r, m, out));
    cr_assert(mf_tensor_is_channels_last(r) && mf_tensor_is_channels_last(m) && mf_tensor_is_channels_last(*out) &&
              !mf_tensor_is_contiguous(*out));
cleanup:
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(r);
    mf_tensor_release(m);
    return st;
}

Test(cuda_channels_last, elementwise_ops_keep_the_layout_and_match_the_cpu) {
    t_need_cuda();
    mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    for (int k = 0; k < 3; k++) {
        /* 3 x 5 x 7 x 9: odd sizes, so no vector width divides a row */
        mf_tensor *in[2] = {t_uniform(6, 4, (int64_t[]){3, 5, 7, 9}, dts[k], -1, 1),
                            t_uniform(7, 4, (int64_t[]){3, 5, 7, 9}, dts[k], -1, 1)};
        t_cuda_compare("relu(a) + b * a, channels-last", 2, in, (bool[]){true, true}, op_elementwise, NULL, 8);
        mf_tensor_release(in[0]);
        mf_tensor_release(in[1]);
    }
}

/* a (channels-last) + b (contiguous): the output follows a; the kernel
 * walks it in memory order and reads b strided. */
static mf_status op_mixed(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    mf_tensor *a;
    MF_TRY(mf_contiguous_channels_last(in[0], &a));
    mf_status st = mf_add(a, in[1], out);
    mf_tensor_release(a);
    if (st == MF_OK)
        cr_assert(mf_tensor_is_channels_last(*out) && !mf_tensor_is_contiguous(*out));
    return st;
}

Test(cuda_channels_last, mixed_layouts_add_up_as_on_the_cpu) {
    t_need_cuda();
    mf_tensor *in[2] = {t_uniform(8, 5, (int64_t[]){2, 3, 4, 5, 6}, MF_F32, -1, 1),
                        t_uniform(9, 5, (int64_t[]){2, 3, 4, 5, 6}, MF_F32, -1, 1)};
    t_cuda_compare("channels-last + contiguous", 2, in, (bool[]){true, true}, op_mixed, NULL, 4);
    mf_tensor_release(in[0]);
    mf_tensor_release(in[1]);
}

/* A ResNet bottleneck-like block under the switch: conv - batch norm + relu
 * - conv (stride 2) - batch norm, plus a strided 1x1 conv of the input,
 * relu, max pool, global average pool. in: x, w1, w2, wd, bn weight, bn
 * bias (one per channel count; running statistics are per call). */
static mf_status op_block(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    (void)ctx;
    mf_device dev = in[0]->storage->device;
    int64_t c = in[1]->shape[0], c2 = in[2]->shape[0];
    mf_tensor *rm = NULL, *rv = NULL, *rm2 = NULL, *rv2 = NULL, *a = NULL, *b = NULL, *d = NULL, *e = NULL;
    mf_tensor *s = NULL, *r = NULL, *mp = NULL, *w = NULL, *bb = NULL, *w2 = NULL, *b2 = NULL;
    mf_status st;
    bool was = mf_conv_set_channels_last(true);
    MF_CHECK(mf_tensor_zeros(1, &c, MF_F32, dev, &rm));
    MF_CHECK(mf_tensor_full(1, &c, MF_F32, dev, 1, &rv));
    MF_CHECK(mf_tensor_zeros(1, &c2, MF_F32, dev, &rm2));
    MF_CHECK(mf_tensor_full(1, &c2, MF_F32, dev, 1, &rv2));
    MF_CHECK(mf_slice(in[4], 0, 0, c, 1, &w));
    MF_CHECK(mf_slice(in[5], 0, 0, c, 1, &bb));
    MF_CHECK(mf_slice(in[4], 0, 0, c2, 1, &w2));
    MF_CHECK(mf_slice(in[5], 0, 0, c2, 1, &b2));
    mf_conv_params p1 = mf_conv_params_default(), p2 = mf_conv_params_default(), pd = mf_conv_params_default();
    p1.padding[0] = p1.padding[1] = 1;
    p2.padding[0] = p2.padding[1] = 1;
    p2.stride[0] = p2.stride[1] = 2;
    pd.stride[0] = pd.stride[1] = 2;
    MF_CHECK(mf_conv(in[0], in[1], NULL, &p1, &a));
    MF_CHECK(mf_batch_norm_relu(a, rm, rv, w, bb, true, 0.1, 1e-5, &b));
    MF_CHECK(mf_conv(b, in[2], NULL, &p2, &d));
    MF_CHECK(mf_batch_norm(d, rm2, rv2, w2, b2, true, 0.1, 1e-5, &e));
    mf_tensor_release(d);
    d = NULL;
    MF_CHECK(mf_conv(in[0], in[3], NULL, &pd, &d));
    MF_CHECK(mf_add(e, d, &s));
    MF_CHECK(mf_relu(s, &r));
    if (dev.type == MF_CUDA)
        cr_assert(mf_tensor_is_channels_last(r) && !mf_tensor_is_contiguous(r), "the block stays channels-last");
    mf_pool_params pp = {0};
    pp.kernel[0] = pp.kernel[1] = 3;
    pp.stride[0] = pp.stride[1] = 2;
    pp.padding[0] = pp.padding[1] = 1;
    MF_CHECK(mf_max_pool(r, &pp, &mp));
    MF_CHECK(mf_adaptive_avg_pool(mp, (int64_t[]){1, 1}, out));
cleanup:
    mf_conv_set_channels_last(was);
    mf_tensor *list[] = {rm, rv, rm2, rv2, a, b, d, e, s, r, mp, w, bb, w2, b2};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        mf_tensor_release(list[i]);
    return st;
}

Test(cuda_channels_last, a_residual_block_trains_channels_last_to_the_cpus_values) {
    t_need_cuda();
    t_cuda_exact();
    mf_tensor *in[6] = {t_uniform(10, 4, (int64_t[]){4, 6, 10, 9}, MF_F32, -1, 1),
                        t_uniform(11, 4, (int64_t[]){8, 6, 3, 3}, MF_F32, -0.5, 0.5),
                        t_uniform(12, 4, (int64_t[]){12, 8, 3, 3}, MF_F32, -0.5, 0.5),
                        t_uniform(13, 4, (int64_t[]){12, 6, 1, 1}, MF_F32, -0.5, 0.5),
                        t_uniform(14, 1, (int64_t[]){12}, MF_F32, 0.5, 1.5),
                        t_uniform(15, 1, (int64_t[]){12}, MF_F32, -0.5, 0.5)};
    bool g[6] = {true, true, true, true, true, true};
    t_cuda_compare("residual block", 6, in, g, op_block, NULL, 16);
    for (int i = 0; i < 6; i++)
        mf_tensor_release(in[i]);
}

typedef struct {
    int kind; /* 0 max, 1 avg, 2 adaptive avg */
    mf_pool_params p;
    int64_t out[3];
} pool_case;

/* The pool on a channels-last copy of the input: on CUDA the output keeps
 * the layout. */
static mf_status op_pool_cl(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const pool_case *c = ctx;
    mf_tensor *x;
    MF_TRY(mf_contiguous_channels_last(in[0], &x));
    mf_status st = c->kind == 0   ? mf_max_pool(x, &c->p, out)
                   : c->kind == 1 ? mf_avg_pool(x, &c->p, out)
                                  : mf_adaptive_avg_pool(x, c->out, out);
    mf_tensor_release(x);
    if (st == MF_OK && (*out)->storage->device.type == MF_CUDA)
        cr_assert(mf_tensor_is_channels_last(*out) && !mf_tensor_is_contiguous(*out),
                  "a cuda pool keeps a channels-last input's layout");
    return st;
}

static pool_case pool_of(int kind, int64_t k, int64_t s, int64_t pad) {
    pool_case c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.out[0] = 3, c.out[1] = 2, c.out[2] = 2;
    for (int d = 0; d < 3; d++)
        c.p.kernel[d] = k, c.p.stride[d] = s, c.p.padding[d] = pad;
    return c;
}

Test(cuda_channels_last, pooling_keeps_the_layout_and_matches_the_cpu) {
    t_need_cuda();
    pool_case mx = pool_of(0, 3, 2, 1), dil = pool_of(0, 2, 1, 0), av = pool_of(1, 3, 2, 1), ex = pool_of(1, 2, 2, 1);
    pool_case ad = pool_of(2, 1, 1, 0);
    dil.p.dilation[0] = dil.p.dilation[1] = 2;
    dil.p.ceil_mode = true;
    ex.p.count_include_pad = false;
    ex.p.ceil_mode = true;
    const pool_case *cases[5] = {&mx, &dil, &av, &ex, &ad};
    const char *names[5] = {"max 3/2 pad 1", "max dilated ceil", "avg 3/2 pad 1", "avg ceil without pad",
                            "adaptive avg"};
    mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 5; i++) {
            mf_tensor *in2[1] = {t_uniform(20 + i, 4, (int64_t[]){2, 37, 9, 8}, dts[k], -1, 1)};
            t_cuda_compare(names[i], 1, in2, (bool[]){true}, op_pool_cl, cases[i], 8);
            mf_tensor_release(in2[0]);
        }
    /* 3-D: (N, C, D, H, W) */
    mf_tensor *in3[1] = {t_uniform(30, 5, (int64_t[]){2, 5, 4, 6, 5}, MF_F32, -1, 1)};
    t_cuda_compare("max 3-D", 1, in3, (bool[]){true}, op_pool_cl, &mx, 8);
    t_cuda_compare("adaptive avg 3-D", 1, in3, (bool[]){true}, op_pool_cl, &ad, 8);
    mf_tensor_release(in3[0]);
}
