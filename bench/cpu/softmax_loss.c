/* Softmax and cross-entropy throughput: the fused kernels against a plain
 * scalar reference (libm expf, one position at a time) in the same run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/backend/kern_loss.h"
#include "medfm/medfm.h"

extern const struct mf_kern_loss mf_cpu_loss;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static mf_tensor *randn(int nd, const int64_t *shape, mf_dtype dt) {
    mf_tensor *t;
    if (mf_tensor_empty(nd, shape, dt, MF_DEVICE_CPU, &t))
        exit(1);
    float *p = mf_tensor_data(t);
    srand(1);
    for (int64_t i = 0; i < mf_tensor_numel(t); i++)
        p[i] = (float)rand() / RAND_MAX * 8 - 4;
    return t;
}

/* reference softmax along dim 1 of (outer, n, inner), scalar and strided */
static void ref_softmax(const float *x, float *y, int64_t outer, int64_t n, int64_t inner) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < inner; c++) {
            const float *xr = x + o * n * inner + c;
            float *yr = y + o * n * inner + c;
            float m = -INFINITY, s = 0;
            for (int64_t i = 0; i < n; i++)
                m = fmaxf(m, xr[i * inner]);
            for (int64_t i = 0; i < n; i++)
                s += yr[i * inner] = expf(xr[i * inner] - m);
            for (int64_t i = 0; i < n; i++)
                yr[i * inner] /= s;
        }
}

static void bench_softmax(int64_t outer, int64_t n, int64_t inner) {
    int64_t shape[3] = {outer, n, inner};
    mf_tensor *x = randn(3, shape, MF_F32), *y;
    float *ref = malloc(sizeof(float) * (size_t)(outer * n * inner));
    int reps = 10;
    mf_softmax(x, 1, &y); /* warm up */
    mf_tensor_release(y);
    ref_softmax(mf_tensor_data(x), ref, outer, n, inner);
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        mf_softmax(x, 1, &y);
        mf_tensor_release(y);
    }
    double top = (now() - t0) / reps;
    /* the kernel into a warm output, like the reference */
    mf_tensor *yw;
    mf_tensor_empty(3, shape, MF_F32, MF_DEVICE_CPU, &yw);
    t0 = now();
    for (int r = 0; r < reps; r++)
        mf_cpu_loss.softmax_forward(yw, x, 1, false);
    double tf = (now() - t0) / reps;
    mf_tensor_release(yw);
    t0 = now();
    for (int r = 0; r < reps; r++)
        ref_softmax(mf_tensor_data(x), ref, outer, n, inner);
    double tr = (now() - t0) / reps;
    printf("softmax f32 [%lld, %lld, %lld] dim 1: kernel %.3f ms, reference %.3f ms, speedup %.1fx "
           "(op with a fresh output: %.3f ms)\n", (long long)outer, (long long)n, (long long)inner, tf * 1e3,
           tr * 1e3, tr / tf, top * 1e3);
    free(ref);
    mf_tensor_release(x);
}

static void bench_ce(int64_t N, int64_t C, int64_t S1, int64_t S2) {
    int64_t shape[4] = {N, C, S1, S2};
    int nd = S1 ? 4 : 2;
    mf_tensor *x = randn(nd, shape, MF_F32), *t, *y;
    int64_t tshape[3] = {N, S1, S2};
    mf_tensor_empty(nd - 1, tshape, MF_I64, MF_DEVICE_CPU, &t);
    int64_t *tp = mf_tensor_data(t);
    for (int64_t i = 0; i < mf_tensor_numel(t); i++)
        tp[i] = i % C;
    mf_tensor_set_requires_grad(x, true);
    int reps = 10;
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        mf_cross_entropy(x, t, NULL, &y);
        mf_backward(y, NULL, false);
        mf_tensor_release(y);
    }
    double tf = (now() - t0) / reps;
    printf("cross_entropy f32 %s forward+backward: %.3f ms (%.2f GB/s of logits)\n", MF_SHAPE(x), tf * 1e3,
           (double)mf_tensor_nbytes(x) * 3 / tf * 1e-9);
    mf_tensor_release(x);
    mf_tensor_release(t);
}

int main(void) {
    bench_softmax(4096, 1000, 1);
    bench_softmax(64, 200, 256);
    bench_softmax(8, 14, 128 * 128);
    bench_ce(256, 1000, 0, 0);
    bench_ce(8, 14, 128, 128);
    return 0;
}
