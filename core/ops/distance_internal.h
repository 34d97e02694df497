/* The op-composed reference of mf_pairwise_distance, for tests that hold
 * the direct kernels to it. */
#ifndef MF_OPS_DISTANCE_INTERNAL_H
#define MF_OPS_DISTANCE_INTERNAL_H

#include "medfm/tensor.h"

mf_status mf__pairwise_distance_ref(const mf_tensor *a, const mf_tensor *b, double p, mf_tensor **out);

#endif
