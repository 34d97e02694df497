/* Elementwise ops with NumPy broadcasting. Both operands must share a dtype
 * (no implicit promotion: cast with mf_to_dtype). All are differentiable
 * except comparisons and sign. */
#ifndef MEDFM_OPS_ELEMENTWISE_H
#define MEDFM_OPS_ELEMENTWISE_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Broadcast shape of two shapes, or a shape error naming both and `op`. */
mf_status mf_broadcast_shape(const char *op, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                             int64_t *out);

mf_status mf_add(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_sub(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_mul(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_div(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_pow(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_maximum(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_minimum(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);

/* a + s, a * s, s * a + t */
mf_status mf_add_scalar(const mf_tensor *a, double s, mf_tensor **out);
mf_status mf_mul_scalar(const mf_tensor *a, double s, mf_tensor **out);
mf_status mf_affine(const mf_tensor *a, double scale, double shift, mf_tensor **out);

mf_status mf_neg(const mf_tensor *x, mf_tensor **out);
mf_status mf_relu(const mf_tensor *x, mf_tensor **out);
mf_status mf_gelu(const mf_tensor *x, mf_tensor **out); /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
mf_status mf_sigmoid(const mf_tensor *x, mf_tensor **out);
mf_status mf_tanh(const mf_tensor *x, mf_tensor **out);
mf_status mf_exp(const mf_tensor *x, mf_tensor **out);
mf_status mf_log(const mf_tensor *x, mf_tensor **out);
mf_status mf_log1p(const mf_tensor *x, mf_tensor **out);
mf_status mf_sqrt(const mf_tensor *x, mf_tensor **out);
mf_status mf_rsqrt(const mf_tensor *x, mf_tensor **out);
mf_status mf_abs(const mf_tensor *x, mf_tensor **out);
mf_status mf_square(const mf_tensor *x, mf_tensor **out);
mf_status mf_reciprocal(const mf_tensor *x, mf_tensor **out);
mf_status mf_sin(const mf_tensor *x, mf_tensor **out);
mf_status mf_cos(const mf_tensor *x, mf_tensor **out);
mf_status mf_erf(const mf_tensor *x, mf_tensor **out);
mf_status mf_silu(const mf_tensor *x, mf_tensor **out);
mf_status mf_sign(const mf_tensor *x, mf_tensor **out);
mf_status mf_softplus(const mf_tensor *x, double beta, double threshold, mf_tensor **out);
mf_status mf_leaky_relu(const mf_tensor *x, double slope, mf_tensor **out);
mf_status mf_pow_scalar(const mf_tensor *x, double exponent, mf_tensor **out);
/* Clamp to [lo, hi]; pass NAN for a missing bound. */
mf_status mf_clamp(const mf_tensor *x, double lo, double hi, mf_tensor **out);

/* Comparisons give bool tensors and carry no gradient. */
mf_status mf_eq(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_ne(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_lt(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_le(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_gt(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
mf_status mf_ge(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
/* cond ? a : b, all three broadcast; cond must be bool. */
mf_status mf_where(const mf_tensor *cond, const mf_tensor *a, const mf_tensor *b, mf_tensor **out);

/* Differentiable dtype cast (float <-> float carries the gradient). */
mf_status mf_to_dtype(const mf_tensor *x, mf_dtype dt, mf_tensor **out);

/* In place, never recorded by autograd (optimisers, accumulation):
 * dst += src, dst *= s, dst += alpha * src. src broadcasts to dst. */
mf_status mf_add_(mf_tensor *dst, const mf_tensor *src);
mf_status mf_mul_scalar_(mf_tensor *dst, double s);
mf_status mf_axpy_(mf_tensor *dst, double alpha, const mf_tensor *src);

#ifdef __cplusplus
}
#endif
#endif
