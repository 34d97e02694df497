/* CPU kernels of the sort family. Every kernel works line by line along
 * one dim, in parallel over lines: a line is copied into a (value, index)
 * buffer, sorted with qsort using the index as tie-break (which makes the
 * sort stable), and the first k entries written back. */
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

typedef struct {
    double v;
    int64_t i;
} keyed;

/* NaN sorts above every number; equal keys keep their original order. */
static int cmp_asc(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    bool na = isnan(a->v), nb = isnan(b->v);
    if (na != nb)
        return na ? 1 : -1;
    if (!na && a->v != b->v)
        return a->v < b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int cmp_desc(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    bool na = isnan(a->v), nb = isnan(b->v);
    if (na != nb)
        return na ? -1 : 1;
    if (!na && a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
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
    keyed *buf = malloc(sizeof(keyed) * (size_t)(n > 0 ? n : 1));
    if (!buf) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    const char *xb = mf_tensor_data(j->x);
    char *vb = j->values ? mf_tensor_data(j->values) : NULL;
    int64_t *ib = j->indices ? mf_tensor_data(j->indices) : NULL;
    int64_t sv = j->values ? j->values->stride[j->dim] : 0;
    int64_t si = j->indices ? j->indices->stride[j->dim] : 0;
    for (int64_t l = l0; l < l1; l++) {
        int64_t off[LINE_ARR];
        lines_offsets(&j->L, l, off);
        for (int64_t i = 0; i < n; i++) {
            buf[i].v = load(xb, j->x->dtype, off[0] + i * sx);
            buf[i].i = i;
        }
        qsort(buf, (size_t)n, sizeof(keyed), j->descending ? cmp_desc : cmp_asc);
        for (int64_t t = 0; t < j->k; t++) {
            if (vb)
                store(vb, j->values->dtype, off[1] + t * sv, buf[t].v);
            if (ib)
                ib[off[2] + t * si] = buf[t].i;
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
