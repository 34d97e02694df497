/* Helpers shared by the layer files in core/nn: parameter allocation and
 * the typed view of a module. Not installed. */
#ifndef MF_NN_INTERNAL_H
#define MF_NN_INTERNAL_H

#include "medfm/medfm.h"
#include "medfm/nn.h"

/* New f32 CPU tensor of zeros. */
mf_status mf__nn_zeros(int ndim, const int64_t *shape, mf_tensor **out);
/* Registers a fresh f32 tensor filled with `value` as a parameter. */
mf_status mf__nn_param_const(mf_module *m, const char *name, int ndim, const int64_t *shape, double value,
                             int *slot);
/* Registers "weight" (wshape, f32) and, when bias_len > 0, "bias"
 * (bias_len) with torch's default init (kaiming uniform a = sqrt 5, bias
 * uniform in +-1/sqrt(fan_in)), as Linear and ConvNd do. */
mf_status mf__nn_weight_bias(mf_module *m, int ndim, const int64_t *wshape, int64_t bias_len, mf_rng *rng,
                             int *w_slot, int *b_slot);
/* mf_module_add_child, except that a failure leaves `child` to the caller:
 * for a child the module lists but another object owns (a task model's
 * encoder module, which belongs to its mf_encoder). */
mf_status mf__module_add_child_keep(mf_module *m, const char *name, mf_module *child, int *slot);

/* While set (per thread), the random initialisers leave tensors as they
 * are: for building models only to check a config. Returns the old value. */
bool mf__init_skip_random(bool skip);

#endif
