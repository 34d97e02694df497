/* CUDA convolutions (cuDNN) against the CPU backend, forward and backward
 * (input, weight, bias): 1-D, 2-D and 3-D, strided, padded, dilated and
 * grouped, and transposed convolutions, in exact f32 and f64, and in bf16
 * and f16 (cuDNN with f32 compute against the CPU's f32-then-round). */
#include "medfm/ops/conv.h"
#include "tests/core/backend/cuda_compare.h"

typedef struct {
    mf_conv_params p;
    bool transpose;
} conv_case;

static mf_status op_conv(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const conv_case *c = ctx;
    return c->transpose ? mf_conv_transpose(in[0], in[1], in[2], &c->p, out) : mf_conv(in[0], in[1], in[2], &c->p, out);
}

static void run_case_slack(const char *what, int nsp, const int64_t *xs, const int64_t *ws, const conv_case *c,
                           mf_dtype dt, double slack) {
    int64_t bs[1] = {c->transpose ? ws[1] * c->p.groups : ws[0]};
    mf_tensor *in[3] = {t_uniform(1, nsp + 2, xs, dt, -1, 1), t_uniform(2, nsp + 2, ws, dt, -1, 1),
                        t_uniform(3, 1, bs, dt, -1, 1)};
    bool g[3] = {true, true, true};
    t_cuda_compare(what, 3, in, g, op_conv, c, slack);
    for (int i = 0; i < 3; i++)
        mf_tensor_release(in[i]);
}

static void run_case(const char *what, int nsp, const int64_t *xs, const int64_t *ws, const conv_case *c, mf_dtype dt) {
    run_case_slack(what, nsp, xs, ws, c, dt, 8);
}

static conv_case make(int64_t s, int64_t pad, int64_t dil, int64_t groups, bool transpose) {
    conv_case c = {mf_conv_params_default(), transpose};
    for (int d = 0; d < 3; d++) {
        c.p.stride[d] = s;
        c.p.padding[d] = pad;
        c.p.dilation[d] = dil;
    }
    c.p.groups = groups;
    return c;
}

Test(cuda_conv, conv2d_forward_and_backward_match_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        conv_case plain = make(1, 1, 1, 1, false), strided = make(2, 1, 1, 1, false);
        conv_case dilated = make(1, 2, 2, 1, false), grouped = make(1, 1, 1, 2, false);
        run_case("conv2d 3x3", 2, (int64_t[]){2, 3, 9, 8}, (int64_t[]){5, 3, 3, 3}, &plain, dt);
        run_case("conv2d stride 2", 2, (int64_t[]){2, 4, 11, 10}, (int64_t[]){6, 4, 3, 3}, &strided, dt);
        run_case("conv2d dilated", 2, (int64_t[]){1, 3, 10, 10}, (int64_t[]){4, 3, 3, 3}, &dilated, dt);
        run_case("conv2d grouped", 2, (int64_t[]){2, 4, 7, 7}, (int64_t[]){6, 2, 3, 3}, &grouped, dt);
    }
}

Test(cuda_conv, conv1d_and_conv3d_match_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    conv_case c1 = make(2, 1, 1, 1, false), c3 = make(1, 1, 1, 1, false);
    run_case("conv1d", 1, (int64_t[]){3, 4, 20}, (int64_t[]){5, 4, 3}, &c1, MF_F32);
    run_case("conv3d", 3, (int64_t[]){2, 2, 6, 5, 7}, (int64_t[]){3, 2, 3, 3, 3}, &c3, MF_F32);
}

Test(cuda_conv, transposed_conv_matches_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    conv_case t2 = make(2, 1, 1, 1, true), t3 = make(2, 0, 1, 1, true), tg = make(1, 1, 1, 2, true);
    t2.p.output_padding[0] = t2.p.output_padding[1] = t2.p.output_padding[2] = 1;
    run_case("conv_transpose2d", 2, (int64_t[]){2, 4, 5, 6}, (int64_t[]){4, 3, 3, 3}, &t2, MF_F32);
    run_case("conv_transpose3d", 3, (int64_t[]){1, 3, 3, 4, 3}, (int64_t[]){3, 2, 2, 2, 2}, &t3, MF_F64);
    run_case("conv_transpose grouped", 2, (int64_t[]){2, 4, 5, 5}, (int64_t[]){4, 3, 3, 3}, &tg, MF_F32);
}

Test(cuda_conv, bf16_and_f16_conv_and_transposed_conv_match_the_cpu) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F16 : MF_BF16;
        conv_case plain = make(1, 1, 1, 1, false), strided = make(2, 1, 1, 1, false), tr = make(2, 1, 1, 1, true);
        run_case_slack("low-precision conv2d", 2, (int64_t[]){2, 3, 9, 8}, (int64_t[]){5, 3, 3, 3}, &plain, dt, 1);
        run_case_slack("low-precision conv2d stride 2", 2, (int64_t[]){2, 4, 11, 10}, (int64_t[]){6, 4, 3, 3}, &strided,
                       dt, 1);
        run_case_slack("low-precision conv_transpose2d", 2, (int64_t[]){2, 4, 5, 5}, (int64_t[]){4, 3, 3, 3}, &tr, dt, 1);
        conv_case c3 = make(1, 1, 1, 1, false);
        run_case_slack("low-precision conv3d", 3, (int64_t[]){1, 2, 5, 4, 6}, (int64_t[]){3, 2, 3, 3, 3}, &c3, dt, 1);
    }
}

Test(cuda_conv, conv_over_zero_input_channels_gives_the_bias_as_on_the_cpu) {
    t_need_cuda();
    t_cuda_exact();
    conv_case c = make(1, 1, 1, 1, false), t = make(1, 1, 1, 1, true);
    run_case("conv over no channels", 2, (int64_t[]){2, 0, 5, 5}, (int64_t[]){4, 0, 3, 3}, &c, MF_F32);
    run_case("conv_transpose over no channels", 2, (int64_t[]){2, 0, 5, 5}, (int64_t[]){0, 4, 3, 3}, &t, MF_F32);
}
