/* Benchmarks of the optim and io areas, each with a ratio against a
 * reference measured in the same run:
 *  - fused Adam step vs the same update composed from elementwise ops
 *    (what an optimiser written with ops would cost);
 *  - safetensors get (zero-copy view) vs copying the tensor out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "medfm/medfm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHECK(x)                                                                     \
    do {                                                                             \
        if ((x) != MF_OK) {                                                          \
            fprintf(stderr, "%s failed: %s\n", #x, mf_last_error());                 \
            return 1;                                                                \
        }                                                                            \
    } while (0)

/* Adam update written with ops (allocating temporaries like eager code). */
static mf_status adam_composed(mf_tensor *p, const mf_tensor *g, mf_tensor *m, mf_tensor *v, double lr, int t) {
    mf_tensor *g2, *sq, *den, *upd;
    MF_TRY(mf_mul_scalar_(m, 0.9));
    MF_TRY(mf_axpy_(m, 0.1, g));
    MF_TRY(mf_mul(g, g, &g2));
    MF_TRY(mf_mul_scalar_(v, 0.999));
    MF_TRY(mf_axpy_(v, 0.001, g2));
    MF_TRY(mf_sqrt(v, &sq));
    MF_TRY(mf_affine(sq, 1.0 / sqrt(1 - pow(0.999, t)), 1e-8, &den));
    MF_TRY(mf_div(m, den, &upd));
    MF_TRY(mf_axpy_(p, -lr / (1 - pow(0.9, t)), upd));
    mf_tensor_release(g2);
    mf_tensor_release(sq);
    mf_tensor_release(den);
    mf_tensor_release(upd);
    return MF_OK;
}

int main(void) {
    int64_t n = 8 << 20; /* 8M f32 parameters = 32 MB */
    mf_tensor *p, *g, *m, *v;
    CHECK(mf_tensor_full(1, &n, MF_F32, MF_DEVICE_CPU, 0.5, &p));
    CHECK(mf_tensor_full(1, &n, MF_F32, MF_DEVICE_CPU, 0.01, &g));
    CHECK(mf_tensor_zeros(1, &n, MF_F32, MF_DEVICE_CPU, &m));
    CHECK(mf_tensor_zeros(1, &n, MF_F32, MF_DEVICE_CPU, &v));
    CHECK(mf_tensor_set_requires_grad(p, true));
    p->grad = mf_tensor_retain(g);
    mf_adam_options o = mf_adam_defaults(1e-3);
    mf_optimizer *opt;
    CHECK(mf_adam_new(&p, 1, &o, &opt));
    const int reps = 10;
    CHECK(mf_optim_step(opt));
    double t0 = now();
    for (int i = 0; i < reps; i++)
        CHECK(mf_optim_step(opt));
    double fused = (now() - t0) / reps;
    mf_grad_set_enabled(false);
    CHECK(adam_composed(p, g, m, v, 1e-3, 1));
    t0 = now();
    for (int i = 0; i < reps; i++)
        CHECK(adam_composed(p, g, m, v, 1e-3, i + 2));
    double composed = (now() - t0) / reps;
    printf("adam step, %lld f32 params, %d threads: fused %.2f ms (%.1f GB/s), composed ops %.2f ms, speedup %.2fx\n",
           (long long)n, mf_num_threads(), fused * 1e3, 5.0 * 4 * (double)n / fused / 1e9, composed * 1e3,
           composed / fused);

    char path[] = "/tmp/mf_bench_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    const char *name = "w";
    t0 = now();
    CHECK(mf_safetensors_save(path, 1, &name, &p, 0, NULL));
    double save = now() - t0;
    mf_safetensors *f;
    CHECK(mf_safetensors_open(path, &f));
    mf_tensor *r;
    t0 = now();
    for (int i = 0; i < reps; i++) {
        CHECK(mf_safetensors_get(f, name, &r));
        mf_tensor_release(r);
    }
    double view = (now() - t0) / reps;
    CHECK(mf_safetensors_get(f, name, &r));
    t0 = now();
    for (int i = 0; i < reps; i++) {
        mf_tensor *c;
        CHECK(mf_tensor_from_data(1, &n, MF_F32, mf_tensor_data(r), &c));
        mf_tensor_release(c);
    }
    double copy = (now() - t0) / reps;
    printf("safetensors 32 MB: save (fsync'd) %.1f ms; get %.4f ms (zero-copy) vs copy %.2f ms, ratio %.0fx\n",
           save * 1e3, view * 1e3, copy * 1e3, copy / view);
    mf_tensor_release(r);
    mf_safetensors_close(f);
    unlink(path);
    mf_optimizer_free(opt);
    mf_tensor_release(p);
    mf_tensor_release(g);
    mf_tensor_release(m);
    mf_tensor_release(v);
    return 0;
}
