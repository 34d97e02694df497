/* Elementwise kernels of the CUDA module (host side: elementwise.c). The
 * formulas follow core/backend/cpu/elementwise.c so both devices agree to
 * rounding: binary f32/f64 arithmetic runs in the element type, unary maps
 * and their derivatives run in double, other dtypes round-trip through
 * double (integer division truncates, stores saturate). Kernels are
 * instantiated for f32, f64 and a run-time dtype; the op is a uniform
 * switch inside the kernel, which costs nothing next to memory traffic. */
#include "core/backend/cuda/device_util.cuh"
#include "core/backend/kern_elementwise.h"

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* ---------------------------------------------------------------- binary */

__device__ __forceinline__ float mf_pow_t(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double mf_pow_t(double x, double y) { return pow(x, y); }

template <typename T> __device__ __forceinline__ T bin_apply(int op, T x, T y) {
    switch (op) {
    case MF_BIN_ADD: return x + y;
    case MF_BIN_SUB: return x - y;
    case MF_BIN_MUL: return x * y;
    case MF_BIN_DIV: return x / y;
    case MF_BIN_POW: return mf_pow_t(x, y);
    case MF_BIN_MAX: return (x > y || isnan(x)) ? x : y;
    case MF_BIN_MIN: return (x < y || isnan(x)) ? x : y;
    }
    return (T)NAN;
}

__device__ __forceinline__ bool dt_is_float(int dt) {
    return dt == MF_F32 || dt == MF_F64 || dt == MF_BF16 || dt == MF_F16;
}

/* a op b in the element type's arithmetic (f32 in float, others in
 * double; integer division truncates). */
template <int DT> __device__ __forceinline__ double bin_value(int op, int dt, double a, double b) {
    /* bf16 +, -, *, max, min are exact in float (8-bit significands), so
     * float gives the double result's bits once rounded to bf16 */
    if (DT == MF_F32 || (DT == MF_BF16 && op != MF_BIN_DIV && op != MF_BIN_POW))
        return bin_apply<float>(op, (float)a, (float)b);
    double v = bin_apply<double>(op, a, b);
    if (DT != MF_F64 && op == MF_BIN_DIV && !dt_is_float(dt))
        v = trunc(v);
    return v;
}

/* One element: o[io] = a[ia] op b[ib]. */
template <int DT>
__device__ __forceinline__ void bin_elem(int op, int dt, void *o, int64_t io, const void *a, int64_t ia, const void *b,
                                         int64_t ib) {
    mf_store<DT>(o, dt, io, bin_value<DT>(op, dt, mf_load<DT>(a, dt, ia), mf_load<DT>(b, dt, ib)));
}

template <int DT>
__global__ void binary_kernel(mf_cuda_layout L, int op, int dt, void *o, const void *a, const void *b) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[3];
        mf_offsets<3>(L, i, off);
        bin_elem<DT>(op, dt, o, off[0], a, off[1], b, off[2]);
    }
}

/* ----------------------------------------------------------------- unary */

