/* CPU kernels of the index family: bounds checks, gather and a race-free,
 * deterministic scatter_add (each output element is owned by one task). */
#include <string.h>

#include "core/backend/cpu/strided.h"
#include "core/backend/kern_index.h"
#include "core/tensor/dtype.h"
#include "medfm/parallel.h"

/* ---------------------------------------------------------------- bounds */

static mf_status cpu_bounds(const mf_tensor *index, int64_t size, int64_t *n_bad, int64_t *first_pos,
                            int64_t *first_val) {
    mf_layout L;
    const int64_t *s[1] = {index->stride};
    mf_layout_build(&L, index->ndim, index->shape, 1, s);
    const int64_t *p = mf_tensor_data(index);
    int64_t bad = 0, pos = -1, val = 0, sd = L.stride[0][L.ndim - 1];
    for (int64_t r = 0; r < L.rows; r++) {
        int64_t off[1];
        mf_layout_row(&L, r, off);
        for (int64_t i = 0; i < L.inner; i++) {
            int64_t v = p[off[0] + i * sd];
            if (v < 0 || v >= size) {
                if (!bad++) {
                    pos = r * L.inner + i;
                    val = v;
                }
            }
        }
    }
    *n_bad = bad;
    *first_pos = pos;
    *first_val = val;
    return MF_OK;
}

/* ---------------------------------------------------------------- gather */

typedef struct {
    mf_layout L; /* arrays: out, index, x with stride 0 along dim */
    char *o;
    const char *x;
    const int64_t *idx;
    int64_t xdim_stride;
    size_t es;
} gather_job;

#define GATHER_LOOP(T)                                                                                       \
    for (int64_t r = r0; r < r1; r++) {                                                                      \
        int64_t off[3];                                                                                      \
        mf_layout_row(&j->L, r, off);                                                                        \
        T *o = (T *)j->o + off[0];                                                                           \
        const int64_t *ix = j->idx + off[1];                                                                 \
        const T *x = (const T *)j->x + off[2];                                                               \
        for (int64_t i = 0; i < n; i++)                                                                      \
            o[i * so] = x[i * sx + ix[i * si] * sd];                                                         \
    }

static void gather_range(void *ctx, int64_t r0, int64_t r1) {
    gather_job *j = ctx;
    int last = j->L.ndim - 1;
    int64_t n = j->L.inner, so = j->L.stride[0][last], si = j->L.stride[1][last], sx = j->L.stride[2][last],
            sd = j->xdim_stride;
    switch (j->es) {
    case 1: GATHER_LOOP(uint8_t) break;
    case 2: GATHER_LOOP(uint16_t) break;
    case 4: GATHER_LOOP(uint32_t) break;
    default: GATHER_LOOP(uint64_t) break;
    }
}

static mf_status cpu_gather(mf_tensor *out, const mf_tensor *x, int dim, const mf_tensor *index) {
    gather_job j = {.o = mf_tensor_data(out),
                    .x = mf_tensor_data(x),
                    .idx = mf_tensor_data(index),
                    .xdim_stride = x->stride[dim],
                    .es = mf_dtype_size(out->dtype)};
    int64_t xs[MF_MAX_DIMS];
    memcpy(xs, x->stride, sizeof xs);
    xs[dim] = 0;
    const int64_t *s[3] = {out->stride, index->stride, xs};
    mf_layout_build(&j.L, index->ndim, index->shape, 3, s);
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), gather_range, &j);
    return MF_OK;
}

/* ----------------------------------------------------------- scatter_add */

/* The layout walks index's shape with `dim` moved last, so one row holds
 * every contribution that can land on the same output elements: rows never
 * race and each row adds in index order. */
typedef struct {
    mf_layout L; /* arrays: index, src, out with stride 0 along dim */
    char *o;
    const char *src;
    const int64_t *idx;
    int64_t odim_stride;
    mf_dtype dt;
} scatter_job;

#define SCATTER_LOOP(T)                                                                                      \
    for (int64_t r = r0; r < r1; r++) {                                                                      \
        int64_t off[3];                                                                                      \
        mf_layout_row(&j->L, r, off);                                                                        \
        const int64_t *ix = j->idx + off[0];                                                                 \
        const T *s = (const T *)j->src + off[1];                                                             \
        T *o = (T *)j->o + off[2];                                                                           \
        for (int64_t i = 0; i < n; i++)                                                                      \
            o[i * so + ix[i * si] * sd] += s[i * ss];                                                        \
    }

static void scatter_range(void *ctx, int64_t r0, int64_t r1) {
    scatter_job *j = ctx;
    int last = j->L.ndim - 1;
    int64_t n = j->L.inner, si = j->L.stride[0][last], ss = j->L.stride[1][last], so = j->L.stride[2][last],
            sd = j->odim_stride;
    if (j->dt == MF_F32) {
        SCATTER_LOOP(float)
    } else if (j->dt == MF_F64) {
        SCATTER_LOOP(double)
    } else {
        size_t es = mf_dtype_size(j->dt);
        for (int64_t r = r0; r < r1; r++) {
            int64_t off[3];
            mf_layout_row(&j->L, r, off);
            for (int64_t i = 0; i < n; i++) {
                char *po = j->o + (off[2] + i * so + j->idx[off[0] + i * si] * sd) * (int64_t)es;
                const char *ps = j->src + (off[1] + i * ss) * (int64_t)es;
                mf_store_from_f64(po, j->dt, mf_load_as_f64(po, j->dt) + mf_load_as_f64(ps, j->dt));
            }
        }
    }
}

static mf_status cpu_scatter_add(mf_tensor *out, int dim, const mf_tensor *index, const mf_tensor *src) {
    scatter_job j = {.o = mf_tensor_data(out),
                     .src = mf_tensor_data(src),
                     .idx = mf_tensor_data(index),
                     .odim_stride = out->stride[dim],
                     .dt = out->dtype};
    int nd = index->ndim, k = 0;
    int64_t shape[MF_MAX_DIMS], is[MF_MAX_DIMS], ss[MF_MAX_DIMS], os[MF_MAX_DIMS];
    for (int d = 0; d <= nd; d++) {
        int e = d < nd ? d : dim; /* every dim but `dim`, then `dim` */
        if (d < nd && d == dim)
            continue;
        shape[k] = index->shape[e];
        is[k] = index->stride[e];
        ss[k] = src->stride[e];
        os[k] = e == dim ? 0 : out->stride[e];
        k++;
    }
    const int64_t *s[3] = {is, ss, os};
    mf_layout_build(&j.L, nd, shape, 3, s);
    /* A trailing size-1 `dim` is dropped by the layout; then rows hold one
     * contribution per output element and still never race. */
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), scatter_range, &j);
    return MF_OK;
}

mf_status mf_cpu_cdist(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double p);
mf_status mf_cpu_cdist_backward(mf_tensor *ga, mf_tensor *gb, const mf_tensor *g, const mf_tensor *a,
                                const mf_tensor *b, const mf_tensor *d, double p);

const struct mf_kern_index mf_cpu_index = {
    .bounds = cpu_bounds,
    .gather = cpu_gather,
    .scatter_add = cpu_scatter_add,
    .cdist = mf_cpu_cdist,
    .cdist_backward = mf_cpu_cdist_backward,
};
