/* Kernel table of the elementwise family: binary arithmetic, unary maps
 * with their fused local derivative, comparisons and where. Inputs arrive
 * already broadcast to the output's shape (stride-0 views), with the same
 * dtype as the output (comparisons: output bool). */
#ifndef MF_KERN_ELEMENTWISE_H
#define MF_KERN_ELEMENTWISE_H

#include "medfm/tensor.h"

typedef enum {
    MF_BIN_ADD,
    MF_BIN_SUB,
    MF_BIN_MUL,
    MF_BIN_DIV,
    MF_BIN_POW,
    MF_BIN_MAX,
    MF_BIN_MIN,
} mf_binary_op;

typedef enum {
    MF_UN_NEG,
    MF_UN_RELU,
    MF_UN_GELU,       /* exact, erf form */
    MF_UN_SIGMOID,
    MF_UN_TANH,
    MF_UN_EXP,
    MF_UN_LOG,
    MF_UN_SQRT,
    MF_UN_RSQRT,
    MF_UN_ABS,
    MF_UN_SOFTPLUS,   /* p0 = beta, p1 = threshold */
    MF_UN_POW,        /* p0 = exponent */
    MF_UN_SQUARE,
    MF_UN_LEAKY_RELU, /* p0 = negative slope */
    MF_UN_SILU,
    MF_UN_CLAMP,      /* p0 = lo, p1 = hi (NaN = no bound) */
    MF_UN_RECIPROCAL,
    MF_UN_AFFINE,     /* p0 * x + p1 */
    MF_UN_SIGN,
    MF_UN_LOG1P,
    MF_UN_SIN,
    MF_UN_COS,
    MF_UN_ERF,
} mf_unary_op;

typedef enum { MF_CMP_EQ, MF_CMP_NE, MF_CMP_LT, MF_CMP_LE, MF_CMP_GT, MF_CMP_GE } mf_compare_op;

struct mf_kern_elementwise {
    mf_status (*binary)(mf_binary_op op, mf_tensor *out, const mf_tensor *a, const mf_tensor *b);
    mf_status (*unary)(mf_unary_op op, double p0, double p1, mf_tensor *out, const mf_tensor *x);
    /* gin = gout * f'(x); y = f(x) is passed for ops whose derivative uses it. */
    mf_status (*unary_backward)(mf_unary_op op, double p0, double p1, mf_tensor *gin, const mf_tensor *gout,
                                const mf_tensor *x, const mf_tensor *y);
    mf_status (*compare)(mf_compare_op op, mf_tensor *out, const mf_tensor *a, const mf_tensor *b);
    /* out = cond ? a : b; cond is bool. */
    mf_status (*where)(mf_tensor *out, const mf_tensor *cond, const mf_tensor *a, const mf_tensor *b);
};

#endif
