/* Times the solver plugins. `bench_solvers write DIR` writes the lap
 * instances (raw f32, 200 problems per N) for bench/cpu/scipy_lap.py;
 * `bench_solvers compare DIR` times lap on the same instances, reads
 * scipy's times from DIR/scipy.txt and prints ratios, then times gm on
 * LVM-Med-sized problems (16 nodes, kNN k = 5). run_solvers.sh does all. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medfm/medfm.h"
#include "medfm/plugin.h"
#include "medfm/solver.h"

enum { BATCH = 200, N_SIZES = 5 };
static const int sizes[N_SIZES] = {16, 32, 64, 128, 256};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: with one thread it is the work itself,
 * which stays meaningful on a machine shared with other jobs. (Process CPU
 * time would also count the pool's workers still spinning after the
 * multi-threaded pass, which inflated small problems several times.) */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng_state = 42;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static int fail(void) {
    fprintf(stderr, "bench_solvers: %s\n", mf_last_error());
    return 1;
}

static int write_instances(const char *dir) {
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s];
        size_t count = (size_t)BATCH * n * n;
        float *c = malloc(sizeof(float) * count);
        for (size_t k = 0; k < count; k++)
            c[k] = (float)urand();
        char path[1024];
        snprintf(path, sizeof path, "%s/lap_%d.f32", dir, n);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(c, sizeof(float), count, f) != count) {
            fprintf(stderr, "bench_solvers: cannot write %s\n", path);
            free(c);
            return 1;
        }
        fclose(f);
        free(c);
    }
    return 0;
}

static mf_solver *make_solver(mf_registry *r, const char *name) {
    const mf_plugin_info *info;
    mf_solver *s = NULL;
    if (mf_registry_get(r, MF_KIND_SOLVER, name, &info) ||
        ((const mf_solver_vtable *)info->vtable)->create(NULL, &s))
        return NULL;
    return s;
}

/* kNN (k = 5) directed edges over points z (n x d). */
static int knn(const double *z, int n, int d, int k, int64_t *e) {
    int ne = 0;
    for (int i = 0; i < n; i++) {
        char used[64] = {0};
        used[i] = 1;
        for (int t = 0; t < k; t++) {
            int best = -1;
            double bd = INFINITY;
            for (int j = 0; j < n; j++) {
                if (used[j])
                    continue;
                double dist = 0;
                for (int c = 0; c < d; c++)
                    dist += (z[i * d + c] - z[j * d + c]) * (z[i * d + c] - z[j * d + c]);
                if (dist < bd) {
                    bd = dist;
                    best = j;
                }
            }
            used[best] = 1;
            e[2 * ne] = i;
            e[2 * ne + 1] = best;
            ne++;
        }
    }
    return ne;
}

static double cosine(const double *a, const double *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int c = 0; c < d; c++) {
        ab += a[c] * b[c];
        aa += a[c] * a[c];
        bb += b[c] * b[c];
    }
    return ab / sqrt(aa * bb + 1e-12);
}

/* B problems of 16 nodes: graph 2 a noisy, permuted copy of graph 1. */
static int bench_gm(mf_registry *r, double noise) {
    enum { B = 200, N = 16, D = 8, K = 5, E = N * K };
    mf_solver *s = make_solver(r, "gm");
    if (!s)
        return fail();
    int64_t su[3] = {B, N, N}, sq[3] = {B, E, E}, se[3] = {B, E, 2};
    mf_tensor *u, *q, *e1, *e2, *x;
    if (mf_tensor_empty(3, su, MF_F32, MF_DEVICE_CPU, &u) || mf_tensor_empty(3, sq, MF_F32, MF_DEVICE_CPU, &q) ||
        mf_tensor_empty(3, se, MF_I64, MF_DEVICE_CPU, &e1) || mf_tensor_empty(3, se, MF_I64, MF_DEVICE_CPU, &e2) ||
        mf_tensor_zeros_like(u, &x))
        return fail();
    float *pu = mf_tensor_data(u), *pq = mf_tensor_data(q);
    int64_t *pe1 = mf_tensor_data(e1), *pe2 = mf_tensor_data(e2);
    for (int b = 0; b < B; b++) {
        double z1[N * D], z2[N * D];
        int perm[N];
        for (int i = 0; i < N; i++)
            perm[i] = i;
        for (int i = N - 1; i > 0; i--) {
            int j = (int)(urand() * (i + 1));
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int k = 0; k < N * D; k++)
            z1[k] = urand() * 2 - 1;
        for (int a = 0; a < N; a++)
            for (int c = 0; c < D; c++)
                z2[a * D + c] = z1[perm[a] * D + c] + noise * (urand() * 2 - 1);
        knn(z1, N, D, K, pe1 + (size_t)b * E * 2);
        knn(z2, N, D, K, pe2 + (size_t)b * E * 2);
        for (int i = 0; i < N; i++)
            for (int a = 0; a < N; a++)
                pu[((size_t)b * N + i) * N + a] = (float)-cosine(z1 + i * D, z2 + a * D, D);
        for (int s1 = 0; s1 < E; s1++)
            for (int s2 = 0; s2 < E; s2++) {
                const int64_t *a1 = pe1 + ((size_t)b * E + s1) * 2, *a2 = pe2 + ((size_t)b * E + s2) * 2;
                double d1[D], d2[D];
                for (int c = 0; c < D; c++) {
                    d1[c] = z1[a1[0] * D + c] - z1[a1[1] * D + c];
                    d2[c] = z2[a2[0] * D + c] - z2[a2[1] * D + c];
                }
                pq[((size_t)b * E + s1) * E + s2] = (float)-cosine(d1, d2, D);
            }
    }
    mf_gm_problem p = {u, q, e1, e2};
    mf_solver_stats st;
    int threads = mf_num_threads();
    for (int pass = 0; pass < 2; pass++) {
        mf_set_num_threads(pass == 0 ? 1 : threads);
        double best = INFINITY;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = pass ? now() : cpu_now();
            if (s->solve(s, &p, x, &st))
                return fail();
            double t = (pass ? now() : cpu_now()) - t0;
            best = t < best ? t : best;
        }
        printf("gm  16 nodes, kNN k=5 (%d edges), noise %.1f, %d thread(s) %s: %.3f ms per problem "
               "(batch %d: %.1f ms); proven optimal %lld/%d, mean gap %.2e, mean iterations %.1f\n",
               E, noise, mf_num_threads(), pass ? "wall" : "cpu", best * 1e3 / B, B, best * 1e3, (long long)st.proven_optimal, B,
               (st.primal - st.lower_bound) / B, (double)st.iterations / B);
    }
    mf_set_num_threads(threads);
    mf_tensor_release(u);
    mf_tensor_release(q);
    mf_tensor_release(e1);
    mf_tensor_release(e2);
    mf_tensor_release(x);
    s->destroy(s);
    return 0;
}