__device__ __forceinline__ double sigmoid_d(double x) {
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

__device__ __forceinline__ double un_value(int op, double x, double p0, double p1) {
    switch (op) {
    case MF_UN_NEG: return -x;
    case MF_UN_RELU: return x <= 0 ? 0 : x; /* NaN stays NaN, as in torch */
    case MF_UN_GELU: return 0.5 * x * (1.0 + erf(x * INV_SQRT2));
    case MF_UN_SIGMOID: return sigmoid_d(x);
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
    case MF_UN_SIGN: return (double)((x > 0) - (x < 0));
    case MF_UN_LOG1P: return log1p(x);
    case MF_UN_SIN: return sin(x);
    case MF_UN_COS: return cos(x);
    case MF_UN_ERF: return erf(x);
    }
    return NAN;
}

/* d f / d x at x, with y = f(x). */
__device__ __forceinline__ double un_derivative(int op, double x, double y, double p0, double p1) {
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
    case MF_UN_ABS: return (double)((x > 0) - (x < 0));
    case MF_UN_SOFTPLUS: return x * p0 > p1 ? 1.0 : sigmoid_d(p0 * x);
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

/* Which of x and y = f(x) the derivative of op reads (CPU: un_grad_f64). */
__device__ __forceinline__ bool deriv_uses_y(int op) {
    return op == MF_UN_SIGMOID || op == MF_UN_TANH || op == MF_UN_EXP || op == MF_UN_SQRT || op == MF_UN_RSQRT ||
           op == MF_UN_RECIPROCAL;
}

__device__ __forceinline__ bool deriv_uses_x(int op) {
    return !deriv_uses_y(op) && op != MF_UN_NEG && op != MF_UN_AFFINE && op != MF_UN_SIGN;
}

template <int DT>
__device__ __forceinline__ void un_elem(int op, int dt, double p0, double p1, void *o, int64_t io, const void *x,
                                        int64_t ix) {
    mf_store<DT>(o, dt, io, un_value(op, mf_load<DT>(x, dt, ix), p0, p1));
}

/* gout * f'(x), from x, y = f(x) (recomputed from x when has_y is false)
 * and gout; callers load x and y only where deriv_uses_x / _y says. */
__device__ __forceinline__ double un_grad_value(int op, double p0, double p1, double x, double y, bool has_y,
                                                double g) {
    if (op == MF_UN_RELU) /* g * 1 or g * 0: exact, and cheaper than the switch in double */
        return x > 0 ? g : g * 0.0;
    if (deriv_uses_y(op) && !has_y)
        y = un_value(op, x, p0, p1);
    return g * un_derivative(op, x, y, p0, p1);
}

template <int DT>
__device__ __forceinline__ void un_grad_elem(int op, int dt, double p0, double p1, void *gin, int64_t io,
                                             const void *x, int64_t ix, const void *y, int64_t iy, const void *g,
                                             int64_t ig) {
    bool need_y = deriv_uses_y(op);
    double xv = deriv_uses_x(op) || (need_y && !y) ? mf_load<DT>(x, dt, ix) : 0.0;
    double yv = need_y && y ? mf_load<DT>(y, dt, iy) : 0.0;
    mf_store<DT>(gin, dt, io, un_grad_value(op, p0, p1, xv, yv, y != NULL, mf_load<DT>(g, dt, ig)));
}

template <int DT>
__global__ void unary_kernel(mf_cuda_layout L, int op, int dt, double p0, double p1, void *o, const void *x) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[2];
        mf_offsets<2>(L, i, off);
        un_elem<DT>(op, dt, p0, p1, o, off[0], x, off[1]);
    }
}

/* Operands: gin, x, y (x again when absent), gout. */
template <int DT>
__global__ void unary_backward_kernel(mf_cuda_layout L, int op, int dt, double p0, double p1, void *gin,
                                      const void *x, const void *y, const void *g) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[4];
        mf_offsets<4>(L, i, off);
        un_grad_elem<DT>(op, dt, p0, p1, gin, off[0], x, off[1], y, off[2], g, off[3]);
    }
}

/* ------------------------------------------------- dense fast paths */
/* Every operand dense and 16-byte aligned (f32, f64, bf16): each thread
 * moves 16 bytes of each operand with one vector access and runs the same
 * per-element code as the strided kernels on them, so the results are the
 * same bit for bit. Elements past the last whole vector go one by one. */
template <int DT>
__global__ void binary_dense(int64_t n, int op, int dt, void *o, const void *a, const void *b) {
    constexpr int V = VEC_ELEMS(DT);
    int64_t nv = n / V;
    MF_GRID_LOOP(i, nv) {
        vec16 av = ((const vec16 *)a)[i], bv = ((const vec16 *)b)[i], ov;
#pragma unroll
        for (int k = 0; k < V; k++)
            vset<DT>(ov, k, bin_value<DT>(op, dt, vget<DT>(av, k), vget<DT>(bv, k)));
        ((vec16 *)o)[i] = ov;
    }
    MF_GRID_LOOP(j, n - nv * V) bin_elem<DT>(op, dt, o, nv * V + j, a, nv * V + j, b, nv * V + j);
}

