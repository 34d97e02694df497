/* CPU kernels of the elementwise family. f32 and f64 get typed inner loops
 * the compiler vectorises; other dtypes go through a double round trip
 * (they only appear in index and mask bookkeeping). */
#include <math.h>

#include "core/backend/cpu/strided.h"
#include "core/backend/kern_elementwise.h"
#include "core/tensor/dtype.h"
#include "medfm/parallel.h"

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* ---------------------------------------------------------------- binary */

typedef struct {
    mf_binary_op op;
    mf_layout L;
    char *o;
    const char *a, *b;
    mf_dtype dt;
} bin_job;

static inline double bin_f64(mf_binary_op op, double x, double y) {
    switch (op) {
    case MF_BIN_ADD: return x + y;
    case MF_BIN_SUB: return x - y;
    case MF_BIN_MUL: return x * y;
    case MF_BIN_DIV: return x / y;
    case MF_BIN_POW: return pow(x, y);
    case MF_BIN_MAX: return x > y || isnan(x) ? x : y;
    case MF_BIN_MIN: return x < y || isnan(x) ? x : y;
    }
    return NAN;
}

#define BIN_LOOP(T, EXPR)                                                                                     \
    for (int64_t r = r0; r < r1; r++) {                                                                       \
        int64_t off[3];                                                                                       \
        mf_layout_row(&j->L, r, off);                                                                         \
        T *o = (T *)j->o + off[0];                                                                            \
        const T *a = (const T *)j->a + off[1];                                                                \
        const T *b = (const T *)j->b + off[2];                                                                \
        int64_t so = j->L.stride[0][j->L.ndim - 1], sa = j->L.stride[1][j->L.ndim - 1],                       \
                sb = j->L.stride[2][j->L.ndim - 1];                                                           \
        if (so == 1 && sa == 1 && sb == 1) {                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                                 \
                T x = a[i], y = b[i];                                                                         \
                o[i] = (EXPR);                                                                                \
            }                                                                                                 \
        } else if (so == 1 && sa == 1 && sb == 0) {                                                           \
            T y = b[0];                                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                                 \
                T x = a[i];                                                                                   \
                o[i] = (EXPR);                                                                                \
            }                                                                                                 \
        } else {                                                                                              \
            for (int64_t i = 0; i < n; i++) {                                                                 \
                T x = a[i * sa], y = b[i * sb];                                                               \
                o[i * so] = (EXPR);                                                                           \
            }                                                                                                 \
        }                                                                                                     \
    }

#define BIN_TYPED(T, POWF, FMAX, FMIN)                                                                        \
    switch (j->op) {                                                                                          \
    case MF_BIN_ADD: BIN_LOOP(T, x + y) break;                                                                \
    case MF_BIN_SUB: BIN_LOOP(T, x - y) break;                                                                \
    case MF_BIN_MUL: BIN_LOOP(T, x * y) break;                                                                \
    case MF_BIN_DIV: BIN_LOOP(T, x / y) break;                                                                \
    case MF_BIN_POW: BIN_LOOP(T, POWF(x, y)) break;                                                           \
    case MF_BIN_MAX: BIN_LOOP(T, (x > y || isnan(x)) ? x : y) break;                                         \
    case MF_BIN_MIN: BIN_LOOP(T, (x < y || isnan(x)) ? x : y) break;                                         \
    }

static void bin_range(void *ctx, int64_t r0, int64_t r1) {
    bin_job *j = ctx;
    int64_t n = j->L.inner;
    if (j->dt == MF_F32) {
        BIN_TYPED(float, powf, fmaxf, fminf)
    } else if (j->dt == MF_F64) {
        BIN_TYPED(double, pow, fmax, fmin)
    } else {
        size_t es = mf_dtype_size(j->dt);
        for (int64_t r = r0; r < r1; r++) {
            int64_t off[3];
            mf_layout_row(&j->L, r, off);
            for (int64_t i = 0; i < n; i++) {
                double x = mf_load_as_f64(j->a + (off[1] + i * j->L.stride[1][j->L.ndim - 1]) * (int64_t)es, j->dt);
                double y = mf_load_as_f64(j->b + (off[2] + i * j->L.stride[2][j->L.ndim - 1]) * (int64_t)es, j->dt);
                double v = bin_f64(j->op, x, y);
                if (!mf_dtype_is_float(j->dt) && j->op == MF_BIN_DIV)
                    v = trunc(v);
                mf_store_from_f64(j->o + (off[0] + i * j->L.stride[0][j->L.ndim - 1]) * (int64_t)es, j->dt, v);
            }
        }
    }
}

