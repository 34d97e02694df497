/* Times the distinct conv shapes of a ResNet-50 (torchvision v1.5: stride on
 * the 3x3) at batch 8, for 64 px and 224 px inputs: forward, and forward +
 * backward (grad input except for the stem, grad weight). Prints one line
 * per shape; bench/cpu/torch_conv.py times the same shapes (read from
 * `bench_conv --list`) and bench/cpu/run.sh prints the ratios.
 *
 * usage: bench_conv [--list] [--px 64|224] [--reps N] [--cpu]
 * --cpu times process CPU time instead of wall time: with one thread it
 * measures the work done even on a busy machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medfm/medfm.h"

typedef struct {
    const char *name;
    int cin, cout, k, stride, pad, count; /* count: how often ResNet-50 runs it */
    int div;                              /* input size = px / div */
} shape;

static const shape SHAPES[] = {
    {"stem_7x7", 3, 64, 7, 2, 3, 1, 1},
    {"l1_1x1_64_64", 64, 64, 1, 1, 0, 1, 4},
    {"l1_3x3_64", 64, 64, 3, 1, 1, 3, 4},
    {"l1_1x1_64_256", 64, 256, 1, 1, 0, 4, 4}, /* 3 expand + downsample */
    {"l1_1x1_256_64", 256, 64, 1, 1, 0, 2, 4},
    {"l2_1x1_256_128", 256, 128, 1, 1, 0, 1, 4},
    {"l2_3x3_128_s2", 128, 128, 3, 2, 1, 1, 4},
    {"l2_ds_256_512_s2", 256, 512, 1, 2, 0, 1, 4},
    {"l2_1x1_128_512", 128, 512, 1, 1, 0, 4, 8},
    {"l2_1x1_512_128", 512, 128, 1, 1, 0, 3, 8},
    {"l2_3x3_128", 128, 128, 3, 1, 1, 3, 8},
    {"l3_1x1_512_256", 512, 256, 1, 1, 0, 1, 8},
    {"l3_3x3_256_s2", 256, 256, 3, 2, 1, 1, 8},
    {"l3_ds_512_1024_s2", 512, 1024, 1, 2, 0, 1, 8},
    {"l3_1x1_256_1024", 256, 1024, 1, 1, 0, 6, 16},
    {"l3_1x1_1024_256", 1024, 256, 1, 1, 0, 5, 16},
    {"l3_3x3_256", 256, 256, 3, 1, 1, 5, 16},
    {"l4_1x1_1024_512", 1024, 512, 1, 1, 0, 1, 16},
    {"l4_3x3_512_s2", 512, 512, 3, 2, 1, 1, 16},
    {"l4_ds_1024_2048_s2", 1024, 2048, 1, 2, 0, 1, 16},
    {"l4_1x1_512_2048", 512, 2048, 1, 1, 0, 3, 32},
    {"l4_1x1_2048_512", 2048, 512, 1, 1, 0, 2, 32},
    {"l4_3x3_512", 512, 512, 3, 1, 1, 2, 32},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])
#define BATCH 8

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define CHECK(expr)                                                                      \
    do {                                                                                 \
        if ((expr) != MF_OK) {                                                           \
            fprintf(stderr, "bench_conv: %s failed: %s\n", #expr, mf_last_error());      \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

static mf_tensor *randn(int ndim, const int64_t *shape, unsigned seed) {
    mf_tensor *t;
    CHECK(mf_tensor_empty(ndim, shape, MF_F32, MF_DEVICE_CPU, &t));
    float *p = mf_tensor_data(t);
    int64_t n = mf_tensor_numel(t);
    unsigned s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 8) * (1.0 / 16777216.0)) - 0.5f;
    }
    return t;
}

/* Best of `reps` runs (after one warm-up) in seconds. */
static void time_shape(const shape *s, int px, int reps, double *fwd, double *fb) {
    int64_t hw = px / s->div;
    mf_tensor *x = randn(4, (int64_t[]){BATCH, s->cin, hw, hw}, 1);
    mf_tensor *w = randn(4, (int64_t[]){s->cout, s->cin, s->k, s->k}, 2);
    mf_conv_params p = mf_conv_params_default();
    p.stride[0] = p.stride[1] = s->stride;
    p.padding[0] = p.padding[1] = s->pad;
    CHECK(mf_tensor_set_requires_grad(w, true));
    if (s->cin != 3) /* the stem's input is data: no gradient */
        CHECK(mf_tensor_set_requires_grad(x, true));
    mf_tensor *y, *gy = NULL;
    *fwd = *fb = 1e30;
    bool prev = mf_grad_set_enabled(false);
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        CHECK(mf_conv(x, w, NULL, &p, &y));
        double t = now() - t0;
        if (!gy)
            gy = randn(y->ndim, y->shape, 3);
        mf_tensor_release(y);
        if (r > 0 && t < *fwd)
            *fwd = t;
    }
    mf_grad_set_enabled(true);
    for (int r = 0; r <= reps; r++) {
        mf_tensor_zero_grad(x);
        mf_tensor_zero_grad(w);
        double t0 = now();
        CHECK(mf_conv(x, w, NULL, &p, &y));
        CHECK(mf_backward(y, gy, false));
        double t = now() - t0;
        mf_tensor_release(y);
        if (r > 0 && t < *fb)
            *fb = t;
    }
    mf_grad_set_enabled(prev);
    mf_tensor_release(x);
    mf_tensor_release(w);
    mf_tensor_release(gy);
}

int main(int argc, char **argv) {
    int px = 64, reps = 3;
    bool list = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list"))
            list = true;
        else if (!strcmp(argv[i], "--cpu"))
            clock_id = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--px") && i + 1 < argc)
            px = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_conv [--list] [--px 64|224] [--reps N] [--cpu]\n");
            return 2;
        }
    }
    if (list) { /* name cin cout k stride pad count in_size */
        for (size_t i = 0; i < NSHAPES; i++) {
            const shape *s = &SHAPES[i];
            printf("%s %d %d %d %d %d %d %d\n", s->name, s->cin, s->cout, s->k, s->stride, s->pad, s->count,
                   px / s->div);
        }
        return 0;
    }
    printf("# medfm conv, batch %d, %d px, %d threads; best of %d (seconds)\n", BATCH, px, mf_num_threads(), reps);
    for (size_t i = 0; i < NSHAPES; i++) {
        double f, fb;
        time_shape(&SHAPES[i], px, reps, &f, &fb);
        printf("%s %d %.6f %.6f\n", SHAPES[i].name, SHAPES[i].count, f, fb);
        fflush(stdout);
    }
    return 0;
}
