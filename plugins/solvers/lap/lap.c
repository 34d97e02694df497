/* The `lap` solver plugin: exact linear assignment over a batch of
 * (N, M) cost matrices, one problem per thread-pool task. Rectangular
 * problems assign every node of the smaller side. The shortest augmenting
 * path core lives in lap_core.h (shared with the gm solver). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host_io.h"
#include "lap_core.h"
#include "medfm/parallel.h"
#include "medfm/plugin.h"
#include "medfm/solver.h"

typedef struct lap_state {
    double tolerance;
    bool ignore_quadratic;
} lap_state;

/* One batch: costs are read and solutions written problem by problem
 * straight from/to the tensors' memory (contiguous CPU f32/f64; other
 * layouts are staged through f64 copies), so no batch-sized buffer is
 * allocated on the common path. */
typedef struct lap_batch {
    int64_t B, N, M;
    const void *cost; /* (B, N, M) row-major, dtype cost_dt */
    mf_dtype cost_dt;
    void *x; /* (B, N, M) row-major, dtype x_dt */
    mf_dtype x_dt;
    double *primal, *bound;
    int64_t *bad; /* first non-finite entry of each problem, or -1 */
    int *failed;
    double tol;
} lap_batch;

static void lap_range(void *ctx, int64_t begin, int64_t end) {
    lap_batch *b = ctx;
    const int N = (int)b->N, M = (int)b->M;
    const bool tr = N > M;
    const int n = tr ? M : N, m = tr ? N : M;
    const size_t nm = (size_t)N * M;
    lap_work w = {0};
    double *c = malloc(sizeof(double) * nm), *ct = tr ? malloc(sizeof(double) * nm) : NULL;
    for (int64_t p = begin; p < end; p++) {
        b->bad[p] = -1;
        if (!c || (tr && !ct)) {
            b->failed[p] = 1;
            continue;
        }
        if (b->cost_dt == MF_F32) {
            const float *s = (const float *)b->cost + p * nm;
            for (size_t k = 0; k < nm; k++)
                c[k] = s[k];
        } else {
            memcpy(c, (const double *)b->cost + p * nm, sizeof(double) * nm);
        }
        double check = 0;
        for (size_t k = 0; k < nm; k++)
            check += c[k] * 0;
        if (check != 0 || isnan(check)) {
            for (size_t k = 0; k < nm; k++)
                if (!isfinite(c[k])) {
                    b->bad[p] = (int64_t)k;
                    break;
                }
            continue;
        }
        if (tr)
            for (int i = 0; i < N; i++)
                for (int j = 0; j < M; j++)
                    ct[(size_t)j * N + i] = c[(size_t)i * M + j];
        if (lap_solve(n, m, tr ? ct : c, &w, b->tol)) {
            b->failed[p] = 1;
            continue;
        }
        double primal = 0, bound = 0;
        if (b->x_dt == MF_F32)
            memset((float *)b->x + p * nm, 0, sizeof(float) * nm);
        else
            memset((double *)b->x + p * nm, 0, sizeof(double) * nm);
        for (int i = 0; i < n; i++) {
            int j = w.col4row[i];
            size_t at = tr ? (size_t)j * M + i : (size_t)i * M + j;
            if (b->x_dt == MF_F32)
                ((float *)b->x)[p * nm + at] = 1;
            else
                ((double *)b->x)[p * nm + at] = 1;
            primal += c[at];
            bound += w.u[i];
        }
        for (int j = 0; j < m; j++)
            bound += w.v[j];
        b->primal[p] = primal;
        b->bound[p] = bound;
    }
    free(c);
    free(ct);
    lap_work_free(&w);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static bool lap_direct(const mf_tensor *t) {
    return t->storage->device.type == MF_CPU && mf_tensor_is_contiguous(t) && (t->dtype == MF_F32 || t->dtype == MF_F64);
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
    double *cost_copy = NULL, *x_copy = NULL;
    double *primal = calloc((size_t)B + 1, sizeof(double));
    double *bound = calloc((size_t)B + 1, sizeof(double));
    int64_t *bad = calloc((size_t)B + 1, sizeof(int64_t));
    int *failed = calloc((size_t)B + 1, sizeof(int));
    if (!primal || !bound || !bad || !failed) {
        st = MF_ERR(MF_ERR_NOMEM, "lap: out of memory for a batch %s", MF_SHAPE(u));
        goto cleanup;
    }
    lap_batch job = {B, N, M, mf_tensor_data(u), u->dtype, mf_tensor_data(x), x->dtype, primal, bound, bad, failed,
                     ls->tolerance};
    if (!lap_direct(u)) {
        cost_copy = malloc(sizeof(double) * (total + 1));
        if (!cost_copy) {
            st = MF_ERR(MF_ERR_NOMEM, "lap: out of memory for a batch %s", MF_SHAPE(u));
            goto cleanup;
        }
        MF_CHECK(hio_read_f64(u, cost_copy, total));
        job.cost = cost_copy;
        job.cost_dt = MF_F64;
    }
    if (!lap_direct(x)) {
        x_copy = calloc(total + 1, sizeof(double));
        if (!x_copy) {
            st = MF_ERR(MF_ERR_NOMEM, "lap: out of memory for a batch %s", MF_SHAPE(u));
            goto cleanup;
        }
        job.x = x_copy;
        job.x_dt = MF_F64;
    }
    if (N > 0 && M > 0) {
        mf_parallel_for(B, 1, lap_range, &job);
        for (int64_t b = 0; b < B; b++) {
            if (bad[b] >= 0) {
                const double *cd = job.cost_dt == MF_F64 ? (const double *)job.cost + b * N * M : NULL;
                const float *cf = job.cost_dt == MF_F32 ? (const float *)job.cost + b * N * M : NULL;
                double v = cd ? cd[bad[b]] : cf[bad[b]];
                st = MF_ERR(MF_ERR_INVALID,
                            "lap: unary cost at batch %lld (row %lld, col %lld) is %g; costs must be finite",
                            (long long)b, (long long)(bad[b] / M), (long long)(bad[b] % M), v);
                goto cleanup;
            }
            if (failed[b]) {
                st = MF_ERR(MF_ERR_NOMEM, "lap: batch %lld of %s could not be solved (out of memory)", (long long)b,
                            MF_SHAPE(u));
                goto cleanup;
            }
        }
    }
    if (x_copy)
        MF_CHECK(hio_write_f64(x, x_copy));
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
    free(cost_copy);
    free(x_copy);
    free(primal);
    free(bound);
    free(bad);
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
