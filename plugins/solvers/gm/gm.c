/* The `gm` solver plugin: second-order graph matching (unary + quadratic
 * costs over pairs of edges) by Lagrangean decomposition and dual ascent,
 * with primals rounded by linear assignment (lap_core.h) and polished by
 * pairwise swaps.
 *
 * Decomposition. Rows are the nodes of the smaller graph, padded with
 * zero-cost dummy rows to a square n x n problem (so every feasible
 * matching is a permutation). Each unordered pair of rows {i, j} joined by
 * an edge gets a pairwise factor T_ij(a, c): the quadratic costs of "i takes
 * a and j takes c" (a != c; self-loop edges fold into the unary). The
 * energy of a permutation x is then
 *     E(x) = K + sum_i theta_i(x_i) + sum_ij T_ij(x_i, x_j)
 * with K = 0, theta = unary, T = the pairwise tables. Dual ascent only
 * applies reparametrisations that leave E unchanged on every permutation:
 *   - collect: subtract m(a) = min_{c != a} T_ij(a, c) from row a of the
 *     table and add it to theta_i(a) (likewise for columns into theta_j);
 *   - reduce: solve LAP(theta) exactly with dual (u, v); theta_ia - u_i -
 *     v_a >= 0 and sum_i (u_i + v_{x_i}) = sum u + sum v on any permutation,
 *     so theta <- theta - u - v and K <- K + sum u + sum v;
 *   - spread: move each row's theta_i(a) into its incident tables in equal
 *     shares (rows without edges keep theta).
 * Since min over permutations of a sum is at least the sum of the minima,
 *     E(x) >= K + LAP(theta) + sum_ij min T_ij
 * for every permutation x and every reparametrisation reached, so this is a
 * valid lower bound at every iteration (right after collect, every table
 * has minimum 0 and the bound is K + LAP(theta)). The LAP factor carries
 * the one-to-one constraint exactly, which is what makes the bound tighter
 * than a plain MRF relaxation (Swoboda et al., CVPR 2017, use the same
 * factor split). Every primal_every iterations the LAP solution of the
 * collected theta is evaluated on the original costs and improved by swaps;
 * the best primal is kept and the solver stops when it meets the bound. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lap/host_io.h"
#include "../lap/lap_core.h"
#include "medfm/parallel.h"
#include "medfm/plugin.h"
#include "medfm/solver.h"

typedef struct gm_state {
    int64_t max_iter, primal_every;
    double time_limit_ms, tolerance, min_improvement;
} gm_state;

/* One problem in the square, row-oriented form described above. */
typedef struct gm_inst {
    int n;         /* labels = rows after padding */
    int n_real;    /* real rows */
    int n_fac;     /* pairwise factors */
    double *unary; /* n x n, original costs (dummy rows 0) */
    int *fac_lo, *fac_hi;
    double *tab0;  /* n_fac x n x n original tables */
    int *adj_start, *adj; /* per row: incident factor ids */
} gm_inst;