static void layout3(mf_layout *L, const mf_tensor *o, const mf_tensor *a, const mf_tensor *b) {
    const int64_t *s[3] = {o->stride, a->stride, b ? b->stride : a->stride};
    mf_layout_build(L, o->ndim, o->shape, 3, s);
}

static mf_status cpu_binary(mf_binary_op op, mf_tensor *out, const mf_tensor *a, const mf_tensor *b) {
    bin_job j = {.op = op, .o = mf_tensor_data(out), .a = mf_tensor_data(a), .b = mf_tensor_data(b), .dt = out->dtype};
    layout3(&j.L, out, a, b);
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), bin_range, &j);
    return MF_OK;
}

/* ----------------------------------------------------------------- unary */

static inline double un_f64(mf_unary_op op, double x, double p0, double p1) {
    switch (op) {
    case MF_UN_NEG: return -x;
    case MF_UN_RELU: return x <= 0 ? 0 : x; /* NaN stays NaN, as in torch */
    case MF_UN_GELU: return 0.5 * x * (1.0 + erf(x * INV_SQRT2));
    case MF_UN_SIGMOID: return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    case MF_UN_TANH: return tanh(x);
    case MF_UN_EXP: return exp(x);
    case MF_UN_LOG: return log(x);
    case MF_UN_SQRT: return sqrt(x);
    case MF_UN_RSQRT: return 1.0 / sqrt(x);
    case MF_UN_ABS: return fabs(x);
    case MF_UN_SOFTPLUS: return x * p0 > p1 ? x : log1p(exp(p0 * x)) / p0;
    case MF_UN_POW: return pow(x, p0);
    case MF_UN_SQUARE: return x * x;
    case MF_UN_LEAKY_RELU: return x > 0 ? x : p0 * x;
    case MF_UN_SILU: return x / (1.0 + exp(-x));
    case MF_UN_CLAMP: {
        double v = x;
        if (!isnan(p0) && v < p0)
            v = p0;
        if (!isnan(p1) && v > p1)
            v = p1;
        return v;
    }
    case MF_UN_RECIPROCAL: return 1.0 / x;
    case MF_UN_AFFINE: return p0 * x + p1;
    case MF_UN_SIGN: return (x > 0) - (x < 0);
    case MF_UN_LOG1P: return log1p(x);
    case MF_UN_SIN: return sin(x);
    case MF_UN_COS: return cos(x);
    case MF_UN_ERF: return erf(x);
    }
    return NAN;
}

/* d f / d x, given x and y = f(x). */
static inline double un_grad_f64(mf_unary_op op, double x, double y, double p0, double p1) {
    switch (op) {
    case MF_UN_NEG: return -1.0;
    case MF_UN_RELU: return x > 0 ? 1.0 : 0.0;
    case MF_UN_GELU: return 0.5 * (1.0 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
    case MF_UN_SIGMOID: return y * (1.0 - y);
    case MF_UN_TANH: return 1.0 - y * y;
    case MF_UN_EXP: return y;
    case MF_UN_LOG: return 1.0 / x;
    case MF_UN_SQRT: return 0.5 / y;
    case MF_UN_RSQRT: return -0.5 * y * y * y;
    case MF_UN_ABS: return (x > 0) - (x < 0);
    case MF_UN_SOFTPLUS: {
        if (x * p0 > p1)
            return 1.0;
        double z = p0 * x;
        return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
    }
    case MF_UN_POW: return p0 == 0 ? 0.0 : p0 * pow(x, p0 - 1.0);
    case MF_UN_SQUARE: return 2.0 * x;
    case MF_UN_LEAKY_RELU: return x > 0 ? 1.0 : p0;
    case MF_UN_SILU: {
        double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 + x * (1.0 - s));
    }
    case MF_UN_CLAMP: return ((isnan(p0) || x >= p0) && (isnan(p1) || x <= p1)) ? 1.0 : 0.0;
    case MF_UN_RECIPROCAL: return -y * y;
    case MF_UN_AFFINE: return p0;
    case MF_UN_SIGN: return 0.0;
    case MF_UN_LOG1P: return 1.0 / (1.0 + x);
    case MF_UN_SIN: return cos(x);
    case MF_UN_COS: return -sin(x);
    case MF_UN_ERF: return 2.0 * INV_SQRT_2PI * 1.4142135623730951 * exp(-x * x);
    }
    return NAN;
}