static int compare(const char *dir) {
    mf_registry *r;
    char path[1024];
    if (mf_registry_new(&r))
        return fail();
    snprintf(path, sizeof path, "%s/lap.so", mf_plugin_dir());
    if (mf_registry_load(r, path))
        return fail();
    snprintf(path, sizeof path, "%s/gm.so", mf_plugin_dir());
    if (mf_registry_load(r, path))
        return fail();
    mf_solver *lap = make_solver(r, "lap");
    if (!lap)
        return fail();
    double scipy_t[N_SIZES] = {0}, scipy_cpu[N_SIZES] = {0}, scipy_obj[N_SIZES] = {0};
    snprintf(path, sizeof path, "%s/scipy.txt", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        int n;
        double t, tc, o;
        while (fscanf(f, "%d %lf %lf %lf", &n, &t, &tc, &o) == 4)
            for (int s = 0; s < N_SIZES; s++)
                if (sizes[s] == n) {
                    scipy_t[s] = t;
                    scipy_cpu[s] = tc;
                    scipy_obj[s] = o;
                }
        fclose(f);
    }
    printf("lap vs scipy.optimize.linear_sum_assignment, %d problems per N, uniform [0,1) f32 costs, %d threads\n",
           BATCH, mf_num_threads());
    printf("wall: best of 3, all threads; cpu: CPU time of one thread doing all the work (robust on a shared machine)\n");
    printf("%5s %10s %10s %10s %10s %9s %9s  %s\n", "N", "lap wall", "scipy wall", "lap cpu", "scipy cpu",
           "wall x", "cpu x", "objective check");
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s];
        size_t count = (size_t)BATCH * n * n;
        int64_t shape[3] = {BATCH, n, n};
        mf_tensor *u, *x;
        if (mf_tensor_empty(3, shape, MF_F32, MF_DEVICE_CPU, &u) || mf_tensor_zeros_like(u, &x))
            return fail();
        snprintf(path, sizeof path, "%s/lap_%d.f32", dir, n);
        f = fopen(path, "rb");
        if (!f || fread(mf_tensor_data(u), sizeof(float), count, f) != count) {
            fprintf(stderr, "bench_solvers: cannot read %s (run bench/cpu/run_solvers.sh)\n", path);
            return 1;
        }
        fclose(f);
        mf_solver_stats st;
        double best[2] = {INFINITY, INFINITY};
        int threads = mf_num_threads();
        for (int pass = 0; pass < 2; pass++) {
            mf_set_num_threads(pass == 0 ? threads : 1);
            for (int rep = 0; rep < 3; rep++) {
                double t0 = pass ? cpu_now() : now();
                if (lap->solve(lap, &(mf_gm_problem){.unary = u}, x, &st))
                    return fail();
                double t = (pass ? cpu_now() : now()) - t0;
                best[pass] = t < best[pass] ? t : best[pass];
            }
        }
        mf_set_num_threads(threads);
        bool same = fabs(st.primal - scipy_obj[s]) <= 1e-6 * (1 + fabs(scipy_obj[s]));
        if (scipy_t[s] > 0)
            printf("%5d %8.2fms %8.2fms %8.2fms %8.2fms %8.2fx %8.2fx  %s\n", n, best[0] * 1e3, scipy_t[s] * 1e3,
                   best[1] * 1e3, scipy_cpu[s] * 1e3, scipy_t[s] / best[0], scipy_cpu[s] / best[1],
                   same ? "same optimum" : "DIFFERENT OPTIMUM");
        else
            printf("%5d %8.2fms %10s %8.2fms\n", n, best[0] * 1e3, "n/a", best[1] * 1e3);
        mf_tensor_release(u);
        mf_tensor_release(x);
    }
    lap->destroy(lap);
    int rc = bench_gm(r, 0.3) || bench_gm(r, 1.0);
    mf_registry_free(r);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "write"))
        return write_instances(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "compare"))
        return compare(argv[2]);
    fprintf(stderr, "usage: bench_solvers write|compare DIR (see bench/cpu/run_solvers.sh)\n");
    return 2;
}
