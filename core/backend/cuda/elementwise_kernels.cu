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

template <int DT>
__global__ void binary_kernel(mf_cuda_layout L, int op, int dt, void *o, const void *a, const void *b) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[3];
        mf_offsets<3>(L, i, off);
        if (DT == MF_F32) {
            ((float *)o)[off[0]] = bin_apply<float>(op, ((const float *)a)[off[1]], ((const float *)b)[off[2]]);
        } else if (DT == MF_F64) {
            ((double *)o)[off[0]] =
                bin_apply<double>(op, ((const double *)a)[off[1]], ((const double *)b)[off[2]]);
        } else {
            double v = bin_apply<double>(op, mf_load_dyn(a, dt, off[1]), mf_load_dyn(b, dt, off[2]));
            if (op == MF_BIN_DIV && !dt_is_float(dt))
                v = trunc(v);
            mf_store_dyn(o, dt, off[0], v);
        }
    }
}

/* ----------------------------------------------------------------- unary */

__device__ __forceinline__ double sigmoid_d(double x) {
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

__device__ double un_value(int op, double x, double p0, double p1) {
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
__device__ double un_derivative(int op, double x, double y, double p0, double p1) {
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

template <int DT>
__global__ void unary_kernel(mf_cuda_layout L, int op, int dt, double p0, double p1, void *o, const void *x) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[2];
        mf_offsets<2>(L, i, off);
        mf_store<DT>(o, dt, off[0], un_value(op, mf_load<DT>(x, dt, off[1]), p0, p1));
    }
}

/* Operands: gin, x, y (x again when absent), gout. */
template <int DT>
__global__ void unary_backward_kernel(mf_cuda_layout L, int op, int dt, double p0, double p1, void *gin,
                                      const void *x, const void *y, const void *g) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[4];
        mf_offsets<4>(L, i, off);
        double xv = mf_load<DT>(x, dt, off[1]);
        double yv = y ? mf_load<DT>(y, dt, off[2]) : un_value(op, xv, p0, p1);
        double gv = mf_load<DT>(g, dt, off[3]);
        mf_store<DT>(gin, dt, off[0], gv * un_derivative(op, xv, yv, p0, p1));
    }
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

#define MF_DISPATCH_DT(dt, KERNEL, ...)                                                                       \
    do {                                                                                                      \
        if ((dt) == MF_F32)                                                                                   \
            KERNEL<MF_F32><<<g, MF_THREADS, 0, s>>>(__VA_ARGS__);                                            \
        else if ((dt) == MF_F64)                                                                              \
            KERNEL<MF_F64><<<g, MF_THREADS, 0, s>>>(__VA_ARGS__);                                            \
        else                                                                                                  \
            KERNEL<MF_DYN><<<g, MF_THREADS, 0, s>>>(__VA_ARGS__);                                            \
    } while (0)

extern "C" cudaError_t mf_cuda_launch_binary(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, void *out,
                                             const void *a, const void *b) {
    unsigned g = mf_grid_for(L->n);
    MF_DISPATCH_DT(dt, binary_kernel, *L, op, dt, out, a, b);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_unary(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, double p0,
                                            double p1, void *out, const void *x) {
    unsigned g = mf_grid_for(L->n);
    MF_DISPATCH_DT(dt, unary_kernel, *L, op, dt, p0, p1, out, x);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_unary_backward(cudaStream_t s, const mf_cuda_layout *L, int op, int dt,
                                                     double p0, double p1, void *gin, const void *x, const void *y,
                                                     const void *gout) {
    unsigned g = mf_grid_for(L->n);
    MF_DISPATCH_DT(dt, unary_backward_kernel, *L, op, dt, p0, p1, gin, x, y, gout);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_compare(cudaStream_t s, const mf_cuda_layout *L, int op, int dt, void *out,
                                              const void *a, const void *b) {
    unsigned g = mf_grid_for(L->n);
    MF_DISPATCH_DT(dt, compare_kernel, *L, op, dt, (uint8_t *)out, a, b);
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
