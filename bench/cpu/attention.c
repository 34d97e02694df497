/* Attention forward+backward at ViT-B and Swin-window sizes: the kernel
 * (per-(batch, head) BLAS tasks on the thread pool) against a plain
 * triple-loop reference forward in the same run. */
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

static mf_tensor *rnd(int64_t b, int64_t h, int64_t l, int64_t d) {
    mf_tensor *t;
    if (mf_tensor_empty(4, (int64_t[]){b, h, l, d}, MF_F32, MF_DEVICE_CPU, &t))
        exit(1);
    float *p = mf_tensor_data(t);
    for (int64_t i = 0; i < mf_tensor_numel(t); i++)
        p[i] = (float)rand() / RAND_MAX - 0.5f;
    mf_tensor_set_requires_grad(t, true);
    return t;
}

static void ref_forward(const float *q, const float *k, const float *v, float *o, int64_t BH, int64_t L, int64_t D) {
    float *s = malloc(sizeof(float) * (size_t)L);
    float sc = 1.0f / sqrtf((float)D);
    for (int64_t t = 0; t < BH; t++)
        for (int64_t i = 0; i < L; i++) {
            float m = -INFINITY, z = 0;
            for (int64_t j = 0; j < L; j++) {
                float a = 0;
                for (int64_t d = 0; d < D; d++)
                    a += q[(t * L + i) * D + d] * k[(t * L + j) * D + d];
                s[j] = a * sc;
                m = fmaxf(m, s[j]);
            }
            for (int64_t j = 0; j < L; j++)
                z += s[j] = expf(s[j] - m);
            for (int64_t d = 0; d < D; d++) {
                float a = 0;
                for (int64_t j = 0; j < L; j++)
                    a += s[j] * v[(t * L + j) * D + d];
                o[(t * L + i) * D + d] = a / z;
            }
        }
    free(s);
}

static void bench(const char *what, int64_t B, int64_t H, int64_t L, int64_t D) {
    mf_tensor *q = rnd(B, H, L, D), *k = rnd(B, H, L, D), *v = rnd(B, H, L, D), *y;
    mf_tensor *bias = rnd(1, H, L, L);
    int reps = 5;
    mf_attention(q, k, v, bias, 0, &y); /* warm up the pool, BLAS and the allocator */
    mf_tensor_release(y);
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        mf_attention(q, k, v, bias, 0, &y);
        mf_tensor_release(y);
    }
    double tf = (now() - t0) / reps;
    t0 = now();
    for (int r = 0; r < reps; r++) {
        mf_attention(q, k, v, bias, 0, &y);
        mf_backward(y, NULL, false);
        mf_tensor_release(y);
    }
    double tfb = (now() - t0) / reps;
    float *o = malloc(sizeof(float) * (size_t)(B * H * L * D));
    t0 = now();
    ref_forward(mf_tensor_data(q), mf_tensor_data(k), mf_tensor_data(v), o, B * H, L, D);
    double tr = now() - t0;
    printf("attention %s B%lld H%lld L%lld D%lld: forward %.2f ms (reference %.2f ms, %.1fx), "
           "forward+backward %.2f ms\n", what, (long long)B, (long long)H, (long long)L, (long long)D, tf * 1e3,
           tr * 1e3, tr / tf, tfb * 1e3);
    free(o);
    mf_tensor *all[] = {q, k, v, bias};
    for (int i = 0; i < 4; i++)
        mf_tensor_release(all[i]);
}

int main(void) {
    printf("threads: %d\n", mf_num_threads());
    bench("vit-b", 4, 12, 197, 64);
    bench("swin-window", 256, 4, 49, 32);
    return 0;
}
