/* How CUDA convolutions choose their cuDNN algorithm, like PyTorch's
 * torch.backends.cudnn.benchmark (config: `train.cudnn_search`).
 *
 * HEURISTIC (the default) takes cuDNN's ranked heuristics: nothing runs to
 * choose, and every run makes the same choice. SEARCH times the candidates
 * on the first call of each shape (direction, dtype, geometry) and keeps
 * the fastest: the first step of each new shape is slower, later ones may
 * be faster, and since the timing makes the choice, results may differ in
 * their last bits between runs. The policy is process-wide, for every CUDA
 * device; shapes already seen keep the algorithm chosen under each policy. */
#ifndef MEDFM_CONV_ALGO_H
#define MEDFM_CONV_ALGO_H

#include <stdint.h>

#include "medfm/status.h"
#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MF_CONV_ALGO_HEURISTIC = 0, MF_CONV_ALGO_SEARCH = 1 } mf_conv_algo_policy;

/* Sets the policy; `dev` must be a cuda device that can be had (an error
 * names it otherwise). */
mf_status mf_conv_algo_policy_set(mf_device dev, mf_conv_algo_policy policy);

typedef struct mf_conv_algo_counts {
    uint64_t searched;  /* shapes whose algorithm a timed search chose */
    uint64_t heuristic; /* shapes whose algorithm the heuristics chose */
} mf_conv_algo_counts;

/* How many shapes each policy has chosen for so far in this process. */
mf_status mf_conv_algo_counts_get(mf_device dev, mf_conv_algo_counts *out);

#ifdef __cplusplus
}
#endif

#endif
