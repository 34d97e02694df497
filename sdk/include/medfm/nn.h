/* Neural-network modules: a small C take on torch.nn. A module owns its
 * parameters (leaf tensors that require gradients), its buffers (running
 * statistics) and its children, each under a name, so that composed modules
 * expose torch's hierarchical names ("layer1.0.conv1.weight") and weights
 * move both ways through safetensors. Modules are written only with ops:
 * autograd derives every backward.
 *
 * Ownership:
 *   - mf_module_free() frees a module, its children, and drops its
 *     references to parameters and buffers.
 *   - mf_module_add_param / add_buffer / add_child take ownership of the
 *     tensor reference or child passed in, also when they fail.
 *   - Tensors returned by mf_module_param(), mf_module_find() and the entries
 *     of an mf_named_tensors list are borrowed: valid while the module lives
 *     and until mf_module_to_device() replaces them. Retain to keep longer.
 *   - mf_named_tensors lists own their name strings; free them with
 *     mf_named_tensors_free().
 *   - Constructors write one new module to *out (NULL on failure). */
#ifndef MEDFM_NN_H
#define MEDFM_NN_H

#include <stdbool.h>
#include <stdint.h>

#include "medfm/io.h"
#include "medfm/ops/conv.h"
#include "medfm/ops/pool.h"
#include "medfm/ops/random.h"
#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_module mf_module;

/* Behaviour of one module type. Concrete modules embed `mf_module` as their
 * first member and point `vt` at a static table. */
typedef struct mf_module_vtable {
    const char *type_name; /* torch's class name: "Linear", "BatchNorm2d" */
    /* One input, one output; NULL for modules that only group children. */
    mf_status (*forward)(mf_module *m, const mf_tensor *x, mf_tensor **out);
    /* Frees type-specific state only (may be NULL); the base frees the rest. */
    void (*destroy)(mf_module *m);
} mf_module_vtable;

typedef struct mf_module_entry {
    char *name;
    void *item; /* mf_tensor * for params/buffers, mf_module * for children */
} mf_module_entry;

struct mf_module {
    const mf_module_vtable *vt;
    bool training; /* new modules start in training mode, as in torch */
    int n_params, n_buffers, n_children;
    mf_module_entry *params, *buffers, *children;
    int cap_params, cap_buffers, cap_children;
};

/* ---- building modules ---- */
/* Allocates `size` zeroed bytes (>= sizeof(mf_module)) as a module of type vt. */
mf_status mf_module_alloc(size_t size, const mf_module_vtable *vt, mf_module **out);
/* Registers a parameter: marks `t` as requiring gradients and keeps it under
 * `name`. Writes its slot (index into m->params) to *slot when non-NULL.
 * A duplicate name or a non-leaf tensor is an error. */
mf_status mf_module_add_param(mf_module *m, const char *name, mf_tensor *t, int *slot);
/* Registers a buffer (saved in the state dict, never trained). */
mf_status mf_module_add_buffer(mf_module *m, const char *name, mf_tensor *t, int *slot);
/* Adds a child module under `name` (no dots). */
mf_status mf_module_add_child(mf_module *m, const char *name, mf_module *child, int *slot);

/* ---- using modules ---- */
void mf_module_free(mf_module *m); /* NULL is fine */
/* Runs the module's forward; an error for modules without one. */
mf_status mf_module_forward(mf_module *m, const mf_tensor *x, mf_tensor **out);
/* Sets training (true) or evaluation (false) mode on m and every descendant. */
void mf_module_train(mf_module *m, bool training);
/* Drops the accumulated gradient of every parameter. */
void mf_module_zero_grad(mf_module *m);
/* Borrowed slot accessors (NULL when out of range). */
mf_tensor *mf_module_param(const mf_module *m, int slot);
mf_tensor *mf_module_buffer(const mf_module *m, int slot);
mf_module *mf_module_child(const mf_module *m, int slot);
const char *mf_module_type(const mf_module *m);
/* Looks up a direct or nested child by dotted path ("layer1.0"). */
mf_status mf_module_find_child(const mf_module *m, const char *path, mf_module **out);
/* Looks up a parameter or buffer by full dotted name ("layer1.0.bn1.running_mean"). */
mf_status mf_module_find(const mf_module *m, const char *name, mf_tensor **out);
/* Moves every parameter and buffer to `dev` (new leaves replace the old ones;
 * gradients are dropped). */
mf_status mf_module_to_device(mf_module *m, mf_device dev);

/* ---- named tensors (optimisers, state dicts) ---- */
/* A list of mf_named_tensor (medfm/io.h), ready for mf_state_dict_load /
 * mf_state_dict_save as (items, n). The list owns the name strings; the
 * tensors are borrowed from the module. */
