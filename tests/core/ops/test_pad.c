/* pad (constant with cropping, reflect, replicate over 1-3 dims) and
 * roll: PyTorch golden values forward and backward, finite-difference
 * gradients, bad input. Cases mirror tools/fixtures/gen_pool.py. */
#include <string.h>

#include "tests/core/ops/golden.h"

typedef struct {
    const char *name;
    mf_pad_mode mode;
    int n;
    int64_t pads[6];
    double value;
} padcase;

static mf_status run_pad(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    const padcase *c = ctx;
    return mf_pad(in[0], c->n, c->pads, c->mode, c->value, out);
}

static const padcase cases[] = {
    {"pad_const", MF_PAD_CONSTANT, 4, {2, -1, 1, 3}, 0.5},
    {"pad_reflect1d", MF_PAD_REFLECT, 2, {3, 5}, 0},
    {"pad_reflect2d", MF_PAD_REFLECT, 4, {4, 2, 3, 1}, 0},
    {"pad_reflect3d", MF_PAD_REFLECT, 6, {1, 2, 3, 0, 2, 1}, 0},
    {"pad_replicate1d", MF_PAD_REPLICATE, 2, {3, 6}, 0},
    {"pad_replicate2d", MF_PAD_REPLICATE, 4, {2, 5, 4, 1}, 0},
    {"pad_replicate3d", MF_PAD_REPLICATE, 6, {1, 2, 3, 1, 2, 2}, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static mf_status run_roll(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    (void)ctx;
    return mf_roll(in[0], 2, (int64_t[]){2, -7}, (int[]){0, 2}, out);
}

static mf_status run_roll_flat(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    (void)ctx;
    return mf_roll(in[0], 0, (int64_t[]){5}, NULL, out);
}

Test(pad, forward_and_backward_match_torch_in_f64_and_f32) {
    for (size_t i = 0; i < N_CASES; i++) {
        t_golden("pool.safetensors", cases[i].name, run_pad, (void *)&cases[i], MF_F64);
        t_golden("pool.safetensors", cases[i].name, run_pad, (void *)&cases[i], MF_F32);
    }
}

Test(pad, grads_match_finite_difference_for_every_mode) {
    for (size_t i = 0; i < N_CASES; i++)
        t_golden_gradcheck("pool.safetensors", cases[i].name, run_pad, (void *)&cases[i]);
}

Test(pad, roll_matches_torch_with_dims_and_flattened) {
    t_golden("pool.safetensors", "roll", run_roll, NULL, MF_F64);
    t_golden("pool.safetensors", "roll_flat", run_roll_flat, NULL, MF_F64);
    t_golden("pool.safetensors", "roll", run_roll, NULL, MF_F32);
}

Test(pad, roll_grads_match_finite_difference) {
    t_golden_gradcheck("pool.safetensors", "roll", run_roll, NULL);
    t_golden_gradcheck("pool.safetensors", "roll_flat", run_roll_flat, NULL);
}

Test(pad, constant_pad_works_on_integer_tensors) {
    mf_tensor *x = t_from(1, (int64_t[]){3}, MF_I64, (double[]){1, 2, 3}), *y;
    MF_OK_OR_FAIL(mf_pad(x, 2, (int64_t[]){1, 2}, MF_PAD_CONSTANT, -7, &y));
    mf_tensor *want = t_from(1, (int64_t[]){6}, MF_I64, (double[]){-7, 1, 2, 3, -7, -7});
    t_assert_close(y, want, 0, 0, "integer pad");
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(want);
}

Test(pad, reflect_pad_not_smaller_than_the_dim_is_a_shape_error) {
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){1, 2, 4}, MF_F32, 0, 1), *y = NULL;
    cr_assert_eq(mf_pad(x, 2, (int64_t[]){4, 0}, MF_PAD_REFLECT, 0, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "pad") && strstr(mf_last_error(), "[1, 2, 4]"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(pad, odd_or_too_many_pads_are_invalid) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, 0, 1), *y = NULL;
    cr_assert_eq(mf_pad(x, 3, (int64_t[]){1, 1, 1}, MF_PAD_CONSTANT, 0, &y), MF_ERR_INVALID);
    cr_assert_eq(mf_pad(x, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, MF_PAD_REPLICATE, 0, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "pad"), "%s", mf_last_error());
    cr_assert_eq(mf_pad(x, 2, (int64_t[]){-3, -2}, MF_PAD_CONSTANT, 0, &y), MF_ERR_SHAPE);
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(pad, roll_over_a_missing_dim_is_an_error) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, 0, 1), *y = NULL;
    cr_assert_neq(mf_roll(x, 1, (int64_t[]){1}, (int[]){2}, &y), MF_OK);
    cr_assert(strstr(mf_last_error(), "roll"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
}

/* pool_sweep.safetensors: 15 random configurations with negative pads;
 * sw_pad<i>.p = [mode (0 constant -1.5, 1 reflect, 2 replicate), n_pads,
 * pads[6]]. */
Test(pad, random_configurations_match_torch) {
    for (int i = 0; i < 15; i++) {
        char name[32];
        snprintf(name, sizeof name, "sw_pad%d", i);
        mf_tensor *p = t_golden_load("pool_sweep.safetensors", name, "p", MF_I64);
        int mode = (int)mf_tensor_get_flat(p, 0);
        padcase c = {.name = name, .n = (int)mf_tensor_get_flat(p, 1), .value = -1.5,
                     .mode = mode == 0 ? MF_PAD_CONSTANT : mode == 1 ? MF_PAD_REFLECT : MF_PAD_REPLICATE};
        for (int d = 0; d < 6; d++)
            c.pads[d] = (int64_t)mf_tensor_get_flat(p, 2 + d);
        t_golden("pool_sweep.safetensors", name, run_pad, &c, MF_F64);
        mf_tensor_release(p);
    }
}
