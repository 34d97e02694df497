/* Dense linear assignment by shortest augmenting paths (Jonker-Volgenant:
 * column reduction, then one Dijkstra search per free row over reduced
 * costs, early exit at the first free column). Header-only so the gm
 * plugin reuses it without exporting symbols; every function is static.
 *
 * lap_solve(n, m, c, ...) minimises sum c[i*m + x_i] over injective
 * x : rows -> cols, for n <= m. The dual (u, v) it leaves satisfies
 * c[i][j] - u[i] - v[j] >= 0 with equality on the assignment, and v <= 0
 * on unassigned columns when n < m, so sum u + sum v is a lower bound
 * that equals the optimum. */
#ifndef MEDFM_PLUGIN_LAP_CORE_H
#define MEDFM_PLUGIN_LAP_CORE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Scratch for one problem of at most n x m (reused across a batch). */
typedef struct lap_work {
    int cap_n, cap_m;
    double *u, *v, *shortest;
    int *path, *row4col, *col4row, *remaining, *sr_rows;
    unsigned char *sc;
} lap_work;

static void lap_work_free(lap_work *w) {
    free(w->u);
    free(w->v);
    free(w->shortest);
    free(w->path);
    free(w->row4col);
    free(w->col4row);
    free(w->remaining);
    free(w->sr_rows);
    free(w->sc);
    *w = (lap_work){0};
}

/* 0 on success, -1 when out of memory. */
static int lap_work_reserve(lap_work *w, int n, int m) {
    if (n <= w->cap_n && m <= w->cap_m)
        return 0;
    int cn = n > w->cap_n ? n : w->cap_n, cm = m > w->cap_m ? m : w->cap_m;
    lap_work_free(w);
    w->u = malloc(sizeof(double) * (size_t)(cn + 1));
    w->v = malloc(sizeof(double) * (size_t)(cm + 1));
    w->shortest = malloc(sizeof(double) * (size_t)(cm + 1));
    w->path = malloc(sizeof(int) * (size_t)(cm + 1));
    w->row4col = malloc(sizeof(int) * (size_t)(cm + 1));
    w->col4row = malloc(sizeof(int) * (size_t)(cn + 1));
    w->remaining = malloc(sizeof(int) * (size_t)(cm + 1));
    w->sr_rows = malloc(sizeof(int) * (size_t)(cn + 1));
    w->sc = malloc((size_t)(cm + 1));
    if (!w->u || !w->v || !w->shortest || !w->path || !w->row4col || !w->col4row || !w->remaining || !w->sr_rows ||
        !w->sc) {
        lap_work_free(w);
        return -1;
    }
    w->cap_n = cn;
    w->cap_m = cm;
    return 0;
}

/* One Dijkstra search from free row `cur`; augments and updates the dual.
 * `tol`: a free column whose distance is within tol of the minimum wins the
 * tie (ends the search early; the result is optimal to n * tol). Returns 0,
 * or -1 when no augmenting path exists (cannot happen for finite costs). */
static int lap_augment(int n, int m, const double *c, lap_work *w, int cur, double tol) {
    double *u = w->u, *v = w->v, *shortest = w->shortest;
    int *path = w->path, *row4col = w->row4col, *col4row = w->col4row, *rem = w->remaining;
    int n_rem = m, n_sr = 0;
    for (int j = 0; j < m; j++) {
        rem[j] = m - 1 - j; /* searched from the end: ties go to low columns last-in */
        shortest[j] = INFINITY;
        w->sc[j] = 0;
    }
    double min_val = 0;
    int i = cur, sink = -1;
    while (sink < 0) {
        w->sr_rows[n_sr++] = i;
        const double *ci = c + (size_t)i * m;
        const double base = min_val - u[i];
        double lowest = INFINITY;
        int index = -1;
        for (int it = 0; it < n_rem; it++) {
            int j = rem[it];
            double r = base + ci[j] - v[j];
            if (r < shortest[j]) {
                path[j] = i;
                shortest[j] = r;
            }
            double s = shortest[j];
            if (s < lowest - tol ||
                (s <= lowest + tol && row4col[j] < 0 && (index < 0 || row4col[rem[index]] >= 0))) {
                lowest = s;
                index = it;
            }
        }
        if (index < 0 || !isfinite(lowest))
            return -1;
        min_val = lowest;
        int j = rem[index];
        if (row4col[j] < 0)
            sink = j;
        else
            i = row4col[j];
        w->sc[j] = 1;
        rem[index] = rem[--n_rem];
    }
    (void)n;
    u[cur] += min_val;
    for (int k = 1; k < n_sr; k++) {
        int r = w->sr_rows[k];
        u[r] += min_val - shortest[col4row[r]];
    }
    for (int j = 0; j < m; j++)
        if (w->sc[j])
            v[j] -= min_val - shortest[j];
    int j = sink;
    for (;;) {
        int r = path[j];
        row4col[j] = r;
        int prev = col4row[r];
        col4row[r] = j;
        if (r == cur)
            break;
        j = prev;
    }
    return 0;
}

