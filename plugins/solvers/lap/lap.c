/* The `lap` solver plugin: exact linear assignment over a batch of
 * (N, M) cost matrices, one problem per thread-pool task. Rectangular
 * problems assign every node of the smaller side. The shortest augmenting
 * path core lives in lap_core.h (shared with the gm solver). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lap_core.h"
#include "medfm/parallel.h"
#include "medfm/plugin.h"
#include "medfm/solver.h"

typedef struct lap_state {
    double tolerance;
    bool ignore_quadratic;
} lap_state;

typedef struct lap_batch {
    int64_t B, N, M;
    const double *cost; /* (B, N, M) row-major f64 copy of the unary */
    double *x;          /* (B, N, M) output, zeroed */
    double *primal, *bound;
    int *failed;
    double tol;
} lap_batch;

static void lap_range(void *ctx, int64_t begin, int64_t end) {
    lap_batch *b = ctx;
    const int N = (int)b->N, M = (int)b->M;
    const bool tr = N > M;
    const int n = tr ? M : N, m = tr ? N : M;
    lap_work w = {0};
    double *ct = tr ? malloc(sizeof(double) * (size_t)n * m) : NULL;
    for (int64_t p = begin; p < end; p++) {
        const double *c = b->cost + p * N * M;
        if (tr) {
            if (!ct) {
                b->failed[p] = 1;
                continue;
            }
            for (int i = 0; i < N; i++)
                for (int j = 0; j < M; j++)
                    ct[(size_t)j * N + i] = c[(size_t)i * M + j];
        }
        if (lap_solve(n, m, tr ? ct : c, &w, b->tol)) {
            b->failed[p] = 1;
            continue;
        }
        double primal = 0, bound = 0;
        double *x = b->x + p * N * M;
        for (int i = 0; i < n; i++) {
            int j = w.col4row[i];
            int r = tr ? j : i, col = tr ? i : j;
            x[(size_t)r * M + col] = 1;
            primal += c[(size_t)r * M + col];
            bound += w.u[i];
        }
        for (int j = 0; j < m; j++)
            bound += w.v[j];
        b->primal[p] = primal;
        b->bound[p] = bound;
    }
    free(ct);
    lap_work_free(&w);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static mf_status lap_solve_batch(mf_solver *s, const mf_gm_problem *p, mf_tensor *x, mf_solver_stats *stats) {
    lap_state *ls = s->state;
    if (!p || !p->unary || !x)
        return MF_ERR(MF_ERR_INVALID, "lap: problem, unary costs and output x are required");
    const mf_tensor *u = p->unary;
    if (u->ndim != 3)
        return MF_ERR(MF_ERR_SHAPE, "lap: unary costs must be (B, N, M), got %s", MF_SHAPE(u));
    if (u->dtype != MF_F32 && u->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "lap: unary costs must be f32 or f64, got %s", mf_dtype_name(u->dtype));
    if (!mf_tensor_same_shape(u, x) || x->dtype != u->dtype)
        return MF_ERR(MF_ERR_SHAPE, "lap: x %s %s must match the unary costs %s %s", MF_SHAPE(x),
                      mf_dtype_name(x->dtype), MF_SHAPE(u), mf_dtype_name(u->dtype));
    if (p->quadratic && !ls->ignore_quadratic)
        return MF_ERR(MF_ERR_INVALID,
                      "lap: got a quadratic term %s, but lap solves first-order problems only "
                      "(use the gm solver, or set ignore_quadratic: true to drop it)",
                      MF_SHAPE(p->quadratic));
    const int64_t B = u->shape[0], N = u->shape[1], M = u->shape[2];
    if (N > INT32_MAX / 2 || M > INT32_MAX / 2)
        return MF_ERR(MF_ERR_SHAPE, "lap: problem %s too large", MF_SHAPE(u));
    double t0 = now_s();
    const size_t total = (size_t)(B * N * M);
    mf_status st = MF_OK;
    double *cost = malloc(sizeof(double) * (total ? total : 1));
    double *xs = calloc(total ? total : 1, sizeof(double));
    double *primal = calloc((size_t)B + 1, sizeof(double));
    double *bound = calloc((size_t)B + 1, sizeof(double));
    int *failed = calloc((size_t)B + 1, sizeof(int));
    mf_tensor *host = NULL;
    if (!cost || !xs || !primal || !bound || !failed) {
        st = MF_ERR(MF_ERR_NOMEM, "lap: out of memory for a batch %s", MF_SHAPE(u));
        goto cleanup;
    }
    MF_CHECK(mf_tensor_to_host(u, MF_F64, cost, sizeof(double) * total));
    for (size_t k = 0; k < total; k++)
        if (!isfinite(cost[k])) {
            int64_t b = (int64_t)k / (N * M), i = (int64_t)k % (N * M) / M, j = (int64_t)k % M;
            st = MF_ERR(MF_ERR_INVALID, "lap: unary cost at batch %lld (row %lld, col %lld) is %g; costs must be finite",
                        (long long)b, (long long)i, (long long)j, cost[k]);
            goto cleanup;
        }
    if (N > 0 && M > 0) {
        lap_batch job = {B, N, M, cost, xs, primal, bound, failed, ls->tolerance};
        mf_parallel_for(B, 1, lap_range, &job);
        for (int64_t b = 0; b < B; b++)
            if (failed[b]) {
                st = MF_ERR(MF_ERR_NOMEM, "lap: batch %lld of %s could not be solved (out of memory)", (long long)b,
                            MF_SHAPE(u));
                goto cleanup;
            }
    }
    {
        int64_t shape[3] = {B, N, M};
        MF_CHECK(mf_tensor_wrap(3, shape, MF_F64, MF_DEVICE_CPU, xs, NULL, NULL, &host));
        MF_CHECK(mf_tensor_copy_(x, host));
    }
    if (stats) {
        *stats = (mf_solver_stats){0};
        for (int64_t b = 0; b < B; b++) {
            stats->primal += primal[b];
            stats->lower_bound += bound[b];
            double scale = fabs(primal[b]) > 1 ? fabs(primal[b]) : 1;
            stats->proven_optimal += fabs(primal[b] - bound[b]) <= 1e-6 * scale + (N > M ? N : M) * ls->tolerance;
        }
        stats->iterations = B;
        stats->seconds = now_s() - t0;
    }
cleanup:
    mf_tensor_release(host);
    free(cost);
    free(xs);
    free(primal);
    free(bound);
    free(failed);
    return st;
}

static void lap_destroy(mf_solver *s) {
    if (!s)
        return;
    free(s->state);
    free(s);
}

static mf_status lap_create(const mf_cfg *cfg, mf_solver **out) {
    lap_state st = {1e-9, false};
    if (cfg) {
        MF_TRY(mf_cfg_get_float(cfg, "tolerance", st.tolerance, &st.tolerance));
        MF_TRY(mf_cfg_get_bool(cfg, "ignore_quadratic", st.ignore_quadratic, &st.ignore_quadratic));
    }
    if (!(st.tolerance >= 0))
        return MF_ERR(MF_ERR_CONFIG, "lap: tolerance must be >= 0, got %g", st.tolerance);
    mf_solver *s = calloc(1, sizeof(*s));
    lap_state *ps = malloc(sizeof(*ps));
    if (!s || !ps) {
        free(s);
        free(ps);
        return MF_ERR(MF_ERR_NOMEM, "lap: out of memory");
    }
    *ps = st;
    *s = (mf_solver){.size = sizeof(mf_solver), .name = "lap", .state = ps, .solve = lap_solve_batch,
                     .destroy = lap_destroy};
    *out = s;
    return MF_OK;
}

static const mf_key_spec lap_keys[] = {
    {.name = "tolerance", .type = MF_KEY_FLOAT, .def = "1.0e-9",
     .doc = "distance slack within which a free column wins a tie (result optimal to n * tolerance)", .min = 0,
     .max = MF_NO_LIMIT},
    {.name = "ignore_quadratic", .type = MF_KEY_BOOL, .def = "false",
     .doc = "drop a quadratic term instead of rejecting it (lap is first-order only)", .min = MF_NO_LIMIT,
     .max = MF_NO_LIMIT},
};
static const mf_schema lap_schema = {"solver lap", lap_keys, 2, false};
static const mf_solver_vtable lap_vtable = {.size = sizeof(mf_solver_vtable), .create = lap_create};
static const mf_plugin_info lap_info = {.size = sizeof(mf_plugin_info), .kind = MF_KIND_SOLVER, .name = "lap",
                                        .version = "1.0.0",
                                        .doc = "exact linear assignment (shortest augmenting path), batched",
                                        .schema = &lap_schema, .vtable = &lap_vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "lap"));
    return mf_registry_add(reg, &lap_info);
}
