/* Max, average and adaptive-average pooling: PyTorch golden values
 * (forward and backward, f64 and f32), finite-difference gradients, and
 * bad input. Cases mirror tools/fixtures/gen_pool.py. */
#include <math.h>
#include <string.h>

#include "tests/core/ops/golden.h"

typedef enum { MAX, AVG, ADAPT } kind;

typedef struct {
    const char *name;
    kind k;
    mf_pool_params p;
    int64_t out[3]; /* adaptive */
} pcase;

static mf_status run_case(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    const pcase *c = ctx;
    switch (c->k) {
    case MAX: return mf_max_pool(in[0], &c->p, out);
    case AVG: return mf_avg_pool(in[0], &c->p, out);
    case ADAPT: return mf_adaptive_avg_pool(in[0], c->out, out);
    }
    return MF_ERR_INVALID;
}

static const pcase cases[] = {
    {"max1d", MAX, {.kernel = {3}, .stride = {2}, .padding = {1}, .dilation = {2}, .ceil_mode = true}, {0}},
    {"max2d", MAX, {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}, .dilation = {1, 2}, .ceil_mode = true},
     {0}},
    {"max3d", MAX, {.kernel = {2, 2, 2}, .padding = {1, 0, 1}}, {0}},
    {"avg1d", AVG, {.kernel = {3}, .stride = {2}, .padding = {1}, .ceil_mode = true, .count_include_pad = false},
     {0}},
    {"avg2d", AVG,
     {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true, .count_include_pad = true}, {0}},
    {"avg3d", AVG,
     {.kernel = {2, 3, 2}, .stride = {1, 2, 2}, .padding = {1, 1, 0}, .ceil_mode = true,
      .count_include_pad = false},
     {0}},
    {"adapt1d", ADAPT, {.ceil_mode = false}, {4}},
    {"adapt2d", ADAPT, {.ceil_mode = false}, {3, 4}},
    {"adapt3d", ADAPT, {.ceil_mode = false}, {2, 3, 4}},
};
#define N_CASES (sizeof cases / sizeof cases[0])

Test(pool, forward_and_backward_match_torch_in_f64) {
    for (size_t i = 0; i < N_CASES; i++)
        t_golden("pool.safetensors", cases[i].name, run_case, (void *)&cases[i], MF_F64);
}

Test(pool, forward_and_backward_match_torch_in_f32) {
    for (size_t i = 0; i < N_CASES; i++)
        t_golden("pool.safetensors", cases[i].name, run_case, (void *)&cases[i], MF_F32);
}

Test(pool, grads_match_finite_difference_for_every_mode) {
    for (size_t i = 0; i < N_CASES; i++)
        t_golden_gradcheck("pool.safetensors", cases[i].name, run_case, (void *)&cases[i]);
}

Test(pool, max_pool_sends_the_gradient_to_the_argmax) {
    mf_tensor *x = t_param(t_from(3, (int64_t[]){1, 1, 6}, MF_F64, (double[]){1, 3, 2, -5, -4, -6}));
    mf_pool_params p = {.kernel = {2}, .padding = {1}};
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_max_pool(x, &p, &y));
    /* windows: [pad, 1], [3, 2], [-5, -4], [-6, pad]: padding is -inf, never 0 */
    mf_tensor *want = t_from(3, (int64_t[]){1, 1, 4}, MF_F64, (double[]){1, 3, -4, -6});
    t_assert_close(y, want, 0, 0, "max_pool");
    mf_tensor *g = t_from(3, (int64_t[]){1, 1, 4}, MF_F64, (double[]){10, 20, 30, 40});
    MF_OK_OR_FAIL(mf_backward(y, g, false));
    mf_tensor *gwant = t_from(3, (int64_t[]){1, 1, 6}, MF_F64, (double[]){10, 20, 0, 0, 30, 40});
    t_assert_close(x->grad, gwant, 0, 0, "max_pool grad");
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(want);
    mf_tensor_release(g);
    mf_tensor_release(gwant);
}

