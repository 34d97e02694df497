/* linear + bias + GELU in f32: mf_linear_gelu (fused epilogue) against the
 * unfused mf_gelu(mf_linear(...)) measured in the same run, forward and
 * forward+backward. bench/cpu/run_linear_gelu.sh adds torch's
 * F.gelu(F.linear(...)) at the same shapes and prints the ratios.
 * Output lines: "<shape> <fused fwd> <fused f+b> <unfused fwd> <unfused f+b>"
 * in ms (best of --reps). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medfm/medfm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static mf_tensor *rnd(int nd, const int64_t *shape, float scale, uint64_t seed) {
    mf_tensor *t;
    if (mf_tensor_empty(nd, shape, MF_F32, MF_DEVICE_CPU, &t) != MF_OK)
        exit(1);
    float *p = mf_tensor_data(t);
    uint64_t s = seed;
    for (int64_t i = 0; i < mf_tensor_numel(t); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = ((float)((s >> 40) * (1.0 / 16777216.0)) * 2 - 1) * scale;
    }
    mf_tensor_set_requires_grad(t, true);
    return t;
}

static mf_status unfused(const mf_tensor *x, const mf_tensor *w, const mf_tensor *b, mf_tensor **out) {
    mf_tensor *h;
    MF_TRY(mf_linear(x, w, b, &h));
    mf_status st = mf_gelu(h, out);
    mf_tensor_release(h);
    return st;
}

static double time_op(bool fused, mf_tensor *x, mf_tensor *w, mf_tensor *b, bool bwd, int reps) {
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        mf_tensor *y = NULL, *s = NULL;
        double t0 = now();
        mf_status st = fused ? mf_linear_gelu(x, w, b, &y) : unfused(x, w, b, &y);
        if (st == MF_OK && bwd) {
            st = mf_sum(y, 0, NULL, false, &s);
            if (st == MF_OK)
                st = mf_backward(s, NULL, false);
        }
        double t = now() - t0;
        if (st != MF_OK) {
            fprintf(stderr, "%s\n", mf_last_error());
            exit(1);
        }
        mf_tensor_release(y);
        mf_tensor_release(s);
        mf_tensor_zero_grad(x);
        mf_tensor_zero_grad(w);
        mf_tensor_zero_grad(b);
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char **argv) {
    int reps = 5;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    /* ViT-B MLP fc1 (batch 8, 197 tokens); a narrow layer where the
     * epilogue is a larger share; a wide one-row-chunk case */
    const int64_t shapes[][3] = {{1576, 768, 3072}, {8192, 128, 512}, {64, 1024, 4096}};
    printf("# f32 linear+bias+GELU, %d threads, best of %d (ms): fused fwd, fused f+b, unfused fwd, unfused f+b\n",
           mf_num_threads(), reps);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t R = shapes[k][0], I = shapes[k][1], O = shapes[k][2];
        mf_tensor *x = rnd(2, (int64_t[]){R, I}, 1.0f, 1), *w = rnd(2, (int64_t[]){O, I}, 0.05f, 2),
                  *b = rnd(1, &O, 1.0f, 3);
        double ff = time_op(true, x, w, b, false, reps), fb = time_op(true, x, w, b, true, reps);
        double uf = time_op(false, x, w, b, false, reps), ub = time_op(false, x, w, b, true, reps);
        printf("%lldx%lldx%lld %.3f %.3f %.3f %.3f\n", (long long)R, (long long)I, (long long)O, ff * 1e3, fb * 1e3,
               uf * 1e3, ub * 1e3);
        mf_tensor_release(x);
        mf_tensor_release(w);
        mf_tensor_release(b);
    }
    return 0;
}