typedef struct mf_named_tensors {
    int n;
    mf_named_tensor *items;
} mf_named_tensors;

/* All parameters, depth first: a module's own, then each child's under
 * "<child>." (torch's named_parameters order). */
mf_status mf_module_named_parameters(const mf_module *m, mf_named_tensors *out);
/* All buffers, same order (torch's named_buffers). */
mf_status mf_module_named_buffers(const mf_module *m, mf_named_tensors *out);
/* Parameters and buffers in torch's state_dict order: per module its own
 * parameters, then its own buffers, then its children. */
mf_status mf_module_state(const mf_module *m, mf_named_tensors *out);
void mf_named_tensors_free(mf_named_tensors *list);
/* Every parameter as a malloc'd array of borrowed pointers, in
 * named_parameters order, for mf_sgd_new / mf_adam_new (free() the array). */
mf_status mf_module_parameter_array(const mf_module *m, mf_tensor ***out, int *n);
/* Total number of parameter elements. */
int64_t mf_module_num_params(const mf_module *m);

/* ---- init (torch.nn.init, drawing from the seeded Philox mf_rng) ---- */
/* torch's _calculate_fan_in_and_fan_out: fan_in = size(1) * receptive field,
 * fan_out = size(0) * receptive field; needs ndim >= 2. */
mf_status mf_init_fans(const mf_tensor *t, int64_t *fan_in, int64_t *fan_out);
/* Gain for nonlinearity "linear", "conv*", "sigmoid", "tanh", "relu",
 * "leaky_relu" (with `param` as slope), "selu". */
mf_status mf_init_gain(const char *nonlinearity, double param, double *gain);
mf_status mf_init_uniform_(mf_tensor *t, mf_rng *rng, double lo, double hi);
mf_status mf_init_normal_(mf_tensor *t, mf_rng *rng, double mean, double std);
/* Normal(mean, std) truncated to [a, b] (absolute bounds, like torch's). */
mf_status mf_init_trunc_normal_(mf_tensor *t, mf_rng *rng, double mean, double std, double a, double b);
mf_status mf_init_constant_(mf_tensor *t, double value);
mf_status mf_init_zeros_(mf_tensor *t);
mf_status mf_init_ones_(mf_tensor *t);
/* kaiming_uniform_(a, mode fan_in, leaky_relu): bound = sqrt(6 / ((1 + a^2) fan_in)). */
mf_status mf_init_kaiming_uniform_(mf_tensor *t, mf_rng *rng, double a);
/* kaiming_normal_(mode fan_out when fan_out_mode, relu gain sqrt 2 when a = 0). */
mf_status mf_init_kaiming_normal_(mf_tensor *t, mf_rng *rng, double a, bool fan_out_mode);
mf_status mf_init_xavier_uniform_(mf_tensor *t, mf_rng *rng, double gain);
mf_status mf_init_xavier_normal_(mf_tensor *t, mf_rng *rng, double gain);
/* torch's default Linear/Conv init: weight kaiming_uniform_(a = sqrt 5),
 * bias (may be NULL) uniform in +-1/sqrt(fan_in of weight). */
mf_status mf_init_torch_default_(mf_tensor *weight, mf_tensor *bias, mf_rng *rng);

/* ---- layers ---- */
/* nn.Linear(in, out, bias): weight (out, in), bias (out). */
mf_status mf_nn_linear_new(int64_t in_features, int64_t out_features, bool bias, mf_rng *rng, mf_module **out);

/* nn.Conv1d/2d/3d and nn.ConvTranspose1d/2d/3d. */
typedef struct mf_conv_spec {
    int rank; /* spatial dims: 1, 2 or 3 */
    int64_t in_channels, out_channels;
    int64_t kernel[3];
    mf_conv_params p; /* stride, padding, dilation, output_padding, groups */
    bool bias;
} mf_conv_spec;
/* A cubic kernel k, stride and padding in every dim, dilation 1, one group,
 * with a bias (torch's defaults). */
mf_conv_spec mf_conv_spec_make(int rank, int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                               int64_t padding);
/* weight (out, in/groups, k...), bias (out). */
mf_status mf_nn_conv_new(const mf_conv_spec *spec, mf_rng *rng, mf_module **out);
/* weight (in, out/groups, k...), bias (out). */
mf_status mf_nn_conv_transpose_new(const mf_conv_spec *spec, mf_rng *rng, mf_module **out);

