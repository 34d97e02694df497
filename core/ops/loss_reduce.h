/* Reduction shared by the composed losses (bce.c, regression_loss.c). */
#ifndef MF_OPS_LOSS_REDUCE_H
#define MF_OPS_LOSS_REDUCE_H

#include "medfm/ops.h"

/* mean / sum / none of a per-element loss; takes ownership of `l`. */
mf_status mf__loss_reduce(mf_tensor *l, mf_reduction r, mf_tensor **out);

#endif
