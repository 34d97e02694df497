/* CUDA convolutions (cuDNN) against the CPU backend, forward and backward
 * (input, weight, bias): 1-D, 2-D and 3-D, strided, padded, dilated and
 * grouped, and transposed convolutions, in exact f32 and f64, and in bf16
 * and f16 (cuDNN with f32 compute against the CPU's f32-then-round); the
 * timed algorithm search (medfm/conv_algo.h) gives the same results. */
#include <string.h>

#include "medfm/conv_algo.h"
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

static mf_conv_algo_counts algo_counts(void) {
    mf_conv_algo_counts n;
    MF_OK_OR_FAIL(mf_conv_algo_counts_get(T_CUDA, &n));
    return n;
}

/* Under the search policy each new shape's three directions are timed
 * once (forward, backward data, backward filter) on the call's own
 * buffers, which the search overwrites: the results, bias included, still
 * match the CPU, and a second pass over the same shapes searches nothing. */
Test(cuda_conv, the_timed_algorithm_search_matches_the_cpu_and_runs_once_per_shape) {
    t_need_cuda();
    MF_OK_OR_FAIL(mf_conv_algo_policy_set(T_CUDA, MF_CONV_ALGO_SEARCH));
    conv_case plain = make(1, 1, 1, 1, false), tr = make(2, 1, 1, 1, true);
    mf_conv_algo_counts n0 = algo_counts();
    for (int pass = 0; pass < 2; pass++) {
        t_cuda_exact();
        run_case("searched conv2d", 2, (int64_t[]){2, 3, 9, 8}, (int64_t[]){5, 3, 3, 3}, &plain, MF_F32);
        run_case("searched conv_transpose3d", 3, (int64_t[]){1, 3, 3, 4, 3}, (int64_t[]){3, 2, 2, 2, 2}, &tr,
                 MF_F32);
        run_case_slack("searched bf16 conv2d", 2, (int64_t[]){2, 4, 11, 10}, (int64_t[]){6, 4, 3, 3}, &plain,
                       MF_BF16, 1);
        mf_conv_algo_counts n = algo_counts();
        cr_assert_eq(n.searched - n0.searched, 9, "pass %d: 3 shapes x 3 directions timed once, got %llu", pass,
                     (unsigned long long)(n.searched - n0.searched));
        cr_assert_eq(n.heuristic, n0.heuristic, "no heuristic choice under the search policy");
    }
    /* Back to the heuristics: the same shapes are chosen anew, without timing. */
    MF_OK_OR_FAIL(mf_conv_algo_policy_set(T_CUDA, MF_CONV_ALGO_HEURISTIC));
    run_case("heuristic conv2d", 2, (int64_t[]){2, 3, 9, 8}, (int64_t[]){5, 3, 3, 3}, &plain, MF_F32);
    mf_conv_algo_counts n = algo_counts();
    cr_assert_eq(n.searched - n0.searched, 9);
    cr_assert_eq(n.heuristic - n0.heuristic, 3);
}

Test(cuda_conv, the_algorithm_policy_refuses_a_cpu_device_and_an_unknown_policy) {
    mf_status st = mf_conv_algo_policy_set(MF_DEVICE_CPU, MF_CONV_ALGO_SEARCH);
    cr_assert_eq(st, MF_ERR_DEVICE);
    cr_assert(strstr(mf_last_error(), "cuda devices, not cpu"), "%s", mf_last_error());
    st = mf_conv_algo_policy_set(T_CUDA, (mf_conv_algo_policy)7);
    cr_assert_eq(st, MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "unknown policy 7"), "%s", mf_last_error());
    cr_assert_eq(mf_conv_algo_counts_get(T_CUDA, NULL), MF_ERR_INVALID);
}
