/* Times the reductions and sorts of core/ops/reduce_*.c and sort.c on f32
 * and prints each as a ratio to mf_sum over the same input (a memory-bound
 * reference measured in the same run). */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "medfm/medfm.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef mf_status (*red_fn)(const mf_tensor *x, int dim, mf_tensor **out);

static mf_status f_sum(const mf_tensor *x, int d, mf_tensor **o) { return mf_sum(x, 1, &d, false, o); }
static mf_status f_amax(const mf_tensor *x, int d, mf_tensor **o) { return mf_amax(x, 1, &d, false, o); }
static mf_status f_var(const mf_tensor *x, int d, mf_tensor **o) { return mf_var(x, 1, &d, 1, false, o); }
static mf_status f_lse(const mf_tensor *x, int d, mf_tensor **o) { return mf_logsumexp(x, 1, &d, false, o); }
static mf_status f_norm2(const mf_tensor *x, int d, mf_tensor **o) { return mf_norm(x, 2.0, 1, &d, false, o); }
static mf_status f_argmax(const mf_tensor *x, int d, mf_tensor **o) { return mf_argmax(x, d, false, o); }
static mf_status f_cumsum(const mf_tensor *x, int d, mf_tensor **o) { return mf_cumsum(x, d, o); }
static mf_status f_sort(const mf_tensor *x, int d, mf_tensor **o) { return mf_sort(x, d, false, o, NULL); }
static mf_status f_topk(const mf_tensor *x, int d, mf_tensor **o) { return mf_topk(x, 8, d, true, o, NULL); }

static double best_of(red_fn f, const mf_tensor *x, int dim, int reps) {
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        mf_tensor *y;
        double t0 = now();
        if (f(x, dim, &y) != MF_OK) {
            fprintf(stderr, "%s\n", mf_last_error());
            return NAN;
        }
        double t = now() - t0;
        mf_tensor_release(y);
        if (t < best)
            best = t;
    }
    return best;
}

int main(void) {
    int64_t shape[2] = {2048, 2048};
    mf_tensor *x;
    if (mf_tensor_empty(2, shape, MF_F32, MF_DEVICE_CPU, &x) != MF_OK)
        return 1;
    float *p = mf_tensor_data(x);
    uint32_t s = 12345;
    for (int64_t i = 0; i < shape[0] * shape[1]; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)(s >> 8) / 16777216.0f * 4.0f - 2.0f;
    }
    struct {
        const char *name;
        red_fn f;
    } ops[] = {{"amax", f_amax},     {"var", f_var},       {"logsumexp", f_lse}, {"norm2", f_norm2},
               {"argmax", f_argmax}, {"cumsum", f_cumsum}, {"sort", f_sort},     {"topk8", f_topk}};
    printf("f32 [2048, 2048], %d threads; time and ratio to sum over the same dim\n", mf_num_threads());
    for (int dim = 1; dim >= 0; dim--) {
        double ref = best_of(f_sum, x, dim, 5);
        printf("dim %d: sum %.2f ms\n", dim, ref * 1e3);
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            double t = best_of(ops[i].f, x, dim, 3);
            printf("  %-10s %8.2f ms  %6.2fx sum\n", ops[i].name, t * 1e3, t / ref);
        }
    }
    mf_tensor_release(x);
    return 0;
}
