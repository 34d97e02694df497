/* Softmax family along one dim (negative dims count from the end), with
 * torch semantics: stable (max subtracted), a row of all -inf gives NaN,
 * f32 and f64, any layout. Differentiable. */
#ifndef MEDFM_OPS_SOFTMAX_H
#define MEDFM_OPS_SOFTMAX_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

mf_status mf_softmax(const mf_tensor *x, int dim, mf_tensor **out);
mf_status mf_log_softmax(const mf_tensor *x, int dim, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
