/* CPU random fill: each element computes its value from its own Philox
 * block (cached across the elements that share it), so any split of the
 * work across threads gives the same bits. */
#include <math.h>

#include "core/backend/cpu/strided.h"
#include "core/backend/kern_random.h"
#include "core/base/philox.h"
#include "medfm/parallel.h"

#define TWO_PI 6.28318530717958647692

typedef struct {
    mf_rand_kind kind;
    mf_layout L;
    char *p;
    mf_dtype dt;
    int wpe, per; /* words per element, elements per block */
    uint64_t seed, offset;
    double prm[4];
} rand_job;

typedef struct {
    uint64_t hi, lo;
    int valid;
    uint32_t w[4];
    /* last Box-Muller pair: both of its values come from one log/sqrt/sincos */
    int64_t pair;
    uint64_t pair_attempt;
    double pair_v[2];
} block_cache;

static inline const uint32_t *block_at(const rand_job *j, block_cache *c, uint64_t hi, uint64_t lo) {
    if (!c->valid || c->hi != hi || c->lo != lo) {
        mf_philox_block(j->seed, hi, lo, c->w);
        c->hi = hi;
        c->lo = lo;
        c->valid = 1;
    }
    return c->w;
}

/* Uniform in [0, 1) from wpe words; `open` shifts by half a step into (0, 1). */
static inline double unit(const uint32_t *w, int wpe, int open) {
    if (wpe == 1)
        return ((double)(w[0] >> 8) + (open ? 0.5 : 0.0)) * 0x1p-24;
    uint64_t x = ((uint64_t)w[0] << 32 | w[1]) >> 11;
    return ((double)x + (open ? 0.5 : 0.0)) * 0x1p-53;
}

static inline double normal_at(const rand_job *j, block_cache *c, uint64_t attempt, int64_t i) {
    int64_t pair = i / 2;
    if (c->pair != pair || c->pair_attempt != attempt) {
        const uint32_t *w = block_at(j, c, attempt, j->offset + (uint64_t)i / (uint64_t)j->per);
        const uint32_t *pw = w + (int)((i % j->per) / 2) * 2 * j->wpe;
        double u1 = unit(pw, j->wpe, 1), u2 = unit(pw + j->wpe, j->wpe, 0);
        double r = sqrt(-2.0 * log(u1));
        c->pair_v[0] = r * cos(TWO_PI * u2);
        c->pair_v[1] = r * sin(TWO_PI * u2);
        c->pair = pair;
        c->pair_attempt = attempt;
    }
    return c->pair_v[i % 2];
}

static inline __attribute__((always_inline)) double value_at_kind(const rand_job *j, mf_rand_kind kind, block_cache *c,
                                                                  int64_t i) {
    const double *p = j->prm;
    switch (kind) {
    case MF_RAND_UNIFORM: {
        const uint32_t *w = block_at(j, c, 0, j->offset + (uint64_t)i / (uint64_t)j->per);
        /* An explicit fma, as in the CUDA kernel: contraction must not decide the last bit. */
        return fma(p[1] - p[0], unit(w + (i % j->per) * j->wpe, j->wpe, 0), p[0]);
    }
    case MF_RAND_NORMAL: return p[0] + p[1] * normal_at(j, c, 0, i);
    case MF_RAND_GUMBEL: {
        const uint32_t *w = block_at(j, c, 0, j->offset + (uint64_t)i / (uint64_t)j->per);
        return p[0] - p[1] * log(-log(unit(w + (i % j->per) * j->wpe, j->wpe, 1)));
    }
    case MF_RAND_TRUNC_NORMAL: {
        double v = p[0];
        for (uint64_t k = 0; k < MF_RAND_MAX_ATTEMPTS; k++) {
            v = p[0] + p[1] * normal_at(j, c, k, i);
            if (v >= p[2] && v <= p[3])
                return v;
        }
        return v < p[2] ? p[2] : p[3];
    }
    case MF_RAND_BERNOULLI: {
        const uint32_t *w = block_at(j, c, 0, j->offset + (uint64_t)i / 4);
        return unit(w + i % 4, 1, 0) >= p[0] ? p[1] : 0.0;
    }
    }
    return NAN;
}