Test(pool, strided_input_gives_the_same_result_as_contiguous) {
    mf_tensor *x = t_uniform(5, 4, (int64_t[]){2, 3, 6, 5}, MF_F32, -1, 1);
    mf_tensor *xt, *xc, *a, *b;
    MF_OK_OR_FAIL(mf_transpose(x, 2, 3, &xt));
    MF_OK_OR_FAIL(mf_contiguous(xt, &xc));
    mf_pool_params p = {.kernel = {2, 3}, .stride = {1, 2}, .padding = {1, 1}};
    MF_OK_OR_FAIL(mf_avg_pool(xt, &p, &a));
    MF_OK_OR_FAIL(mf_avg_pool(xc, &p, &b));
    t_assert_close(a, b, 0, 0, "avg_pool on a transposed view");
    mf_tensor_release(x);
    mf_tensor_release(xt);
    mf_tensor_release(xc);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(pool, adaptive_pool_to_one_is_the_global_mean) {
    mf_tensor *x = t_uniform(9, 5, (int64_t[]){2, 3, 4, 5, 6}, MF_F64, -1, 1);
    mf_tensor *y, *m;
    MF_OK_OR_FAIL(mf_adaptive_avg_pool(x, (int64_t[]){1, 1, 1}, &y));
    MF_OK_OR_FAIL(mf_mean(x, 3, (int[]){2, 3, 4}, true, &m));
    t_assert_close(y, m, 1e-14, 1e-12, "adaptive to 1");
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(m);
}

Test(pool, wrong_rank_is_a_shape_error_naming_the_op) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, 0, 1), *y = NULL;
    mf_pool_params p = {.kernel = {2}};
    cr_assert_eq(mf_max_pool(x, &p, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "max_pool") && strstr(mf_last_error(), "[3, 4]"), "%s", mf_last_error());
    cr_assert_eq(mf_adaptive_avg_pool(x, (int64_t[]){1}, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "adaptive_avg_pool"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(pool, kernel_larger_than_input_is_a_shape_error) {
    mf_tensor *x = t_uniform(1, 4, (int64_t[]){1, 2, 3, 8}, MF_F32, 0, 1), *y = NULL;
    mf_pool_params p = {.kernel = {5, 2}};
    cr_assert_eq(mf_avg_pool(x, &p, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "avg_pool") && strstr(mf_last_error(), "[1, 2, 3, 8]"), "%s",
              mf_last_error());
    mf_pool_params q = {.kernel = {2, 3}, .dilation = {3, 1}};
    cr_assert_eq(mf_max_pool(x, &q, &y), MF_ERR_SHAPE);
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(pool, bad_params_are_invalid) {
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){1, 2, 8}, MF_F32, 0, 1), *y = NULL;
    mf_pool_params big_pad = {.kernel = {3}, .padding = {2}};
    cr_assert_eq(mf_max_pool(x, &big_pad, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "padding"), "%s", mf_last_error());
    mf_pool_params zero_k = {.kernel = {0}};
    cr_assert_eq(mf_avg_pool(x, &zero_k, &y), MF_ERR_INVALID);
    cr_assert_eq(mf_adaptive_avg_pool(x, (int64_t[]){0}, &y), MF_ERR_SHAPE);
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(pool, integer_input_is_a_dtype_error) {
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){1, 2, 8}, MF_I32, 0, 5), *y = NULL;
    mf_pool_params p = {.kernel = {2}};
    cr_assert_eq(mf_max_pool(x, &p, &y), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "max_pool"), "%s", mf_last_error());
    mf_tensor_release(x);
}

/* pool_sweep.safetensors: 30 random configurations; sw_pool<i>.p =
 * [nsp, kind, kernel[3], stride[3], padding[3], dilation[3], ceil,
 * count_include_pad, out_size[3]]. */
Test(pool, random_configurations_match_torch) {
    for (int i = 0; i < 30; i++) {
        char name[32];
        snprintf(name, sizeof name, "sw_pool%d", i);
        mf_tensor *p = t_golden_load("pool_sweep.safetensors", name, "p", MF_I64);
        pcase c = {.name = name, .k = (kind)mf_tensor_get_flat(p, 1)};
        for (int d = 0; d < 3; d++) {
            c.p.kernel[d] = (int64_t)mf_tensor_get_flat(p, 2 + d);
            c.p.stride[d] = (int64_t)mf_tensor_get_flat(p, 5 + d);
            c.p.padding[d] = (int64_t)mf_tensor_get_flat(p, 8 + d);
            c.p.dilation[d] = (int64_t)mf_tensor_get_flat(p, 11 + d);
            c.out[d] = (int64_t)mf_tensor_get_flat(p, 16 + d);
        }
        c.p.ceil_mode = mf_tensor_get_flat(p, 14) != 0;
        c.p.count_include_pad = mf_tensor_get_flat(p, 15) != 0;
        t_golden("pool_sweep.safetensors", name, run_case, &c, MF_F64);
        mf_tensor_release(p);
    }
}
