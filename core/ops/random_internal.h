/* Shared by the random ops (random.c, dropout.c). */
#ifndef MF_OPS_RANDOM_INTERNAL_H
#define MF_OPS_RANDOM_INTERNAL_H

#include "core/backend/kern_random.h"
#include "medfm/ops/random.h"

/* Fills t from rng and advances rng->offset; errors name `op`. */
mf_status mf__rand_fill(const char *op, mf_rand_kind kind, mf_tensor *t, mf_rng *rng, const double p[4]);

#endif
