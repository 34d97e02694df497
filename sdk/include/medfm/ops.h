/* Every differentiable op, by family. Each family's header documents its
 * shapes and conventions (NCHW / NCDHW layouts, PyTorch semantics). */
#ifndef MEDFM_OPS_H
#define MEDFM_OPS_H

#include "medfm/autograd.h"
#include "medfm/tensor.h"

#include "medfm/ops/attention.h"
#include "medfm/ops/conv.h"
#include "medfm/ops/distance.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/index.h"
#include "medfm/ops/linalg.h"
#include "medfm/ops/loss.h"
#include "medfm/ops/norm.h"
#include "medfm/ops/pool.h"
#include "medfm/ops/random.h"
#include "medfm/ops/reduce.h"
#include "medfm/ops/softmax.h"
#include "medfm/ops/sort.h"
#include "medfm/ops/view.h"

#endif
