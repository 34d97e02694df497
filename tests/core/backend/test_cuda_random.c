/* CUDA random fills against the CPU backend: the same generator state
 * gives bit-identical uniform draws and dropout masks, and the same normal,
 * gumbel and truncated-normal values up to the last bit of the device's
 * transcendental functions. */
#include "medfm/ops/random.h"
#include "medfm/ops/view.h"
#include "tests/core/backend/cuda_compare.h"

typedef mf_status (*fill_fn)(mf_tensor *t, mf_rng *rng);
static mf_status f_uniform(mf_tensor *t, mf_rng *r) { return mf_rand_uniform_(t, r, -2, 3); }
static mf_status f_normal(mf_tensor *t, mf_rng *r) { return mf_rand_normal_(t, r, 1, 2); }
static mf_status f_gumbel(mf_tensor *t, mf_rng *r) { return mf_rand_gumbel_(t, r, 0.5, 2); }
static mf_status f_trunc(mf_tensor *t, mf_rng *r) { return mf_rand_trunc_normal_(t, r, 0, 1, -0.5, 1.5); }

static void compare_fill(fill_fn f, mf_dtype dt, double rtol, const char *what) {
    mf_tensor *c, *g;
    int64_t shape[3] = {5, 7, 9};
    MF_OK_OR_FAIL(mf_tensor_empty(3, shape, dt, MF_DEVICE_CPU, &c));
    MF_OK_OR_FAIL(mf_tensor_empty(3, shape, dt, T_CUDA, &g));
    /* twice, so the second draw starts at an advanced offset; also a strided view */
    for (int round = 0; round < 3; round++) {
        mf_rng rc, rg;
        mf_rng_init(&rc, 1234 + (uint64_t)round);
        mf_rng_init(&rg, 1234 + (uint64_t)round);
        if (round == 2) {
            mf_tensor *vc, *vg;
            MF_OK_OR_FAIL(mf_permute(c, (int[]){2, 0, 1}, &vc));
            MF_OK_OR_FAIL(mf_permute(g, (int[]){2, 0, 1}, &vg));
            MF_OK_OR_FAIL(f(vc, &rc));
            MF_OK_OR_FAIL(f(vg, &rg));
            mf_tensor_release(vc);
            mf_tensor_release(vg);
        } else {
            MF_OK_OR_FAIL(f(c, &rc));
            MF_OK_OR_FAIL(f(g, &rg));
            MF_OK_OR_FAIL(f(c, &rc));
            MF_OK_OR_FAIL(f(g, &rg));
        }
        mf_tensor *h = t_on(g, MF_DEVICE_CPU, false);
        t_assert_close(h, c, 0, rtol, what);
        mf_tensor_release(h);
    }
    mf_tensor_release(c);
    mf_tensor_release(g);
}

Test(cuda_random, uniform_draws_are_bit_identical_to_the_cpu) {
    t_need_cuda();
    compare_fill(f_uniform, MF_F32, 0, "uniform f32");
    compare_fill(f_uniform, MF_F64, 0, "uniform f64");
}

Test(cuda_random, normal_gumbel_and_trunc_normal_match_the_cpu) {
    t_need_cuda();
    fill_fn fs[] = {f_normal, f_gumbel, f_trunc};
    for (int i = 0; i < 3; i++) {
        compare_fill(fs[i], MF_F32, 1e-6, "normal-like f32");
        compare_fill(fs[i], MF_F64, 1e-13, "normal-like f64");
    }
}

Test(cuda_random, dropout_masks_are_bit_identical_to_the_cpu) {
    t_need_cuda();
    mf_tensor *x = t_uniform(3, 2, (int64_t[]){33, 17}, MF_F32, -1, 1), *dx = t_on(x, T_CUDA, false), *y, *dy;
    mf_rng rc, rg;
    mf_rng_init(&rc, 77);
    mf_rng_init(&rg, 77);
    MF_OK_OR_FAIL(mf_dropout(x, 0.3, true, &rc, &y));
    MF_OK_OR_FAIL(mf_dropout(dx, 0.3, true, &rg, &dy));
    mf_tensor *h = t_on(dy, MF_DEVICE_CPU, false);
    t_assert_close(h, y, 0, 0, "dropout");
    mf_tensor *all[] = {x, dx, y, dy, h};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mf_tensor_release(all[i]);
}