template <int DT>
__global__ void unary_dense(int64_t n, int op, int dt, double p0, double p1, void *o, const void *x) {
    constexpr int V = VEC_ELEMS(DT);
    int64_t nv = n / V;
    MF_GRID_LOOP(i, nv) {
        vec16 xv = ((const vec16 *)x)[i], ov;
#pragma unroll
        for (int k = 0; k < V; k++)
            vset<DT>(ov, k, un_value(op, vget<DT>(xv, k), p0, p1));
        ((vec16 *)o)[i] = ov;
    }
    MF_GRID_LOOP(j, n - nv * V) un_elem<DT>(op, dt, p0, p1, o, nv * V + j, x, nv * V + j);
}

template <int DT>
__global__ void unary_backward_dense(int64_t n, int op, int dt, double p0, double p1, void *gin, const void *x,
                                     const void *y, const void *g) {
    constexpr int V = VEC_ELEMS(DT);
    int64_t nv = n / V;
    bool need_y = deriv_uses_y(op) && y, need_x = deriv_uses_x(op) || (deriv_uses_y(op) && !y);
    MF_GRID_LOOP(i, nv) {
        vec16 xv = {}, yv = {}, gv = ((const vec16 *)g)[i], ov;
        if (need_x)
            xv = ((const vec16 *)x)[i];
        if (need_y)
            yv = ((const vec16 *)y)[i];
#pragma unroll
        for (int k = 0; k < V; k++)
            vset<DT>(ov, k, un_grad_value(op, p0, p1, vget<DT>(xv, k), vget<DT>(yv, k), y != NULL, vget<DT>(gv, k)));
        ((vec16 *)gin)[i] = ov;
    }
    MF_GRID_LOOP(j, n - nv * V) {
        int64_t t = nv * V + j;
        un_grad_elem<DT>(op, dt, p0, p1, gin, t, x, t, y, t, g, t);
    }
}

/* The dense kernels apply: one dim of unit stride in every operand, each
 * pointer 16-byte aligned, a dtype with a static fast path. */
static bool dense_ok(const mf_cuda_layout *L, int dt, int nptr, const void *const *p) {
    if (dt != MF_F32 && dt != MF_F64 && dt != MF_BF16)
        return false;
    if (L->ndim != 1)
        return false;
    for (int k = 0; k < L->nops; k++)
        if (L->stride[k][0] != 1)
            return false;
    for (int k = 0; k < nptr; k++)
        if (!mf_aligned16(p[k]))
            return false;
    return true;
}

static unsigned dense_grid(int64_t n, int dt) {
    int64_t v = n / VEC_ELEMS(dt);
    return mf_grid_for(v > 0 ? v : n);
}

/* ------------------------------------------------------ compare / where */

template <int DT>
__global__ void compare_kernel(mf_cuda_layout L, int op, int dt, uint8_t *o, const void *a, const void *b) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[3];
        mf_offsets<3>(L, i, off);
        double x = mf_load<DT>(a, dt, off[1]), y = mf_load<DT>(b, dt, off[2]);
        bool v = false;
        switch (op) {
        case MF_CMP_EQ: v = x == y; break;
        case MF_CMP_NE: v = x != y; break;
        case MF_CMP_LT: v = x < y; break;
        case MF_CMP_LE: v = x <= y; break;
        case MF_CMP_GT: v = x > y; break;
        case MF_CMP_GE: v = x >= y; break;
        }
        o[off[0]] = v;
    }
}

template <typename U>
__global__ void where_kernel(mf_cuda_layout L, U *o, const uint8_t *c, const U *a, const U *b) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[4];
        mf_offsets<4>(L, i, off);
        o[off[0]] = c[off[1]] ? a[off[2]] : b[off[3]];
    }
}

/* ------------------------------------------------------------ launchers */