static void gm_inst_free(gm_inst *g) {
    free(g->unary);
    free(g->fac_lo);
    free(g->fac_hi);
    free(g->tab0);
    free(g->adj_start);
    free(g->adj);
    *g = (gm_inst){0};
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Builds the instance. un: N x M; q: E1 x E2 (or NULL); e1, e2: edges. */
static int gm_inst_build(gm_inst *g, int N, int M, const double *un, const double *q, int E1, int E2,
                         const int64_t *e1, const int64_t *e2) {
    const bool tr = N > M;
    const int R = tr ? M : N, n = tr ? N : M;
    g->n = n;
    g->n_real = R;
    g->unary = calloc((size_t)n * n, sizeof(double));
    int *fid = malloc(sizeof(int) * (size_t)n * n);
    if (!g->unary || !fid) {
        free(fid);
        return -1;
    }
    for (int i = 0; i < R; i++)
        for (int a = 0; a < n; a++)
            g->unary[(size_t)i * n + a] = tr ? un[(size_t)a * M + i] : un[(size_t)i * M + a];
    for (int k = 0; k < n * n; k++)
        fid[k] = -1;
    /* Row edges are graph 1's edges unless transposed. */
    const int ER = tr ? E2 : E1;
    const int64_t *er = tr ? e2 : e1;
    int nf = 0;
    if (q)
        for (int e = 0; e < ER; e++) {
            int i = (int)er[2 * e], j = (int)er[2 * e + 1];
            if (i == j)
                continue;
            int lo = i < j ? i : j, hi = i < j ? j : i;
            if (fid[lo * n + hi] < 0)
                fid[lo * n + hi] = nf++;
        }
    g->n_fac = nf;
    g->fac_lo = malloc(sizeof(int) * (size_t)(nf + 1));
    g->fac_hi = malloc(sizeof(int) * (size_t)(nf + 1));
    g->tab0 = calloc((size_t)(nf ? nf : 1) * n * n, sizeof(double));
    g->adj_start = calloc((size_t)n + 1, sizeof(int));
    g->adj = malloc(sizeof(int) * (size_t)(2 * nf + 1));
    if (!g->fac_lo || !g->fac_hi || !g->tab0 || !g->adj_start || !g->adj) {
        free(fid);
        return -1;
    }
    for (int lo = 0; lo < n; lo++)
        for (int hi = lo + 1; hi < n; hi++) {
            int f = fid[lo * n + hi];
            if (f >= 0) {
                g->fac_lo[f] = lo;
                g->fac_hi[f] = hi;
            }
        }
    if (q)
        for (int a1 = 0; a1 < E1; a1++)
            for (int a2 = 0; a2 < E2; a2++) {
                double w = q[(size_t)a1 * E2 + a2];
                if (w == 0)
                    continue;
                int re = tr ? a2 : a1, le = tr ? a1 : a2;
                int i = (int)er[2 * re], j = (int)er[2 * re + 1];
                const int64_t *el = tr ? e1 : e2;
                int a = (int)el[2 * le], c = (int)el[2 * le + 1];
                if (i == j) {
                    if (a == c)
                        g->unary[(size_t)i * n + a] += w; /* x_ia * x_ia */
                    continue;
                }
                if (a == c)
                    continue; /* two rows never share a label */
                if (i < j)
                    g->tab0[((size_t)fid[i * n + j] * n + a) * n + c] += w;
                else
                    g->tab0[((size_t)fid[j * n + i] * n + c) * n + a] += w;
            }
    free(fid);
    for (int f = 0; f < nf; f++) {
        g->adj_start[g->fac_lo[f] + 1]++;
        g->adj_start[g->fac_hi[f] + 1]++;
    }
    for (int i = 0; i < n; i++)
        g->adj_start[i + 1] += g->adj_start[i];
    int *fill = calloc((size_t)n, sizeof(int));
    if (!fill)
        return -1;
    for (int f = 0; f < nf; f++) {
        int lo = g->fac_lo[f], hi = g->fac_hi[f];
        g->adj[g->adj_start[lo] + fill[lo]++] = f;
        g->adj[g->adj_start[hi] + fill[hi]++] = f;
    }
    free(fill);
    return 0;
}

/* Energy terms of row i under labelling lab (its unary and its tables). */
static double gm_row_energy(const gm_inst *g, const int *lab, int i) {
    const int n = g->n;
    double e = g->unary[(size_t)i * n + lab[i]];
    for (int k = g->adj_start[i]; k < g->adj_start[i + 1]; k++) {
        int f = g->adj[k];
        e += g->tab0[((size_t)f * n + lab[g->fac_lo[f]]) * n + lab[g->fac_hi[f]]];
    }
    return e;
}

static double gm_energy(const gm_inst *g, const int *lab) {
    const int n = g->n;
    double e = 0;
    for (int i = 0; i < n; i++)
        e += g->unary[(size_t)i * n + lab[i]];
    for (int f = 0; f < g->n_fac; f++)
        e += g->tab0[((size_t)f * n + lab[g->fac_lo[f]]) * n + lab[g->fac_hi[f]]];
    return e;
}

static double gm_pair_term(const gm_inst *g, const int *lab, int i, int j) {
    const int n = g->n;
    for (int k = g->adj_start[i]; k < g->adj_start[i + 1]; k++) {
        int f = g->adj[k];
        if (g->fac_lo[f] == j || g->fac_hi[f] == j)
            return g->tab0[((size_t)f * n + lab[g->fac_lo[f]]) * n + lab[g->fac_hi[f]]];
    }
    return 0;
}

/* First-improvement local search over label swaps of two rows (a real row
 * with a dummy row moves it to an unused label). Returns the energy. */
static double gm_local_search(const gm_inst *g, int *lab, double energy) {
    const int n = g->n;
    for (int pass = 0; pass < 50; pass++) {
        bool improved = false;
        for (int i = 0; i < g->n_real; i++)
            for (int j = i + 1; j < n; j++) {
                double before = gm_row_energy(g, lab, i) + gm_row_energy(g, lab, j) - gm_pair_term(g, lab, i, j);
                int t = lab[i];
                lab[i] = lab[j];
                lab[j] = t;
                double after = gm_row_energy(g, lab, i) + gm_row_energy(g, lab, j) - gm_pair_term(g, lab, i, j);
                if (after < before - 1e-12 * (1 + fabs(before))) {
                    energy += after - before;
                    improved = true;
                } else {
                    lab[j] = lab[i];
                    lab[i] = t;
                }
            }
        if (!improved)
            break;
    }
    return energy;
}

typedef struct gm_result {
    double primal, bound;
    int64_t iterations;
} gm_result;

/* Dual ascent on one instance; writes the best labelling into best_lab. */
static int gm_run(const gm_inst *g, const gm_state *cfg, int *best_lab, gm_result *res) {
    const int n = g->n, nf = g->n_fac;
    double *theta = malloc(sizeof(double) * (size_t)n * n);
    double *tab = malloc(sizeof(double) * (size_t)(nf ? nf : 1) * n * n);
    double *colmin = malloc(sizeof(double) * (size_t)n);
    double *share = calloc((size_t)n * n, sizeof(double));
    int *lab = malloc(sizeof(int) * (size_t)n);
    lap_work w = {0};
    if (!theta || !tab || !colmin || !share || !lab || lap_work_reserve(&w, n, n)) {
        free(share);
        free(theta);
        free(tab);
        free(colmin);
        free(lab);
        lap_work_free(&w);
        return -1;
    }
    memcpy(theta, g->unary, sizeof(double) * (size_t)n * n);
    memcpy(tab, g->tab0, sizeof(double) * (size_t)nf * n * n);
    for (int f = 0; f < nf; f++)
        for (int a = 0; a < n; a++)
            tab[((size_t)f * n + a) * n + a] = INFINITY;
    const double t0 = now_s();
    double K = 0, best_primal = INFINITY, best_bound = -INFINITY;
    int64_t it = 0, last_rise = 0, last_primal = -1;
    int rc = 0;
    for (it = 0; it < (cfg->max_iter > 0 ? cfg->max_iter : 1); it++) {
        /* collect: min-marginals of every table into its two rows (the
         * diagonal a == c is +inf, so plain minima skip it) */
        for (int f = 0; f < nf; f++) {
            double *T = tab + (size_t)f * n * n;
            double *ti = theta + (size_t)g->fac_lo[f] * n, *tj = theta + (size_t)g->fac_hi[f] * n;
            const double *si = share + (size_t)g->fac_lo[f] * n, *sj = share + (size_t)g->fac_hi[f] * n;
            for (int c = 0; c < n; c++)
                colmin[c] = INFINITY;
            for (int a = 0; a < n; a++) {
                double *row = T + (size_t)a * n;
                double m = INFINITY;
                const double sa = si[a];
                for (int c = 0; c < n; c++) {
                    row[c] += sa + sj[c];
                    m = row[c] < m ? row[c] : m;
                }
                for (int c = 0; c < n; c++) {
                    row[c] -= m;
                    colmin[c] = row[c] < colmin[c] ? row[c] : colmin[c];
                }
                ti[a] += m;
            }
            for (int a = 0; a < n; a++) {
                double *row = T + (size_t)a * n;
                for (int c = 0; c < n; c++)
                    row[c] -= colmin[c];
            }
            for (int c = 0; c < n; c++)
                tj[c] += colmin[c];
        }
        memset(share, 0, sizeof(double) * (size_t)n * n);
        /* reduce: exact LAP over the collected unaries */
        if (lap_solve(n, n, theta, &w, 0.0)) {
            rc = -1;
            break;
        }
        double dual = 0;
        for (int i = 0; i < n; i++)
            dual += w.u[i] + w.v[i];
        if (K + dual > best_bound + cfg->min_improvement * (1 + fabs(best_bound)) || it == 0)
            last_rise = it;
        if (K + dual > best_bound)
            best_bound = K + dual;
#ifdef GM_TRACE
        fprintf(stderr, "it %lld bound %.6f best primal %.6f\n", (long long)it, K + dual, best_primal);
#endif
        const bool last = it + 1 >= cfg->max_iter;
        if (it % cfg->primal_every == 0 || last || it - last_rise == cfg->primal_every) {
            for (int i = 0; i < n; i++)
                lab[i] = w.col4row[i];
            double e = gm_local_search(g, lab, gm_energy(g, lab));
            if (e < best_primal) {
                best_primal = e;
                memcpy(best_lab, lab, sizeof(int) * (size_t)n);
            }
            last_primal = it;
        }
        /* Stalled: the bound has not risen for primal_every iterations and
         * a primal was rounded since it last did. */
        const bool stalled =
            cfg->min_improvement > 0 && it - last_rise >= cfg->primal_every && last_primal > last_rise;
        const double scale = fabs(best_primal) > 1 ? fabs(best_primal) : 1;
        if (best_primal - best_bound <= cfg->tolerance * scale || last || stalled)
            break;
        if (cfg->time_limit_ms > 0 && (now_s() - t0) * 1e3 >= cfg->time_limit_ms)
            break;
        /* reparametrise theta to its reduced costs, then spread */
        K += dual;
        for (int i = 0; i < n; i++)
            for (int a = 0; a < n; a++)
                theta[(size_t)i * n + a] -= w.u[i] + w.v[a];
        /* spread is deferred: each row's equal share is added to its
         * tables inside the next collect, saving a pass over them */
        for (int i = 0; i < n; i++) {
            int deg = g->adj_start[i + 1] - g->adj_start[i];
            if (deg == 0)
                continue;
            double *ti = theta + (size_t)i * n, *si = share + (size_t)i * n;
            for (int a = 0; a < n; a++) {
                si[a] = ti[a] / deg;
                ti[a] = 0;
            }
        }
    }
    res->primal = best_primal;
    res->bound = best_bound;
    res->iterations = it + 1;
    free(share);
    free(theta);
    free(tab);
    free(colmin);
    free(lab);
    lap_work_free(&w);
    return rc;
}

/* Costs are converted per problem into per-thread buffers straight from
 * the tensors (contiguous CPU f32/f64; other layouts are staged as f64
 * copies) and solutions written in place, so the common path allocates
 * nothing batch-sized. */
typedef struct gm_batch {
    int64_t B, N, M, E1, E2;
    const void *un, *q;
    mf_dtype udt, qdt;
    const int64_t *e1, *e2;
    void *x;
    mf_dtype xdt;
    gm_result *res;
    int *failed;
    int64_t *bad_u, *bad_q; /* first non-finite entry per problem, or -1 */
    const gm_state *cfg;
} gm_batch;

/* dst = src[0..count) as f64; returns the first non-finite index or -1. */
static int64_t gm_load(double *dst, const void *src, mf_dtype dt, size_t count) {
    if (dt == MF_F32)
        for (size_t k = 0; k < count; k++)
            dst[k] = ((const float *)src)[k];
    else
        memcpy(dst, src, sizeof(double) * count);
    double check = 0;
    for (size_t k = 0; k < count; k++)
        check += dst[k] * 0;
    if (check == 0)
        return -1;
    for (size_t k = 0; k < count; k++)
        if (!isfinite(dst[k]))
            return (int64_t)k;
    return -1;
}

static size_t gm_dsize(mf_dtype dt) { return dt == MF_F32 ? sizeof(float) : sizeof(double); }

static void gm_range(void *ctx, int64_t begin, int64_t end) {
    gm_batch *b = ctx;
    const int N = (int)b->N, M = (int)b->M, n = N > M ? N : M;
    const size_t nm = (size_t)N * M, eq = (size_t)(b->E1 * b->E2);
    int *lab = malloc(sizeof(int) * (size_t)n);
    double *ub = malloc(sizeof(double) * (nm + 1)), *qb = b->q ? malloc(sizeof(double) * (eq + 1)) : NULL;
    for (int64_t p = begin; p < end; p++) {
        b->bad_u[p] = b->bad_q[p] = -1;
        if (!lab || !ub || (b->q && !qb)) {
            b->failed[p] = 1;
            continue;
        }
        b->bad_u[p] = gm_load(ub, (const char *)b->un + p * nm * gm_dsize(b->udt), b->udt, nm);
        if (b->q)
            b->bad_q[p] = gm_load(qb, (const char *)b->q + p * eq * gm_dsize(b->qdt), b->qdt, eq);
        if (b->bad_u[p] >= 0 || b->bad_q[p] >= 0)
            continue;
        gm_inst g = {0};
        if (gm_inst_build(&g, N, M, ub, b->q ? qb : NULL, (int)b->E1, (int)b->E2,
                          b->e1 ? b->e1 + p * b->E1 * 2 : NULL, b->e2 ? b->e2 + p * b->E2 * 2 : NULL) ||
            gm_run(&g, b->cfg, lab, &b->res[p])) {
            b->failed[p] = 1;
            gm_inst_free(&g);
            continue;
        }
        if (b->xdt == MF_F32)
            memset((float *)b->x + p * nm, 0, sizeof(float) * nm);
        else
            memset((double *)b->x + p * nm, 0, sizeof(double) * nm);
        for (int i = 0; i < g.n_real; i++) {
            size_t at = N > M ? (size_t)lab[i] * M + i : (size_t)i * M + lab[i];
            if (b->xdt == MF_F32)
                ((float *)b->x)[p * nm + at] = 1;
            else
                ((double *)b->x)[p * nm + at] = 1;
        }
        gm_inst_free(&g);
    }
    free(lab);
    free(ub);
    free(qb);
}

static bool gm_direct(const mf_tensor *t) {
    return t->storage->device.type == MF_CPU && mf_tensor_is_contiguous(t) &&
           (t->dtype == MF_F32 || t->dtype == MF_F64);
}

static mf_status gm_solve(mf_solver *s, const mf_gm_problem *p, mf_tensor *x, mf_solver_stats *stats) {
    const gm_state *cfg = s->state;
    if (!p || !p->unary || !x)
        return MF_ERR(MF_ERR_INVALID, "gm: problem, unary costs and output x are required");
    const mf_tensor *u = p->unary, *q = p->quadratic;
    if (u->ndim != 3)
        return MF_ERR(MF_ERR_SHAPE, "gm: unary costs must be (B, N, M), got %s", MF_SHAPE(u));
    if (u->dtype != MF_F32 && u->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "gm: unary costs must be f32 or f64, got %s", mf_dtype_name(u->dtype));
    if (!mf_tensor_same_shape(u, x) || x->dtype != u->dtype)
        return MF_ERR(MF_ERR_SHAPE, "gm: x %s %s must match the unary costs %s %s", MF_SHAPE(x),
                      mf_dtype_name(x->dtype), MF_SHAPE(u), mf_dtype_name(u->dtype));
    const int64_t B = u->shape[0], N = u->shape[1], M = u->shape[2];
    int64_t E1 = 0, E2 = 0;
    if (q) {
        const mf_tensor *e1 = p->edges1, *e2 = p->edges2;
        if (!e1 || !e2)
            return MF_ERR(MF_ERR_INVALID, "gm: a quadratic term %s needs edges1 and edges2", MF_SHAPE(q));
        if (q->ndim != 3 || q->shape[0] != B || e1->ndim != 3 || e2->ndim != 3 || e1->shape[0] != B ||
            e2->shape[0] != B || e1->shape[2] != 2 || e2->shape[2] != 2 || q->shape[1] != e1->shape[1] ||
            q->shape[2] != e2->shape[1])
            return MF_ERR(MF_ERR_SHAPE,
                          "gm: quadratic %s must be (B, E1, E2) with edges1 %s (B, E1, 2) and edges2 %s (B, E2, 2), "
                          "B = %lld",
                          MF_SHAPE(q), MF_SHAPE(e1), MF_SHAPE(e2), (long long)B);
        if (q->dtype != u->dtype)
            return MF_ERR(MF_ERR_DTYPE, "gm: quadratic dtype %s differs from unary %s", mf_dtype_name(q->dtype),
                          mf_dtype_name(u->dtype));
        if (e1->dtype != MF_I64 || e2->dtype != MF_I64)
            return MF_ERR(MF_ERR_DTYPE, "gm: edges must be i64, got %s and %s", mf_dtype_name(e1->dtype),
                          mf_dtype_name(e2->dtype));
        E1 = q->shape[1];
        E2 = q->shape[2];
    }
    const double t0 = now_s();
    mf_status st = MF_OK;
    const size_t nu = (size_t)(B * N * M), nq = (size_t)(B * E1 * E2);
    double *un = NULL, *qq = NULL, *xs = NULL;
    int64_t *e1 = q ? malloc(sizeof(int64_t) * (size_t)(B * E1 * 2 + 1)) : NULL;
    int64_t *e2 = q ? malloc(sizeof(int64_t) * (size_t)(B * E2 * 2 + 1)) : NULL;
    gm_result *res = calloc((size_t)B + 1, sizeof(gm_result));
    int *failed = calloc((size_t)B + 1, sizeof(int));
    int64_t *bad = calloc((size_t)(2 * B + 1), sizeof(int64_t));
    if (!res || !failed || !bad || (q && (!e1 || !e2))) {
        st = MF_ERR(MF_ERR_NOMEM, "gm: out of memory for a batch %s", MF_SHAPE(u));
        goto cleanup;
    }
    gm_batch job = {.B = B, .N = N, .M = M, .E1 = E1, .E2 = E2, .un = mf_tensor_data(u),
                    .q = q ? mf_tensor_data(q) : NULL, .udt = u->dtype, .qdt = q ? q->dtype : u->dtype,
                    .e1 = e1, .e2 = e2, .x = mf_tensor_data(x), .xdt = x->dtype, .res = res, .failed = failed,
                    .bad_u = bad, .bad_q = bad + B, .cfg = cfg};
    if (!gm_direct(u)) {
        if (!(un = malloc(sizeof(double) * (nu + 1)))) {
            st = MF_ERR(MF_ERR_NOMEM, "gm: out of memory for a batch %s", MF_SHAPE(u));
            goto cleanup;
        }
        MF_CHECK(hio_read_f64(u, un, nu));
        job.un = un;
        job.udt = MF_F64;
    }
    if (q && !gm_direct(q)) {
        if (!(qq = malloc(sizeof(double) * (nq + 1)))) {
            st = MF_ERR(MF_ERR_NOMEM, "gm: out of memory for a batch %s", MF_SHAPE(q));
            goto cleanup;
        }
        MF_CHECK(hio_read_f64(q, qq, nq));
        job.q = qq;
        job.qdt = MF_F64;
    }
    if (!gm_direct(x)) {
        if (!(xs = calloc(nu + 1, sizeof(double)))) {
            st = MF_ERR(MF_ERR_NOMEM, "gm: out of memory for a batch %s", MF_SHAPE(u));
            goto cleanup;
        }
        job.x = xs;
        job.xdt = MF_F64;
    }
    if (q) {
        MF_CHECK(mf_tensor_to_host(p->edges1, MF_I64, e1, sizeof(int64_t) * (size_t)(B * E1 * 2)));
        MF_CHECK(mf_tensor_to_host(p->edges2, MF_I64, e2, sizeof(int64_t) * (size_t)(B * E2 * 2)));
        for (int64_t k = 0; k < B * E1 * 2; k++)
            if (e1[k] < 0 || e1[k] >= N) {
                st = MF_ERR(MF_ERR_INVALID, "gm: edges1 at batch %lld (edge %lld) names node %lld, outside [0, %lld)",
                            (long long)(k / (E1 * 2)), (long long)(k % (E1 * 2) / 2), (long long)e1[k], (long long)N);
                goto cleanup;
            }
        for (int64_t k = 0; k < B * E2 * 2; k++)
            if (e2[k] < 0 || e2[k] >= M) {
                st = MF_ERR(MF_ERR_INVALID, "gm: edges2 at batch %lld (edge %lld) names node %lld, outside [0, %lld)",
                            (long long)(k / (E2 * 2)), (long long)(k % (E2 * 2) / 2), (long long)e2[k], (long long)M);
                goto cleanup;
            }
    }
    if (N > 0 && M > 0) {
        mf_parallel_for(B, 1, gm_range, &job);
        for (int64_t b = 0; b < B; b++) {
            if (job.bad_u[b] >= 0 || job.bad_q[b] >= 0) {
                const bool isu = job.bad_u[b] >= 0;
                st = MF_ERR(MF_ERR_INVALID,
                            "gm: %s cost at batch %lld (entry %lld) is not finite; costs must be finite",
                            isu ? "unary" : "quadratic", (long long)b, (long long)(isu ? job.bad_u[b] : job.bad_q[b]));
                goto cleanup;
            }
            if (failed[b]) {
                st = MF_ERR(MF_ERR_NOMEM, "gm: batch %lld of %s could not be solved (out of memory)", (long long)b,
                            MF_SHAPE(u));
                goto cleanup;
            }
        }
    }
    if (xs)
        MF_CHECK(hio_write_f64(x, xs));
    if (stats) {
        *stats = (mf_solver_stats){0};
        for (int64_t b = 0; b < B; b++) {
            stats->primal += res[b].primal;
            stats->lower_bound += res[b].bound;
            stats->iterations += res[b].iterations;
            double scale = fabs(res[b].primal) > 1 ? fabs(res[b].primal) : 1;
            stats->proven_optimal += res[b].primal - res[b].bound <= cfg->tolerance * scale;
        }
        stats->seconds = now_s() - t0;
    }
cleanup:
    free(un);
    free(qq);
    free(e1);
    free(e2);
    free(xs);
    free(res);
    free(failed);
    free(bad);
    return st;
}

static void gm_destroy(mf_solver *s) {
    if (!s)
        return;
    free(s->state);
    free(s);
}

static mf_status gm_create(const mf_cfg *cfg, mf_solver **out) {
    gm_state st = {100, 10, 0, 1e-9, 1e-6};
    if (cfg) {
        MF_TRY(mf_cfg_get_int(cfg, "max_iter", st.max_iter, &st.max_iter));
        MF_TRY(mf_cfg_get_int(cfg, "primal_every", st.primal_every, &st.primal_every));
        MF_TRY(mf_cfg_get_float(cfg, "time_limit_ms", st.time_limit_ms, &st.time_limit_ms));
        MF_TRY(mf_cfg_get_float(cfg, "tolerance", st.tolerance, &st.tolerance));
        MF_TRY(mf_cfg_get_float(cfg, "min_improvement", st.min_improvement, &st.min_improvement));
    }
    if (st.max_iter < 1 || st.primal_every < 1 || !(st.time_limit_ms >= 0) || !(st.tolerance >= 0) ||
        !(st.min_improvement >= 0))
        return MF_ERR(MF_ERR_CONFIG,
                      "gm: need max_iter >= 1 (got %lld), primal_every >= 1 (got %lld), time_limit_ms >= 0 (got %g), "
                      "tolerance >= 0 (got %g), min_improvement >= 0 (got %g)",
                      (long long)st.max_iter, (long long)st.primal_every, st.time_limit_ms, st.tolerance,
                      st.min_improvement);
    mf_solver *s = calloc(1, sizeof(*s));
    gm_state *ps = malloc(sizeof(*ps));
    if (!s || !ps) {
        free(s);
        free(ps);
        return MF_ERR(MF_ERR_NOMEM, "gm: out of memory");
    }
    *ps = st;
    *s = (mf_solver){.size = sizeof(mf_solver), .name = "gm", .state = ps, .solve = gm_solve, .destroy = gm_destroy};
    *out = s;
    return MF_OK;
}

static const mf_key_spec gm_keys[] = {
    {.name = "max_iter", .type = MF_KEY_INT, .def = "100", .doc = "dual ascent iterations at most", .min = 1,
     .max = MF_NO_LIMIT},
    {.name = "primal_every", .type = MF_KEY_INT, .def = "10", .doc = "round a primal every this many iterations",
     .min = 1, .max = MF_NO_LIMIT},
    {.name = "time_limit_ms", .type = MF_KEY_FLOAT, .def = "0", .doc = "per-problem time limit in ms (0: none)",
     .min = 0, .max = MF_NO_LIMIT},
    {.name = "tolerance", .type = MF_KEY_FLOAT, .def = "1.0e-9",
     .doc = "stop when primal - bound <= tolerance * max(1, |primal|)", .min = 0, .max = MF_NO_LIMIT},
    {.name = "min_improvement", .type = MF_KEY_FLOAT, .def = "1.0e-6",
     .doc = "stop once the bound rose less than this (relative) for primal_every iterations (0: never)", .min = 0,
     .max = MF_NO_LIMIT},
};
static const mf_schema gm_schema = {"solver gm", gm_keys, 5, false};
static const mf_solver_vtable gm_vtable = {.size = sizeof(mf_solver_vtable), .create = gm_create};
static const mf_plugin_info gm_info = {.size = sizeof(mf_plugin_info), .kind = MF_KIND_SOLVER, .name = "gm",
                                       .version = "1.0.0",
                                       .doc = "second-order graph matching by Lagrangean decomposition and dual ascent",
                                       .schema = &gm_schema, .vtable = &gm_vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "gm"));
    return mf_registry_add(reg, &gm_info);
}
