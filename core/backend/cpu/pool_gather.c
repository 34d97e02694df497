/* CPU per-dim index gathers: y[o] = x[map0[o0], map1[o1], ...] with -1
 * meaning "fill". pad (all modes), roll and nearest upsampling are all this
 * one map, so they share the kernel and its backward (a scatter-add that
 * runs in parallel over leading dims whose map is the identity). Works on
 * any dtype: f32/f64 get typed loops, others copy raw bytes. */
#include <stdlib.h>
#include <string.h>

#include "core/backend/cpu/pool.h"
#include "core/tensor/dtype.h"
#include "medfm/parallel.h"

typedef struct {
    const mf_tensor *y, *x;
    const int64_t *const *maps;
    double fill;
    char *yd;
    const char *xd;
    size_t es;
    int64_t inner;
} gather_job;

/* Offset in x of row `r` of y (all dims but the last), or -1 if any map
 * entry of the row is -1. */
static int64_t row_source(const mf_tensor *y, const mf_tensor *x, const int64_t *const *maps, int64_t r) {
    int64_t off = 0;
    for (int d = y->ndim - 2; d >= 0; d--) {
        int64_t i = r % y->shape[d];
        r /= y->shape[d];
        int64_t m = maps[d][i];
        if (m < 0)
            return -1;
        off += m * x->stride[d];
    }
    return off;
}

static void gather_range(void *ctx, int64_t r0, int64_t r1) {
    gather_job *j = ctx;
    int last = j->y->ndim - 1;
    const int64_t *m = j->maps[last];
    int64_t xs = j->x->stride[last], n = j->inner;
    char fillv[16];
    mf_store_from_f64(fillv, j->y->dtype, j->fill);
    for (int64_t r = r0; r < r1; r++) {
        int64_t src = row_source(j->y, j->x, j->maps, r);
        if (src < 0) {
            for (int64_t i = 0; i < n; i++)
                memcpy(j->yd + (r * n + i) * (int64_t)j->es, fillv, j->es);
            continue;
        }
        if (j->y->dtype == MF_F32) {
            float *yo = (float *)j->yd + r * n;
            const float *xi = (const float *)j->xd + src;
            float f = (float)j->fill;
            for (int64_t i = 0; i < n; i++)
                yo[i] = m[i] < 0 ? f : xi[m[i] * xs];
        } else if (j->y->dtype == MF_F64) {
            double *yo = (double *)j->yd + r * n;
            const double *xi = (const double *)j->xd + src;
            for (int64_t i = 0; i < n; i++)
                yo[i] = m[i] < 0 ? j->fill : xi[m[i] * xs];
        } else {
            char *yo = j->yd + r * n * (int64_t)j->es;
            for (int64_t i = 0; i < n; i++) {
                const void *s = m[i] < 0 ? (const void *)fillv
                                                      : j->xd + (src + m[i] * xs) * (int64_t)j->es;
                memcpy(yo + i * (int64_t)j->es, s, j->es);
            }
        }
    }
}

mf_status mf_cpu_pool_gather(mf_tensor *y, const mf_tensor *x, const int64_t *const *maps, double fill) {
    if (mf_tensor_numel(y) == 0)
        return MF_OK;
    gather_job j = {.y = y, .x = x, .maps = maps, .fill = fill, .yd = mf_tensor_data(y), .xd = mf_tensor_data(x),
                    .es = mf_dtype_size(y->dtype), .inner = y->shape[y->ndim - 1]};
    int64_t rows = mf_tensor_numel(y) / j.inner;
    int64_t grain = 32768 / j.inner;
    mf_parallel_for(rows, grain < 1 ? 1 : grain, gather_range, &j);
    return MF_OK;
}

typedef struct {
    const mf_tensor *gx, *gy;
    const int64_t *const *maps;
    int64_t rows_per_block, inner;
} scatter_job;

/* gx and gy are contiguous; a block is a run of rows that no other block
 * writes to, because the dims above it map identically. */
static void scatter_range(void *ctx, int64_t b0, int64_t b1) {
    scatter_job *j = ctx;
    int last = j->gy->ndim - 1;
    const int64_t *m = j->maps[last];
    int64_t n = j->inner;
    for (int64_t r = b0 * j->rows_per_block; r < b1 * j->rows_per_block; r++) {
        int64_t dst = row_source(j->gy, j->gx, j->maps, r);
        if (dst < 0)
            continue;
        if (j->gx->dtype == MF_F64) {
            double *gx = (double *)mf_tensor_data(j->gx) + dst;
            const double *gy = (const double *)mf_tensor_data(j->gy) + r * n;
            for (int64_t i = 0; i < n; i++)
                if (m[i] >= 0)
                    gx[m[i]] += gy[i];
        } else {
            float *gx = (float *)mf_tensor_data(j->gx) + dst;
            const float *gy = (const float *)mf_tensor_data(j->gy) + r * n;
            for (int64_t i = 0; i < n; i++)
                if (m[i] >= 0)
                    gx[m[i]] += gy[i];
        }
    }
}

mf_status mf_cpu_pool_gather_backward(mf_tensor *gx, const mf_tensor *gy, const int64_t *const *maps) {
    if (gx->dtype != MF_F32 && gx->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "gather backward: needs f32 or f64, got %s", mf_dtype_name(gx->dtype));
    memset(mf_tensor_data(gx), 0, mf_tensor_nbytes(gx));
    if (mf_tensor_numel(gy) == 0)
        return MF_OK;
    int n = gy->ndim;
    int lead = 0; /* leading dims (never the last) whose map is the identity */
    while (lead < n - 1 && gy->shape[lead] == gx->shape[lead]) {
        bool ident = true;
        for (int64_t i = 0; i < gy->shape[lead] && ident; i++)
            ident = maps[lead][i] == i;
        if (!ident)
            break;
        lead++;
    }
    int64_t blocks = 1, rows = 1;
    for (int d = 0; d < lead; d++)
        blocks *= gy->shape[d];
    for (int d = lead; d < n - 1; d++)
        rows *= gy->shape[d];
    scatter_job j = {.gx = gx, .gy = gy, .maps = maps, .rows_per_block = rows, .inner = gy->shape[n - 1]};
    int64_t per = rows * j.inner;
    int64_t grain = 32768 / (per > 0 ? per : 1);
    mf_parallel_for(blocks, grain < 1 ? 1 : grain, scatter_range, &j);
    return MF_OK;
}
