/* CPU kernels of the sort family. Every kernel works line by line along
 * one dim, in parallel over lines. Sorting copies a line into a (key,
 * index) buffer; a full sort is a merge sort, a small topk first selects
 * its k elements (linear time) and sorts only those. */
#include <math.h>
#include <stdlib.h>

#include "core/backend/kern_sort.h"
#include "core/tensor/dtype.h"
#include "medfm/parallel.h"

#define LINE_ARR 3

/* Iterates the lines of up to three same-shaped (outside `dim`) tensors. */
typedef struct {
    int nkept;
    int64_t kshape[MF_MAX_DIMS];
    int64_t kstride[LINE_ARR][MF_MAX_DIMS];
    int64_t nlines;
} lines;

static void lines_build(lines *L, int dim, int narr, const mf_tensor *const *t) {
    L->nkept = 0;
    L->nlines = 1;
    for (int d = 0; d < t[0]->ndim; d++) {
        if (d == dim)
            continue;
        L->kshape[L->nkept] = t[0]->shape[d];
        for (int a = 0; a < narr; a++)
            L->kstride[a][L->nkept] = t[a] ? t[a]->stride[d] : 0;
        L->nkept++;
        L->nlines *= t[0]->shape[d];
    }
}

static void lines_offsets(const lines *L, int64_t line, int64_t *off) {
    for (int a = 0; a < LINE_ARR; a++)
        off[a] = 0;
    for (int d = L->nkept - 1; d >= 0; d--) {
        int64_t i = line % L->kshape[d];
        line /= L->kshape[d];
        for (int a = 0; a < LINE_ARR; a++)
            off[a] += i * L->kstride[a][d];
    }
}

static inline double load(const char *base, mf_dtype dt, int64_t off) {
    if (dt == MF_F32)
        return ((const float *)base)[off];
    if (dt == MF_F64)
        return ((const double *)base)[off];
    return mf_load_as_f64(base + off * (int64_t)mf_dtype_size(dt), dt);
}

static inline void store(char *base, mf_dtype dt, int64_t off, double v) {
    if (dt == MF_F32)
        ((float *)base)[off] = (float)v;
    else if (dt == MF_F64)
        ((double *)base)[off] = v;
    else
        mf_store_from_f64(base + off * (int64_t)mf_dtype_size(dt), dt, v);
}

static int64_t grain_for(int64_t n) {
    int64_t g = 32768 / (n > 0 ? n : 1);
    return g < 1 ? 1 : g;
}

/* ---------------------------------------------------------------- cumsum */

typedef struct {
    lines L;
    const mf_tensor *x;
    mf_tensor *out;
    int dim;
    bool reverse;
} cumsum_job;

static void cumsum_range(void *ctx, int64_t l0, int64_t l1) {
    cumsum_job *j = ctx;
    const char *xb = mf_tensor_data(j->x);
    char *ob = mf_tensor_data(j->out);
    int64_t n = j->x->shape[j->dim], sx = j->x->stride[j->dim], so = j->out->stride[j->dim];
    for (int64_t l = l0; l < l1; l++) {
        int64_t off[LINE_ARR];
        lines_offsets(&j->L, l, off);
        double acc = 0.0;
        for (int64_t t = 0; t < n; t++) {
            int64_t i = j->reverse ? n - 1 - t : t;
            acc += load(xb, j->x->dtype, off[0] + i * sx);
            store(ob, j->out->dtype, off[1] + i * so, acc);
        }
    }
}

static mf_status cpu_cumsum(mf_tensor *out, const mf_tensor *x, int dim, bool reverse) {
    cumsum_job j = {.x = x, .out = out, .dim = dim, .reverse = reverse};
    const mf_tensor *t[2] = {x, out};
    lines_build(&j.L, dim, 2, t);
    mf_parallel_for(j.L.nlines, grain_for(x->shape[dim]), cumsum_range, &j);
    return MF_OK;
}

/* ------------------------------------------------------------------ sort */

/* NaNs are set aside (they order above every number, in their original
 * order); descending sorts negate the keys, so one ascending order serves
 * both. The order compares keys, then original positions: a strict total
 * order, which makes the result stable whatever algorithm runs. */
typedef struct {
    double key;
    int64_t i;
} keyed;

static inline bool before(keyed a, keyed b) { return a.key < b.key || (a.key == b.key && a.i < b.i); }