/* KERNEL<DT> for f32 and f64, KERNEL<OTHER> for every other dtype: MF_DYN
 * (the run-time switch) for the element kernels, MF_BF16 for the dense
 * ones (only f32, f64 and bf16 reach them). */
#define MF_DISPATCH_DT(dt, OTHER, KERNEL, ...)                                                                \
    do {                                                                                                      \
        if ((dt) == MF_F32)                                                                                   \
            KERNEL<MF_F32><<<g, MF_THREADS, 0, s>>>(__VA_ARGS__);                                            \
        else if ((dt) == MF_F64)                                                                              \
            KERNEL<MF_F64><<<g, MF_THREADS, 0, s>>>(__VA_ARGS__);                                            \
        else                                                                                                  \
            KERNEL<OTHER><<<g, MF_THREADS, 0, s>>>(__VA_ARGS__);                                             \
    } while (0)

extern "C" cudaError_t mf_cuda_launch_binary(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, void *out,
                                             const void *a, const void *b) {
    const void *p[] = {out, a, b};
    if (dense_ok(L, dt, 3, p)) {
        unsigned g = dense_grid(L->n, dt);
        MF_DISPATCH_DT(dt, MF_BF16, binary_dense, L->n, op, dt, out, a, b);
        return cudaGetLastError();
    }
    unsigned g = mf_grid_for(L->n);
    MF_DISPATCH_DT(dt, MF_DYN, binary_kernel, *L, op, dt, out, a, b);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_unary(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, double p0,
                                            double p1, void *out, const void *x) {
    const void *p[] = {out, x};
    if (dense_ok(L, dt, 2, p)) {
        unsigned g = dense_grid(L->n, dt);
        MF_DISPATCH_DT(dt, MF_BF16, unary_dense, L->n, op, dt, p0, p1, out, x);
        return cudaGetLastError();
    }
    unsigned g = mf_grid_for(L->n);
    MF_DISPATCH_DT(dt, MF_DYN, unary_kernel, *L, op, dt, p0, p1, out, x);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_unary_backward(cudaStream_t s, const mf_cuda_layout *L, int op, int dt,
                                                     double p0, double p1, void *gin, const void *x, const void *y,
                                                     const void *gout) {
    const void *p[] = {gin, x, y, gout};
    if (dense_ok(L, dt, 4, p)) {
        unsigned g = dense_grid(L->n, dt);
        MF_DISPATCH_DT(dt, MF_BF16, unary_backward_dense, L->n, op, dt, p0, p1, gin, x, y, gout);
        return cudaGetLastError();
    }
    unsigned g = mf_grid_for(L->n);
    MF_DISPATCH_DT(dt, MF_DYN, unary_backward_kernel, *L, op, dt, p0, p1, gin, x, y, gout);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_compare(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, void *out,
                                              const void *a, const void *b) {
    unsigned g = mf_grid_for(L->n);
    MF_DISPATCH_DT(dt, MF_DYN, compare_kernel, *L, op, dt, (uint8_t *)out, a, b);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_where(cudaStream_t s, const mf_cuda_layout *L, int esize, void *out,
                                            const void *cond, const void *a, const void *b) {
    unsigned g = mf_grid_for(L->n);
    const uint8_t *c = (const uint8_t *)cond;
    switch (esize) {
    case 1: where_kernel<uint8_t><<<g, MF_THREADS, 0, s>>>(*L, (uint8_t *)out, c, (const uint8_t *)a, (const uint8_t *)b); break;
    case 2: where_kernel<uint16_t><<<g, MF_THREADS, 0, s>>>(*L, (uint16_t *)out, c, (const uint16_t *)a, (const uint16_t *)b); break;
    case 4: where_kernel<uint32_t><<<g, MF_THREADS, 0, s>>>(*L, (uint32_t *)out, c, (const uint32_t *)a, (const uint32_t *)b); break;
    case 8: where_kernel<uint64_t><<<g, MF_THREADS, 0, s>>>(*L, (uint64_t *)out, c, (const uint64_t *)a, (const uint64_t *)b); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}