typedef struct {
    mf_unary_op op;
    double p0, p1;
    mf_layout L;
    char *o;
    const char *x, *y, *g; /* y and g only for backward */
    mf_dtype dt;
    bool backward;
} un_job;

/* f32 fast paths for the hot activations; everything else goes through
 * the double formulas above. */
static void un_range(void *ctx, int64_t r0, int64_t r1) {
    un_job *j = ctx;
    int64_t n = j->L.inner;
    int last = j->L.ndim - 1;
    size_t es = mf_dtype_size(j->dt);
    for (int64_t r = r0; r < r1; r++) {
        int64_t off[4];
        mf_layout_row(&j->L, r, off);
        int64_t so = j->L.stride[0][last], sx = j->L.stride[1][last];
        if (j->dt == MF_F32 && !j->backward && so == 1 && sx == 1 &&
            (j->op == MF_UN_RELU || j->op == MF_UN_AFFINE || j->op == MF_UN_NEG || j->op == MF_UN_SQUARE)) {
            float *o = (float *)j->o + off[0];
            const float *x = (const float *)j->x + off[1];
            float p0 = (float)j->p0, p1 = (float)j->p1;
            switch (j->op) {
            case MF_UN_RELU:
                for (int64_t i = 0; i < n; i++)
                    o[i] = x[i] <= 0.f ? 0.f : x[i]; /* NaN stays NaN */
                break;
            case MF_UN_AFFINE:
                for (int64_t i = 0; i < n; i++)
                    o[i] = p0 * x[i] + p1;
                break;
            case MF_UN_NEG:
                for (int64_t i = 0; i < n; i++)
                    o[i] = -x[i];
                break;
            default:
                for (int64_t i = 0; i < n; i++)
                    o[i] = x[i] * x[i];
                break;
            }
            continue;
        }
        if (j->dt == MF_F32 && j->backward && j->op == MF_UN_RELU && so == 1 && sx == 1 &&
            j->L.stride[3][last] == 1) {
            float *o = (float *)j->o + off[0];
            const float *x = (const float *)j->x + off[1];
            const float *g = (const float *)j->g + off[3];
            for (int64_t i = 0; i < n; i++)
                o[i] = x[i] > 0.f ? g[i] : 0.f;
            continue;
        }
        for (int64_t i = 0; i < n; i++) {
            double x = mf_load_as_f64(j->x + (off[1] + i * sx) * (int64_t)es, j->dt);
            double v;
            if (j->backward) {
                double y = j->y ? mf_load_as_f64(j->y + (off[2] + i * j->L.stride[2][last]) * (int64_t)es, j->dt)
                                : un_f64(j->op, x, j->p0, j->p1);
                double g = mf_load_as_f64(j->g + (off[3] + i * j->L.stride[3][last]) * (int64_t)es, j->dt);
                v = g * un_grad_f64(j->op, x, y, j->p0, j->p1);
            } else {
                v = un_f64(j->op, x, j->p0, j->p1);
            }
            mf_store_from_f64(j->o + (off[0] + i * so) * (int64_t)es, j->dt, v);
        }
    }
}

static mf_status cpu_unary(mf_unary_op op, double p0, double p1, mf_tensor *out, const mf_tensor *x) {
    un_job j = {.op = op, .p0 = p0, .p1 = p1, .o = mf_tensor_data(out), .x = mf_tensor_data(x), .dt = out->dtype};
    const int64_t *s[2] = {out->stride, x->stride};
    mf_layout_build(&j.L, out->ndim, out->shape, 2, s);
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), un_range, &j);
    return MF_OK;
}