static void insertion_sort(keyed *a, int64_t n) {
    for (int64_t i = 1; i < n; i++) {
        keyed v = a[i];
        int64_t j = i;
        for (; j > 0 && before(v, a[j - 1]); j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

/* Bottom-up merge sort over runs of 16 sorted by insertion; `tmp` holds n. */
static void merge_sort(keyed *a, keyed *tmp, int64_t n) {
    const int64_t run = 16;
    for (int64_t s = 0; s < n; s += run)
        insertion_sort(a + s, s + run <= n ? run : n - s);
    keyed *src = a, *dst = tmp;
    for (int64_t w = run; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                dst[o++] = before(src[j], src[i]) ? src[j++] : src[i++];
            while (i < mid)
                dst[o++] = src[i++];
            while (j < hi)
                dst[o++] = src[j++];
        }
        keyed *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        for (int64_t i = 0; i < n; i++)
            a[i] = src[i];
}

static inline keyed med3(keyed a, keyed b, keyed c) {
    if (before(a, b))
        return before(b, c) ? b : (before(a, c) ? c : a);
    return before(a, c) ? a : (before(b, c) ? c : b);
}

/* Reorders a so that a[t] is the element of rank t, with smaller ones
 * before it (Hoare's selection, median-of-three pivot). */
static void select_rank(keyed *a, int64_t n, int64_t t) {
    int64_t l = 0, r = n - 1;
    while (l < r) {
        keyed x = med3(a[l], a[l + (r - l) / 2], a[r]);
        int64_t i = l, j = r;
        do {
            while (before(a[i], x))
                i++;
            while (before(x, a[j]))
                j--;
            if (i <= j) {
                keyed v = a[i];
                a[i++] = a[j];
                a[j--] = v;
            }
        } while (i <= j);
        if (j < t)
            l = i;
        if (t < i)
            r = j;
    }
}

typedef struct {
    lines L;
    const mf_tensor *x;
    mf_tensor *values, *indices;
    int dim;
    int64_t k;
    bool descending;
    int failed;
} sort_job;

static void sort_range(void *ctx, int64_t l0, int64_t l1) {
    sort_job *j = ctx;
    int64_t n = j->x->shape[j->dim], sx = j->x->stride[j->dim];
    /* buf: the numbers; tmp: merge scratch, and the NaN positions */
    keyed *buf = malloc(sizeof(keyed) * (size_t)(2 * n + 1));
    if (!buf) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    keyed *tmp = buf + n;
    const char *xb = mf_tensor_data(j->x);
    char *vb = j->values ? mf_tensor_data(j->values) : NULL;
    int64_t *ib = j->indices ? mf_tensor_data(j->indices) : NULL;
    int64_t sv = j->values ? j->values->stride[j->dim] : 0;
    int64_t si = j->indices ? j->indices->stride[j->dim] : 0;
    double sign = j->descending ? -1.0 : 1.0;
    for (int64_t l = l0; l < l1; l++) {
        int64_t off[LINE_ARR];
        lines_offsets(&j->L, l, off);
        int64_t m = 0, nn = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = load(xb, j->x->dtype, off[0] + i * sx);
            if (isnan(v))
                tmp[nn++].i = i;
            else
                buf[m++] = (keyed){sign * v, i};
        }
        keyed *nans = buf + m; /* NaN positions, in order, after the numbers */
        for (int64_t t = 0; t < nn; t++)
            nans[t] = tmp[t];
        /* NaNs lead a descending order and end an ascending one */
        int64_t lead = j->descending ? nn : 0;
        int64_t want = j->k - lead; /* numbers needed */
        want = want < 0 ? 0 : want > m ? m : want;
        if (want > 0) {
            int64_t len = m;
            if (want < m && want <= m / 4) {
                select_rank(buf, m, want - 1);
                len = want;
            }
            merge_sort(buf, tmp, len);
        }
        for (int64_t t = 0; t < j->k; t++) {
            int64_t u = t - lead, at;
            double v = NAN;
            if (u < 0)
                at = nans[t].i;
            else if (u < want) {
                at = buf[u].i;
                v = sign * buf[u].key;
            } else
                at = nans[u - want].i;
            if (vb)
                store(vb, j->values->dtype, off[1] + t * sv, v);
            if (ib)
                ib[off[2] + t * si] = at;
        }
    }
    free(buf);
}

static mf_status cpu_sort(mf_tensor *values, mf_tensor *indices, const mf_tensor *x, int dim, int64_t k,
                          bool descending) {
    sort_job j = {.x = x, .values = values, .indices = indices, .dim = dim, .k = k, .descending = descending};
    const mf_tensor *t[3] = {x, values, indices};
    lines_build(&j.L, dim, 3, t);
    mf_parallel_for(j.L.nlines, grain_for(x->shape[dim] * 8), sort_range, &j);
    if (j.failed)
        return MF_ERR(MF_ERR_NOMEM, "sort: out of memory for a line of %lld elements", (long long)x->shape[dim]);
    return MF_OK;
}

/* ----------------------------------------------------------- scatter_add */

typedef struct {
    lines L;
    mf_tensor *out;
    const mf_tensor *index, *src;
    int dim;
} scatter_job;

static void scatter_range(void *ctx, int64_t l0, int64_t l1) {
    scatter_job *j = ctx;
    char *ob = mf_tensor_data(j->out);
    const char *sb = mf_tensor_data(j->src);
    const int64_t *ib = mf_tensor_data(j->index);
    int64_t n = j->src->shape[j->dim], size = j->out->shape[j->dim];
    int64_t so = j->out->stride[j->dim], ss = j->src->stride[j->dim], si = j->index->stride[j->dim];
    for (int64_t l = l0; l < l1; l++) {
        int64_t off[LINE_ARR];
        lines_offsets(&j->L, l, off);
        for (int64_t t = 0; t < n; t++) {
            int64_t at = ib[off[1] + t * si];
            if (at < 0 || at >= size) /* indices come from sort/max; never out of range */
                continue;
            int64_t o = off[0] + at * so;
            store(ob, j->out->dtype, o, load(ob, j->out->dtype, o) + load(sb, j->src->dtype, off[2] + t * ss));
        }
    }
}

static mf_status cpu_scatter_add(mf_tensor *out, const mf_tensor *index, const mf_tensor *src, int dim) {
    scatter_job j = {.out = out, .index = index, .src = src, .dim = dim};
    const mf_tensor *t[3] = {out, index, src};
    lines_build(&j.L, dim, 3, t);
    mf_parallel_for(j.L.nlines, grain_for(src->shape[dim]), scatter_range, &j);
    return MF_OK;
}

const struct mf_kern_sort mf_cpu_sort = {
    .cumsum = cpu_cumsum,
    .sort = cpu_sort,
    .scatter_add = cpu_scatter_add,
};
