/* CPU reductions other than sum (cpu/reduce_sum.c), and the family table.
 * Each output element gathers its reduced sub-block into a per-chunk double
 * buffer, then reduces that contiguous buffer: one gather loop per dtype,
 * and the statistics (two-pass variance, max-shifted logsumexp) read plain
 * doubles, which also gives f32 inputs double accumulation for free. */
#include <math.h>
#include <stdlib.h>

#include "core/backend/cpu/strided.h"
#include "core/backend/kern_reduce.h"
#include "core/tensor/dtype.h"
#include "medfm/parallel.h"

mf_status mf_cpu_reduce_sum(mf_tensor *out, const mf_tensor *x, uint32_t mask);

typedef enum { RED_MAX, RED_MIN, RED_VAR, RED_LSE, RED_NORM } red_kind;

typedef struct {
    red_kind kind;
    double arg; /* divisor (var) or p (norm) */
    const mf_tensor *x;
    mf_tensor *out;
    mf_layout R; /* the reduced dims of x */
    int nkept;
    int64_t kshape[MF_MAX_DIMS], kstride_x[MF_MAX_DIMS], kstride_o[MF_MAX_DIMS];
    int64_t count;
    int failed; /* set when a chunk could not get its buffer */
} red_job;

/* Copies the reduced sub-blocks of `nb` outputs, neighbours along the
 * innermost kept dim (x stride `ks`), into buf[b * count ...]. With nb > 1
 * the loop over b is innermost, so a reduction over leading dims reads
 * whole cache lines instead of one element per line. */
#define GATHER_LOOP(T)                                                                                        \
    do {                                                                                                      \
        const T *p = (const T *)xb + base;                                                                    \
        if (nb == 1)                                                                                          \
            for (int64_t i = 0; i < n; i++)                                                                   \
                buf[k + i] = p[i * s];                                                                        \
        else                                                                                                  \
            for (int64_t i = 0; i < n; i++)                                                                   \
                for (int64_t b = 0; b < nb; b++)                                                              \
                    buf[b * j->count + k + i] = p[i * s + b * ks];                                            \
    } while (0)

static void gather(const red_job *j, int64_t xoff, int64_t nb, int64_t ks, double *buf) {
    mf_dtype dt = j->x->dtype;
    const char *xb = mf_tensor_data(j->x);
    size_t es = mf_dtype_size(dt);
    int64_t s = j->R.stride[0][j->R.ndim - 1], n = j->R.inner, k = 0;
    for (int64_t r = 0; r < j->R.rows; r++) {
        int64_t off[1];
        mf_layout_row(&j->R, r, off);
        int64_t base = xoff + off[0];
        if (dt == MF_F32) {
            GATHER_LOOP(float);
        } else if (dt == MF_F64) {
            GATHER_LOOP(double);
        } else {
            for (int64_t i = 0; i < n; i++)
                for (int64_t b = 0; b < nb; b++)
                    buf[b * j->count + k + i] = mf_load_as_f64(xb + (base + i * s + b * ks) * (int64_t)es, dt);
        }
        k += n;
    }
}

static double reduce_buf(red_kind kind, double arg, const double *v, int64_t n) {
    switch (kind) {
    case RED_MAX:
    case RED_MIN: {
        double m = v[0];
        for (int64_t i = 1; i < n && !isnan(m); i++)
            if (isnan(v[i]) || (kind == RED_MAX ? v[i] > m : v[i] < m))
                m = v[i];
        return m;
    }
    case RED_VAR: {
        double mean = 0.0, ss = 0.0;
        for (int64_t i = 0; i < n; i++)
            mean += v[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++)
            ss += (v[i] - mean) * (v[i] - mean);
        return ss / arg;
    }
    case RED_LSE: {
        if (n == 0)
            return -INFINITY;
        double m = v[0];
        for (int64_t i = 1; i < n; i++)
            if (v[i] > m || isnan(v[i]))
                m = v[i];
        if (isinf(m) || isnan(m)) /* all -inf, a +inf or a NaN decide alone */
            return m;
        double s = 0.0;
        for (int64_t i = 0; i < n; i++)
            s += exp(v[i] - m);
        return m + log(s);
    }
    case RED_NORM: {
        double s = 0.0;
        if (isinf(arg)) {
            for (int64_t i = 0; i < n; i++) {
                double a = fabs(v[i]);
                if (a > s || isnan(a))
                    s = a;
                if (isnan(s))
                    break;
            }
            return s;
        }
        if (arg == 2.0) {
            for (int64_t i = 0; i < n; i++)
                s += v[i] * v[i];
            return sqrt(s);
        }
        if (arg == 1.0) {
            for (int64_t i = 0; i < n; i++)
                s += fabs(v[i]);
            return s;
        }
        for (int64_t i = 0; i < n; i++)
            s += pow(fabs(v[i]), arg);
        return pow(s, 1.0 / arg);
    }
    }
    return NAN;
}

