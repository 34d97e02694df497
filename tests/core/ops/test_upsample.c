/* Upsampling (nearest; linear, bilinear, trilinear with and without
 * align_corners): PyTorch golden values forward and backward in f64 and
 * f32, finite-difference gradients, bad input. Cases mirror
 * tools/fixtures/gen_pool.py. */
#include <string.h>

#include "tests/core/ops/golden.h"

typedef struct {
    const char *name;
    mf_upsample_mode mode;
    bool align;
    int64_t out[3];
} ucase;

static mf_status run_case(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    const ucase *c = ctx;
    return mf_upsample(in[0], c->out, c->mode, c->align, out);
}

static const ucase cases[] = {
    {"near1d", MF_UPSAMPLE_NEAREST, false, {12}},
    {"near2d", MF_UPSAMPLE_NEAREST, false, {9, 3}},
    {"near3d", MF_UPSAMPLE_NEAREST, false, {6, 7, 3}},
    {"lin1d_hp", MF_UPSAMPLE_LINEAR, false, {12}},
    {"lin2d_hp", MF_UPSAMPLE_LINEAR, false, {9, 3}},
    {"lin3d_hp", MF_UPSAMPLE_LINEAR, false, {6, 1, 7}},
    {"lin1d_ac", MF_UPSAMPLE_LINEAR, true, {12}},
    {"lin2d_ac", MF_UPSAMPLE_LINEAR, true, {9, 3}},
    {"lin3d_ac", MF_UPSAMPLE_LINEAR, true, {6, 1, 7}},
};
#define N_CASES (sizeof cases / sizeof cases[0])

Test(upsample, forward_and_backward_match_torch_in_f64) {
    for (size_t i = 0; i < N_CASES; i++)
        t_golden("pool.safetensors", cases[i].name, run_case, (void *)&cases[i], MF_F64);
}

Test(upsample, forward_and_backward_match_torch_in_f32) {
    for (size_t i = 0; i < N_CASES; i++)
        t_golden("pool.safetensors", cases[i].name, run_case, (void *)&cases[i], MF_F32);
}

Test(upsample, grads_match_finite_difference_for_every_mode) {
    for (size_t i = 0; i < N_CASES; i++)
        t_golden_gradcheck("pool.safetensors", cases[i].name, run_case, (void *)&cases[i]);
}

Test(upsample, same_size_linear_is_the_identity) {
    mf_tensor *x = t_uniform(3, 4, (int64_t[]){2, 3, 5, 4}, MF_F64, -1, 1), *y;
    for (int ac = 0; ac < 2; ac++) {
        MF_OK_OR_FAIL(mf_upsample(x, (int64_t[]){5, 4}, MF_UPSAMPLE_LINEAR, ac, &y));
        t_assert_close(y, x, 1e-15, 0, "identity resize");
        mf_tensor_release(y);
    }
    mf_tensor_release(x);
}

Test(upsample, zero_output_size_is_a_shape_error) {
    mf_tensor *x = t_uniform(1, 4, (int64_t[]){1, 1, 4, 4}, MF_F32, 0, 1), *y = NULL;
    cr_assert_eq(mf_upsample(x, (int64_t[]){8, 0}, MF_UPSAMPLE_LINEAR, false, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "upsample"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(upsample, wrong_rank_is_a_shape_error_naming_the_shape) {
    mf_tensor *x = t_uniform(1, 6, (int64_t[]){1, 1, 2, 2, 2, 2}, MF_F32, 0, 1), *y = NULL;
    cr_assert_eq(mf_upsample(x, (int64_t[]){4, 4, 4, 4}, MF_UPSAMPLE_NEAREST, false, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "upsample") && strstr(mf_last_error(), "[1, 1, 2, 2, 2, 2]"), "%s",
              mf_last_error());
    mf_tensor_release(x);
}

/* pool_sweep.safetensors: 21 random configurations (up- and downsampling);
 * sw_up<i>.p = [nsp, mode (0 nearest, 1 linear, 2 linear align_corners),
 * out_size[3]]. */
Test(upsample, random_configurations_match_torch) {
    for (int i = 0; i < 21; i++) {
        char name[32];
        snprintf(name, sizeof name, "sw_up%d", i);
        mf_tensor *p = t_golden_load("pool_sweep.safetensors", name, "p", MF_I64);
        int mode = (int)mf_tensor_get_flat(p, 1);
        ucase c = {.name = name, .mode = mode ? MF_UPSAMPLE_LINEAR : MF_UPSAMPLE_NEAREST, .align = mode == 2};
        for (int d = 0; d < 3; d++)
            c.out[d] = (int64_t)mf_tensor_get_flat(p, 2 + d);
        t_golden("pool_sweep.safetensors", name, run_case, &c, MF_F64);
        mf_tensor_release(p);
    }
}
