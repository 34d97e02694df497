/* Similarities and distances between embeddings. */
#ifndef MEDFM_OPS_DISTANCE_H
#define MEDFM_OPS_DISTANCE_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x / max(||x||_2, eps) along dim. */
mf_status mf_l2_normalize(const mf_tensor *x, int dim, double eps, mf_tensor **out);
/* torch.nn.functional.cosine_similarity along dim (broadcasting a, b). */
mf_status mf_cosine_similarity(const mf_tensor *a, const mf_tensor *b, int dim, double eps, mf_tensor **out);
/* torch.cdist: a (..., N, D), b (..., M, D) -> (..., N, M), p-norm distance
 * for p = 1 or 2. */
mf_status mf_pairwise_distance(const mf_tensor *a, const mf_tensor *b, double p, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
