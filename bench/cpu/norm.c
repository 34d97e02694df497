/* Norm kernels in f32: the fused one-pass kernels (batch, layer, group
 * norm, forward and forward+backward) against a plain two-pass scalar C
 * reference of the same forward measured in the same run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "medfm/medfm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* rows of k contiguous floats, stats per row (layer norm layout) */
static void ref_rows(float *y, const float *x, int64_t rows, int64_t k) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * k;
        double m = 0, v = 0;
        for (int64_t i = 0; i < k; i++)
            m += xr[i];
        m /= (double)k;
        for (int64_t i = 0; i < k; i++)
            v += (xr[i] - m) * (xr[i] - m);
        double rs = 1.0 / sqrt(v / (double)k + 1e-5);
        for (int64_t i = 0; i < k; i++)
            y[r * k + i] = (float)((xr[i] - m) * rs);
    }
}

/* (N, C, S): stats per channel (batch norm layout) */
static void ref_batch(float *y, const float *x, int64_t N, int64_t C, int64_t S) {
    for (int64_t c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++)
                m += x[(n * C + c) * S + s];
        m /= (double)(N * S);
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                double d = x[(n * C + c) * S + s] - m;
                v += d * d;
            }
        double rs = 1.0 / sqrt(v / (double)(N * S) + 1e-5);
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++)
                y[(n * C + c) * S + s] = (float)((x[(n * C + c) * S + s] - m) * rs);
    }
}

static mf_tensor *rnd(int nd, const int64_t *shape, bool grad) {
    mf_tensor *t;
    if (mf_tensor_empty(nd, shape, MF_F32, MF_DEVICE_CPU, &t) != MF_OK)
        exit(1);
    float *p = mf_tensor_data(t);
    uint64_t s = 12345;
    for (int64_t i = 0; i < mf_tensor_numel(t); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((s >> 40) * (1.0 / 16777216.0)) * 2 - 1;
    }
    if (grad)
        mf_tensor_set_requires_grad(t, true);
    return t;
}

typedef enum { BN, LN, GN } kind;

static double time_op(kind k, mf_tensor *x, mf_tensor *w, mf_tensor *b, mf_tensor *rm, mf_tensor *rv, bool bwd,
                      int reps) {
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        mf_tensor *y = NULL;
        double t0 = now();
        mf_status st = k == BN   ? mf_batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5, &y)
                       : k == LN ? mf_layer_norm(x, 1, w, b, 1e-5, &y)
                                 : mf_group_norm(x, 32, w, b, 1e-5, &y);
        if (st == MF_OK && bwd) {
            mf_tensor *s;
            st = mf_sum(y, 0, NULL, false, &s);
            if (st == MF_OK)
                st = mf_backward(s, NULL, false);
            mf_tensor_release(s);
        }
        double t = now() - t0;
        if (st != MF_OK) {
            fprintf(stderr, "%s\n", mf_last_error());
            exit(1);
        }
        mf_tensor_release(y);
        mf_tensor_zero_grad(x);
        if (w) {
            mf_tensor_zero_grad(w);
            mf_tensor_zero_grad(b);
        }
        best = t < best ? t : best;
    }
    return best;
}

int main(void) {
    const int reps = 5;
    printf("f32 norm kernels, %d threads, best of %d (ms); ref = scalar two-pass forward\n", mf_num_threads(), reps);
    {
        int64_t N = 32, C = 64, S = 56 * 56;
        mf_tensor *x = rnd(4, (int64_t[]){N, C, 56, 56}, true), *w = rnd(1, &C, true), *b = rnd(1, &C, true);
        mf_tensor *rm, *rv;
        mf_tensor_zeros(1, &C, MF_F32, MF_DEVICE_CPU, &rm);
        mf_tensor_full(1, &C, MF_F32, MF_DEVICE_CPU, 1.0, &rv);
        float *y = malloc(sizeof(float) * (size_t)(N * C * S));
        double t0 = now();
        ref_batch(y, mf_tensor_data(x), N, C, S);
        double tref = now() - t0;
        double tf = time_op(BN, x, w, b, rm, rv, false, reps), tb = time_op(BN, x, w, b, rm, rv, true, reps);
        printf("batch_norm [32,64,56,56]: fwd %.1f  fwd+bwd %.1f  ref fwd %.1f  speedup fwd %.2fx\n", tf * 1e3,
               tb * 1e3, tref * 1e3, tref / tf);
        free(y);
        mf_tensor_release(x);
        mf_tensor_release(w);
        mf_tensor_release(b);
        mf_tensor_release(rm);
        mf_tensor_release(rv);
    }
    {
        int64_t R = 8192, K = 768;
        mf_tensor *x = rnd(2, (int64_t[]){R, K}, true), *w = rnd(1, &K, true), *b = rnd(1, &K, true);
        float *y = malloc(sizeof(float) * (size_t)(R * K));
        double t0 = now();
        ref_rows(y, mf_tensor_data(x), R, K);
        double tref = now() - t0;
        double tf = time_op(LN, x, w, b, NULL, NULL, false, reps), tb = time_op(LN, x, w, b, NULL, NULL, true, reps);
        printf("layer_norm [8192,768]:    fwd %.1f  fwd+bwd %.1f  ref fwd %.1f  speedup fwd %.2fx\n", tf * 1e3,
               tb * 1e3, tref * 1e3, tref / tf);
        free(y);
        mf_tensor_release(x);
        mf_tensor_release(w);
        mf_tensor_release(b);
    }
    {
        int64_t N = 16, C = 128, G = 32, S = 32 * 32;
        mf_tensor *x = rnd(4, (int64_t[]){N, C, 32, 32}, true), *w = rnd(1, &C, true), *b = rnd(1, &C, true);
        float *y = malloc(sizeof(float) * (size_t)(N * C * S));
        double t0 = now();
        ref_rows(y, mf_tensor_data(x), N * G, C / G * S);
        double tref = now() - t0;
        double tf = time_op(GN, x, w, b, NULL, NULL, false, reps), tb = time_op(GN, x, w, b, NULL, NULL, true, reps);
        printf("group_norm [16,128,32,32] G=32: fwd %.1f  fwd+bwd %.1f  ref fwd %.1f  speedup fwd %.2fx\n", tf * 1e3,
               tb * 1e3, tref * 1e3, tref / tf);
        free(y);
        mf_tensor_release(x);
        mf_tensor_release(w);
        mf_tensor_release(b);
    }
    return 0;
}
