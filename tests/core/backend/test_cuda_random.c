/* CUDA random fills against the CPU backend: the same generator state
 * gives bit-identical uniform draws and dropout masks, and the same normal,
 * gumbel and truncated-normal values up to the last bit of the device's
 * transcendental functions; drop_path drops the same samples. */
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

typedef struct {
    uint64_t seed;
    double p;
    bool training;
} drop_ctx;

/* drop_path of x [8, 3, 5] read through a permutation of a [3, 8, 5]
 * (strided, batch dim 0 of the view), with a fresh generator per call. */
static mf_status op_drop_path(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const drop_ctx *c = ctx;
    mf_tensor *x;
    mf_rng rng;
    mf_rng_init(&rng, c->seed);
    MF_TRY(mf_permute(in[0], (int[]){1, 0, 2}, &x));
    mf_status st = mf_drop_path(x, c->p, c->training, &rng, out);
    mf_tensor_release(x);
    return st;
}

/* The same seed drops the same samples on both devices (the Philox stream
 * is shared), so output and gradient match the CPU exactly; a sample is
 * dropped or kept whole. */
Test(cuda_random, drop_path_drops_the_same_whole_samples_as_the_cpu) {
    t_need_cuda();
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(700 + k, 3, (int64_t[]){3, 8, 5}, dts[k], 0.5, 2);
        bool g[1] = {true};
        drop_ctx c = {.seed = 91, .p = 0.4, .training = true};
        t_cuda_compare("drop_path", 1, &x, g, op_drop_path, &c, 0);
        mf_tensor *dx = t_on(x, T_CUDA, false), *y, *h;
        MF_OK_OR_FAIL(op_drop_path(&dx, &c, &y));
        h = t_on(y, MF_DEVICE_CPU, false);
        int dropped = 0;
        for (int64_t s = 0; s < 8; s++) {
            int zeros = 0;
            for (int64_t i = 0; i < 15; i++)
                zeros += mf_tensor_get_flat(h, s * 15 + i) == 0.0;
            cr_assert(zeros == 0 || zeros == 15, "sample %lld is partly dropped (%d of 15 zeros)", (long long)s, zeros);
            dropped += zeros == 15;
        }
        cr_assert(dropped > 0 && dropped < 8, "seed 91 should drop some samples and keep others, dropped %d",
                  dropped);
        mf_tensor *all[] = {x, dx, y, h};
        t_release_all(all, 4);
    }
}

/* Outside training (and at p = 0) drop_path is x itself. */
Test(cuda_random, drop_path_outside_training_is_the_identity_on_the_device) {
    t_need_cuda();
    mf_tensor *x = t_uniform(710, 2, (int64_t[]){4, 6}, MF_F32, -1, 1), *dx = t_on(x, T_CUDA, false), *y;
    mf_rng rng;
    mf_rng_init(&rng, 5);
    MF_OK_OR_FAIL(mf_drop_path(dx, 0.5, false, &rng, &y));
    cr_assert_eq(y, dx, "drop_path in eval mode should return its input");
    mf_tensor_release(y);
    MF_OK_OR_FAIL(mf_drop_path(dx, 0.0, true, &rng, &y));
    cr_assert_eq(y, dx, "drop_path with p = 0 should return its input");
    mf_tensor *all[] = {x, dx, y};
    t_release_all(all, 3);
}