#define RED_BLOCK 16

static void red_range(void *ctx, int64_t o0, int64_t o1) {
    red_job *j = ctx;
    /* block along the innermost kept dim when it is the faster-moving one */
    int last = j->nkept - 1;
    int64_t ks = last >= 0 ? j->kstride_x[last] : 0, rs = j->R.stride[0][j->R.ndim - 1];
    int64_t block = last >= 0 && j->count > 1 && llabs(ks) < llabs(rs) ? RED_BLOCK : 1;
    double *buf = malloc(sizeof(double) * (size_t)(j->count > 0 ? j->count * block : 1));
    if (!buf) {
        __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    char *ob = mf_tensor_data(j->out);
    size_t oes = mf_dtype_size(j->out->dtype);
    for (int64_t o = o0; o < o1;) {
        int64_t rem = o, xoff = 0, ooff = 0, ilast = 0;
        for (int d = j->nkept - 1; d >= 0; d--) {
            int64_t i = rem % j->kshape[d];
            if (d == last)
                ilast = i;
            rem /= j->kshape[d];
            xoff += i * j->kstride_x[d];
            ooff += i * j->kstride_o[d];
        }
        int64_t nb = block;
        if (last >= 0 && nb > j->kshape[last] - ilast)
            nb = j->kshape[last] - ilast;
        if (nb > o1 - o)
            nb = o1 - o;
        gather(j, xoff, nb, ks, buf);
        for (int64_t b = 0; b < nb; b++)
            mf_store_from_f64(ob + (ooff + b * (last >= 0 ? j->kstride_o[last] : 0)) * (int64_t)oes, j->out->dtype,
                              reduce_buf(j->kind, j->arg, buf + b * j->count, j->count));
        o += nb;
    }
    free(buf);
}

static mf_status run_reduce(red_kind kind, double arg, mf_tensor *out, const mf_tensor *x, uint32_t mask) {
    red_job j = {.kind = kind, .arg = arg, .x = x, .out = out};
    int64_t rshape[MF_MAX_DIMS], rstride[MF_MAX_DIMS];
    int nr = 0;
    int64_t nout = 1;
    j.count = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (mask & (1u << d)) {
            rshape[nr] = x->shape[d];
            rstride[nr++] = x->stride[d];
            j.count *= x->shape[d];
        } else {
            j.kshape[j.nkept] = x->shape[d];
            j.kstride_x[j.nkept] = x->stride[d];
            j.kstride_o[j.nkept++] = out->stride[d];
            nout *= x->shape[d];
        }
    }
    const int64_t *s[1] = {rstride};
    mf_layout_build(&j.R, nr, rshape, 1, s);
    if (j.count == 0) /* nothing gathered: only the row count matters */
        j.R.rows = 0;
    int64_t grain = j.count > 0 ? 32768 / j.count : 32768;
    mf_parallel_for(nout, grain < 1 ? 1 : grain, red_range, &j);
    if (j.failed)
        return MF_ERR(MF_ERR_NOMEM, "reduce: out of memory for a %lld-element buffer", (long long)j.count);
    return MF_OK;
}

static mf_status cpu_extreme(mf_tensor *out, const mf_tensor *x, uint32_t mask, bool want_max) {
    return run_reduce(want_max ? RED_MAX : RED_MIN, 0.0, out, x, mask);
}

static mf_status cpu_var(mf_tensor *out, const mf_tensor *x, uint32_t mask, double divisor) {
    return run_reduce(RED_VAR, divisor, out, x, mask);
}

static mf_status cpu_logsumexp(mf_tensor *out, const mf_tensor *x, uint32_t mask) {
    return run_reduce(RED_LSE, 0.0, out, x, mask);
}

static mf_status cpu_norm(mf_tensor *out, const mf_tensor *x, uint32_t mask, double p) {
    return run_reduce(RED_NORM, p, out, x, mask);
}

/* ------------------------------------------------------- arg max / arg min */

typedef struct {
    const mf_tensor *x;
    mf_tensor *values, *indices;
    int dim;
    bool want_max;
    int nkept;
    int64_t kshape[MF_MAX_DIMS], kstride_x[MF_MAX_DIMS], kstride_v[MF_MAX_DIMS], kstride_i[MF_MAX_DIMS];
} arg_job;

#define ARG_BLOCK 16

static inline double load_at(const char *xb, mf_dtype dt, size_t es, int64_t off) {
    if (dt == MF_F32)
        return ((const float *)xb)[off];
    if (dt == MF_F64)
        return ((const double *)xb)[off];
    return mf_load_as_f64(xb + off * (int64_t)es, dt);
}