typedef struct mf_norm_spec {
    double eps;      /* 1e-5 */
    double momentum; /* 0.1 (batch norm), in [0, 1]; torch's None (cumulative) is not offered */
    bool affine;     /* true */
    bool track_running_stats; /* true (batch norm) */
} mf_norm_spec;
mf_norm_spec mf_norm_spec_default(void);
/* nn.BatchNorm{rank}d: weight, bias (ones, zeros) when affine; buffers
 * running_mean, running_var, num_batches_tracked (int64) when tracking.
 * rank 1 accepts (N, C) and (N, C, L); rank 2 (N, C, H, W); rank 3 5-D.
 * spec may be NULL for the defaults. */
mf_status mf_nn_batch_norm_new(int rank, int64_t num_features, const mf_norm_spec *spec, mf_module **out);
/* relu(bn(x)) for a BatchNorm module bn, fused (mf_batch_norm_relu): what
 * bn's forward does (running statistics, num_batches_tracked), then relu,
 * without the pre-activation tensor. */
mf_status mf_nn_batch_norm_relu_forward(mf_module *bn, const mf_tensor *x, mf_tensor **out);
/* nn.LayerNorm(normalized_shape) over the trailing n_dims dims. */
mf_status mf_nn_layer_norm_new(int n_dims, const int64_t *normalized_shape, const mf_norm_spec *spec,
                               mf_module **out);
/* nn.GroupNorm(groups, channels). */
mf_status mf_nn_group_norm_new(int64_t groups, int64_t channels, const mf_norm_spec *spec, mf_module **out);

/* nn.MultiheadAttention(embed_dim, num_heads, bias, batch_first) without
 * dropout: in_proj_weight (3E, E) xavier-uniform, in_proj_bias (3E) zeros,
 * out_proj (a Linear, bias zeros). The vtable forward is self-attention. */
mf_status mf_nn_mha_new(int64_t embed_dim, int64_t num_heads, bool bias, bool batch_first, mf_rng *rng,
                        mf_module **out);
/* query (B, Lq, E) ((Lq, B, E) unless batch_first), key/value likewise with
 * Lk; key/value may be NULL (self-attention). attn_bias (broadcastable to
 * (B, H, Lq, Lk)) is added to the scores; -inf masks. May be NULL. */
mf_status mf_nn_mha_forward(mf_module *m, const mf_tensor *query, const mf_tensor *key, const mf_tensor *value,
                            const mf_tensor *attn_bias, mf_tensor **out);

typedef enum mf_activation {
    MF_ACT_IDENTITY,
    MF_ACT_RELU,
    MF_ACT_GELU,
    MF_ACT_SILU,
    MF_ACT_SIGMOID,
    MF_ACT_TANH,
    MF_ACT_LEAKY_RELU /* slope 0.01 */
} mf_activation;
/* nn.ReLU, nn.GELU, ... (no parameters). */
mf_status mf_nn_activation_new(mf_activation act, mf_module **out);
/* Applies an activation as an op. */
mf_status mf_activation_apply(mf_activation act, const mf_tensor *x, mf_tensor **out);
/* nn.Dropout(p) with its own Philox stream seeded from `seed`. */
mf_status mf_nn_dropout_new(double p, uint64_t seed, mf_module **out);
/* nn.Identity. */
mf_status mf_nn_identity_new(mf_module **out);
/* nn.Flatten(start_dim, end_dim). */
mf_status mf_nn_flatten_new(int start_dim, int end_dim, mf_module **out);
/* nn.MaxPool{rank}d / nn.AvgPool{rank}d. */
mf_status mf_nn_max_pool_new(int rank, const mf_pool_params *p, mf_module **out);
mf_status mf_nn_avg_pool_new(int rank, const mf_pool_params *p, mf_module **out);
/* nn.AdaptiveAvgPool{rank}d(out_size). */
mf_status mf_nn_adaptive_avg_pool_new(int rank, const int64_t *out_size, mf_module **out);

/* nn.Sequential: children "0", "1", ... run in order. */
mf_status mf_nn_sequential_new(mf_module **out);
/* Appends a child (ownership passes to seq, also on failure). */
mf_status mf_nn_sequential_append(mf_module *seq, mf_module *child);

/* torchvision.ops.MLP(in, hidden, activation, dropout, bias): a Sequential of
 * [Linear, act, Dropout] per hidden layer, then Linear, Dropout, so indices
 * and names match torchvision's ("0.weight", "3.weight", ...). The
 * Dropout modules are kept even at p = 0 so that indices agree. */
mf_status mf_nn_mlp_new(int64_t in_features, int n_layers, const int64_t *hidden, mf_activation act,
                        double dropout, bool bias, mf_rng *rng, mf_module **out);

#ifdef __cplusplus
}
#endif
#endif