/* Augmenting row reduction (JV, two passes): a free row takes the column
 * of its smallest reduced cost c_ij - v_j, lowering v_j until it ties the
 * second smallest, and the displaced row is tried next. Keeps every
 * assigned row at its minimum reduced cost, so u_i = c_i,x_i - v_x_i is
 * dual feasible afterwards. `tol` keeps float near-ties from cycling: a
 * decrease smaller than it counts as a tie, and each pass is capped. */
static void lap_arr(int n, int m, const double *c, lap_work *w, double tol) {
    int *F = w->sr_rows, nf = 0;
    double *v = w->v;
    for (int i = 0; i < n; i++)
        if (w->col4row[i] < 0)
            F[nf++] = i;
    for (int pass = 0; pass < 2 && nf > 0; pass++) {
        int k = 0, prev = nf;
        long budget = 8L * n + 64;
        nf = 0;
        while (k < prev) {
            int i = F[k++];
            if (--budget < 0) {
                F[nf++] = i;
                continue;
            }
            const double *ci = c + (size_t)i * m;
            double u1 = ci[0] - v[0], u2 = INFINITY;
            int j1 = 0, j2 = -1;
            for (int j = 1; j < m; j++) {
                double h = ci[j] - v[j];
                if (h < u2) {
                    if (h >= u1) {
                        u2 = h;
                        j2 = j;
                    } else {
                        u2 = u1;
                        u1 = h;
                        j2 = j1;
                        j1 = j;
                    }
                }
            }
            int i0 = w->row4col[j1];
            const bool strict = u1 < u2 - tol;
            if (strict)
                v[j1] -= u2 - u1;
            else if (i0 >= 0) {
                j1 = j2;
                i0 = w->row4col[j1];
            }
            if (i0 >= 0)
                w->col4row[i0] = -1;
            w->col4row[i] = j1;
            w->row4col[j1] = i;
            if (i0 >= 0) {
                if (strict)
                    F[--k] = i0;
                else
                    F[nf++] = i0;
            }
        }
    }
}

/* Solves one n x m problem (n <= m) held row-major in c (finite values).
 * Leaves the assignment in w->col4row and the dual in w->u, w->v. Returns
 * 0, or -1 on failure. */
static int lap_solve(int n, int m, const double *c, lap_work *w, double tol) {
    if (lap_work_reserve(w, n, m))
        return -1;
    for (int j = 0; j < m; j++) {
        w->row4col[j] = -1;
        w->v[j] = 0;
    }
    for (int i = 0; i < n; i++) {
        w->col4row[i] = -1;
        w->u[i] = 0;
    }
    if (n == m) {
        /* Column reduction: v_j = min_i c_ij is dual feasible with u = 0;
         * a row that is the argmin of a column and still free takes it.
         * Columns are visited last to first as in JV. */
        for (int j = m - 1; j >= 0; j--) {
            double best = c[j];
            int bi = 0;
            for (int i = 1; i < n; i++) {
                double x = c[(size_t)i * m + j];
                if (x < best) {
                    best = x;
                    bi = i;
                }
            }
            w->v[j] = best;
            if (w->col4row[bi] < 0) {
                w->col4row[bi] = j;
                w->row4col[j] = bi;
            }
        }
        if (n > 1)
            lap_arr(n, m, c, w, tol);
        for (int i = 0; i < n; i++)
            if (w->col4row[i] >= 0)
                w->u[i] = c[(size_t)i * m + w->col4row[i]] - w->v[w->col4row[i]];
    }
    for (int cur = 0; cur < n; cur++)
        if (w->col4row[cur] < 0 && lap_augment(n, m, c, w, cur, tol))
            return -1;
    return 0;
}

#endif