/* One line, typed: the common case of an arg max over the last dim. */
#define ARG_LINE(T)                                                                                           \
    do {                                                                                                      \
        const T *p = (const T *)xb + xoff;                                                                    \
        for (int64_t i = 1; i < n && !isnan(best[0]); i++) {                                                  \
            double v = p[i * s];                                                                              \
            if (isnan(v) || (j->want_max ? v > best[0] : v < best[0])) {                                     \
                best[0] = v;                                                                                  \
                bi[0] = i;                                                                                    \
            }                                                                                                 \
        }                                                                                                     \
    } while (0)

/* Walks `nb` neighbouring lines (along the innermost kept dim) at once, so
 * that an arg max over a leading dim reads whole cache lines. The first
 * strict improvement wins, which keeps the first of tied elements; a NaN
 * counts as the extreme and ends its line's search. Lines are never empty
 * (the ops reject a reduction over a size-0 dim). */
static void arg_range(void *ctx, int64_t o0, int64_t o1) {
    arg_job *j = ctx;
    mf_dtype dt = j->x->dtype;
    size_t es = mf_dtype_size(dt);
    const char *xb = mf_tensor_data(j->x);
    int64_t n = j->x->shape[j->dim], s = j->x->stride[j->dim];
    int last = j->nkept - 1;
    int64_t ks = last >= 0 ? j->kstride_x[last] : 0;
    int64_t block = last >= 0 && llabs(ks) < llabs(s) ? ARG_BLOCK : 1;
    for (int64_t o = o0; o < o1;) {
        int64_t rem = o, xoff = 0, voff = 0, ioff = 0, ilast = 0;
        for (int d = j->nkept - 1; d >= 0; d--) {
            int64_t i = rem % j->kshape[d];
            if (d == last)
                ilast = i;
            rem /= j->kshape[d];
            xoff += i * j->kstride_x[d];
            voff += i * j->kstride_v[d];
            ioff += i * j->kstride_i[d];
        }
        int64_t nb = block;
        if (last >= 0 && nb > j->kshape[last] - ilast)
            nb = j->kshape[last] - ilast;
        if (nb > o1 - o)
            nb = o1 - o;
        double best[ARG_BLOCK];
        int64_t bi[ARG_BLOCK];
        for (int64_t b = 0; b < nb; b++) {
            best[b] = load_at(xb, dt, es, xoff + b * ks);
            bi[b] = 0;
        }
        if (nb == 1 && dt == MF_F32)
            ARG_LINE(float);
        else if (nb == 1 && dt == MF_F64)
            ARG_LINE(double);
        else
            for (int64_t i = 1; i < n; i++)
                for (int64_t b = 0; b < nb; b++) {
                    if (isnan(best[b]))
                        continue;
                    double v = load_at(xb, dt, es, xoff + i * s + b * ks);
                    if (isnan(v) || (j->want_max ? v > best[b] : v < best[b])) {
                        best[b] = v;
                        bi[b] = i;
                    }
                }
        for (int64_t b = 0; b < nb; b++) {
            int64_t vs = last >= 0 ? j->kstride_v[last] : 0, is = last >= 0 ? j->kstride_i[last] : 0;
            if (j->values)
                mf_store_from_f64((char *)mf_tensor_data(j->values) +
                                      (voff + b * vs) * (int64_t)mf_dtype_size(j->values->dtype),
                                  j->values->dtype, best[b]);
            if (j->indices)
                ((int64_t *)mf_tensor_data(j->indices))[ioff + b * is] = bi[b];
        }
        o += nb;
    }
}

static mf_status cpu_arg_extreme(mf_tensor *values, mf_tensor *indices, const mf_tensor *x, int dim, bool want_max) {
    arg_job j = {.x = x, .values = values, .indices = indices, .dim = dim, .want_max = want_max};
    int64_t nout = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d == dim)
            continue;
        j.kshape[j.nkept] = x->shape[d];
        j.kstride_x[j.nkept] = x->stride[d];
        j.kstride_v[j.nkept] = values ? values->stride[d] : 0;
        j.kstride_i[j.nkept++] = indices ? indices->stride[d] : 0;
        nout *= x->shape[d];
    }
    int64_t n = x->shape[dim];
    int64_t grain = n > 0 ? 32768 / n : 32768;
    mf_parallel_for(nout, grain < 1 ? 1 : grain, arg_range, &j);
    return MF_OK;
}

const struct mf_kern_reduce mf_cpu_reduce = {
    .sum = mf_cpu_reduce_sum,
    .extreme = cpu_extreme,
    .arg_extreme = cpu_arg_extreme,
    .var = cpu_var,
    .logsumexp = cpu_logsumexp,
    .norm = cpu_norm,
};