static mf_status cpu_unary_backward(mf_unary_op op, double p0, double p1, mf_tensor *gin, const mf_tensor *gout,
                                    const mf_tensor *x, const mf_tensor *y) {
    un_job j = {.op = op, .p0 = p0, .p1 = p1, .o = mf_tensor_data(gin), .x = mf_tensor_data(x),
                .y = y ? mf_tensor_data(y) : NULL, .g = mf_tensor_data(gout), .dt = gin->dtype, .backward = true};
    const int64_t *s[4] = {gin->stride, x->stride, y ? y->stride : x->stride, gout->stride};
    mf_layout_build(&j.L, gin->ndim, gin->shape, 4, s);
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), un_range, &j);
    return MF_OK;
}

/* ------------------------------------------------------ compare / where */

typedef struct {
    mf_compare_op op;
    mf_layout L;
    uint8_t *o;
    const char *a, *b, *c;
    mf_dtype dt;
    size_t es;
} cmp_job;

static void cmp_range(void *ctx, int64_t r0, int64_t r1) {
    cmp_job *j = ctx;
    int last = j->L.ndim - 1;
    for (int64_t r = r0; r < r1; r++) {
        int64_t off[3];
        mf_layout_row(&j->L, r, off);
        for (int64_t i = 0; i < j->L.inner; i++) {
            double x = mf_load_as_f64(j->a + (off[1] + i * j->L.stride[1][last]) * (int64_t)j->es, j->dt);
            double y = mf_load_as_f64(j->b + (off[2] + i * j->L.stride[2][last]) * (int64_t)j->es, j->dt);
            bool v = false;
            switch (j->op) {
            case MF_CMP_EQ: v = x == y; break;
            case MF_CMP_NE: v = x != y; break;
            case MF_CMP_LT: v = x < y; break;
            case MF_CMP_LE: v = x <= y; break;
            case MF_CMP_GT: v = x > y; break;
            case MF_CMP_GE: v = x >= y; break;
            }
            j->o[off[0] + i * j->L.stride[0][last]] = v;
        }
    }
}

static mf_status cpu_compare(mf_compare_op op, mf_tensor *out, const mf_tensor *a, const mf_tensor *b) {
    cmp_job j = {.op = op, .o = mf_tensor_data(out), .a = mf_tensor_data(a), .b = mf_tensor_data(b), .dt = a->dtype,
                 .es = mf_dtype_size(a->dtype)};
    layout3(&j.L, out, a, b);
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), cmp_range, &j);
    return MF_OK;
}

typedef struct {
    mf_layout L;
    char *o;
    const char *a, *b;
    const uint8_t *c;
    size_t es;
} where_job;

static void where_range(void *ctx, int64_t r0, int64_t r1) {
    where_job *j = ctx;
    int last = j->L.ndim - 1;
    size_t es = j->es;
    for (int64_t r = r0; r < r1; r++) {
        int64_t off[4];
        mf_layout_row(&j->L, r, off);
        for (int64_t i = 0; i < j->L.inner; i++) {
            const char *src = j->c[off[1] + i * j->L.stride[1][last]]
                                  ? j->a + (off[2] + i * j->L.stride[2][last]) * (int64_t)es
                                  : j->b + (off[3] + i * j->L.stride[3][last]) * (int64_t)es;
            char *dst = j->o + (off[0] + i * j->L.stride[0][last]) * (int64_t)es;
            for (size_t k = 0; k < es; k++)
                dst[k] = src[k];
        }
    }
}

static mf_status cpu_where(mf_tensor *out, const mf_tensor *cond, const mf_tensor *a, const mf_tensor *b) {
    where_job j = {.o = mf_tensor_data(out), .c = mf_tensor_data(cond), .a = mf_tensor_data(a),
                   .b = mf_tensor_data(b), .es = mf_dtype_size(out->dtype)};
    const int64_t *s[4] = {out->stride, cond->stride, a->stride, b->stride};
    mf_layout_build(&j.L, out->ndim, out->shape, 4, s);
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), where_range, &j);
    return MF_OK;
}

const struct mf_kern_elementwise mf_cpu_elementwise = {
    .binary = cpu_binary,
    .unary = cpu_unary,
    .unary_backward = cpu_unary_backward,
    .compare = cpu_compare,
    .where = cpu_where,
};