/* The kind is switched outside the element loop so each loop inlines one
 * generator. */
#define FILL_ROW(T, FIX)                                                                                    \
    do {                                                                                                    \
        T *o = (T *)j->p + off[0];                                                                          \
        switch (j->kind) {                                                                                  \
        case MF_RAND_UNIFORM: {                                                                             \
            for (int64_t i = i0; i < i1; i++) {                                                             \
                T v = (T)value_at_kind(j, MF_RAND_UNIFORM, &c, base + i);                                   \
                FIX;                                                                                        \
                o[i * s] = v;                                                                               \
            }                                                                                               \
        } break;                                                                                            \
        case MF_RAND_NORMAL:                                                                                \
            for (int64_t i = i0; i < i1; i++)                                                               \
                o[i * s] = (T)value_at_kind(j, MF_RAND_NORMAL, &c, base + i);                               \
            break;                                                                                          \
        case MF_RAND_GUMBEL:                                                                                \
            for (int64_t i = i0; i < i1; i++)                                                               \
                o[i * s] = (T)value_at_kind(j, MF_RAND_GUMBEL, &c, base + i);                               \
            break;                                                                                          \
        case MF_RAND_TRUNC_NORMAL:                                                                          \
            for (int64_t i = i0; i < i1; i++)                                                               \
                o[i * s] = (T)value_at_kind(j, MF_RAND_TRUNC_NORMAL, &c, base + i);                         \
            break;                                                                                          \
        case MF_RAND_BERNOULLI:                                                                             \
            for (int64_t i = i0; i < i1; i++)                                                               \
                o[i * s] = (T)value_at_kind(j, MF_RAND_BERNOULLI, &c, base + i);                            \
            break;                                                                                          \
        }                                                                                                   \
    } while (0)

/* [e0, e1) is a range of flat element indices, walked row by row. */
static void rand_range(void *ctx, int64_t e0, int64_t e1) {
    const rand_job *j = ctx;
    block_cache c = {.pair = -1};
    int last = j->L.ndim - 1;
    int64_t n = j->L.inner, s = j->L.stride[0][last];
    float hi = (float)j->prm[1], lo = (float)j->prm[0];
    for (int64_t e = e0; e < e1;) {
        int64_t r = e / n, i0 = e % n, i1 = n < i0 + (e1 - e) ? n : i0 + (e1 - e);
        int64_t off[1];
        mf_layout_row(&j->L, r, off);
        int64_t base = r * n;
        if (j->dt == MF_F32) /* rounding to f32 must not reach the open end of [lo, hi) */
            FILL_ROW(float, if (v >= hi && hi > lo) v = nextafterf(hi, lo));
        else
            FILL_ROW(double, (void)0);
        e += i1 - i0;
    }
}

static mf_status cpu_fill(mf_rand_kind kind, mf_tensor *t, uint64_t seed, uint64_t offset, const double p[4]) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "random fill: CPU supports f32 and f64, got %s", mf_dtype_name(t->dtype));
    rand_job j = {.kind = kind, .p = mf_tensor_data(t), .dt = t->dtype, .seed = seed, .offset = offset};
    j.wpe = mf_rand_words_per_elem(kind, t->dtype);
    j.per = 4 / j.wpe;
    for (int k = 0; k < 4; k++)
        j.prm[k] = p[k];
    const int64_t *s[1] = {t->stride};
    mf_layout_build(&j.L, t->ndim, t->shape, 1, s);
    mf_parallel_for(j.L.rows * j.L.inner, 16384, rand_range, &j);
    return MF_OK;
}

const struct mf_kern_random mf_cpu_random = {
    .fill = cpu_fill,
};
