/* Define-by-run autograd. An op whose inputs need gradients records a node
 * on its output; mf_backward() walks the nodes in reverse topological order
 * and accumulates gradients into leaves (tensor->grad).
 *
 * Writing a differentiable op (the pattern every op in core/ops follows):
 *   compute y without autograd;
 *   mf_node *n; MF_TRY(mf_autograd_record("relu", y, 1, &x, relu_backward, &n));
 *   if (n) mf_node_save(n, y);   // saved tensors are stored as detached aliases
 * The backward receives the gradient of the output and writes one owned
 * gradient per input slot (leave NULL where node->in[i] is NULL). It runs
 * with gradient recording disabled, so it may call any op. */
#ifndef MEDFM_AUTOGRAD_H
#define MEDFM_AUTOGRAD_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MF_NODE_MAX_SAVED 8
#define MF_NODE_MAX_ARGS 16

typedef mf_status (*mf_backward_fn)(mf_node *node, const mf_tensor *grad_out, mf_tensor **grad_in);

struct mf_node {
    const char *op; /* static string, for messages */
    int refcount;
    bool released; /* saved state freed by a backward without retain_graph */
    int n_in;
    /* Inputs that need a gradient, NULL otherwise: a leaf itself (retained),
     * or for a computed input a stand-in with its shape, dtype, device
     * and grad_fn but no data (a backward function may read its shape,
     * dtype and storage->device, never its elements). */
    mf_tensor **in;
    /* Shapes of all inputs, recorded even where in[i] is NULL. */
    int32_t *in_ndim;
    int64_t (*in_shape)[MF_MAX_DIMS];
    int n_saved;
    mf_tensor *saved[MF_NODE_MAX_SAVED];
    int64_t iarg[MF_NODE_MAX_ARGS];
    double farg[MF_NODE_MAX_ARGS];
    void *ctx; /* op-specific state, freed with ctx_free */
    void (*ctx_free)(void *ctx);
    mf_backward_fn backward;
    /* engine bookkeeping */
    mf_tensor *grad_acc;
    int64_t pending;
    uint64_t epoch;
};

/* Gradient recording switch for this thread (on by default). */
bool mf_grad_enabled(void);
/* Sets the switch and returns its previous value. */
bool mf_grad_set_enabled(bool on);

/* True when recording is on and any input requires a gradient. */
bool mf_autograd_needed(int n_in, mf_tensor *const *inputs);

/* If mf_autograd_needed(), creates a node over `inputs`, attaches it to
 * `out` (out->grad_fn, out->requires_grad) and returns it in *node (a
 * borrowed pointer: `out` owns it). Otherwise *node = NULL. */
mf_status mf_autograd_record(const char *op, mf_tensor *out, int n_in, mf_tensor *const *inputs,
                             mf_backward_fn backward, mf_node **node);

/* Saves a detached alias of t in node->saved[node->n_saved++]. t may be NULL
 * (a slot kept empty). */
mf_status mf_node_save(mf_node *node, const mf_tensor *t);

void mf_node_retain(mf_node *n);
void mf_node_release(mf_node *n);

/* Backpropagates from `root`. `grad_root` may be NULL only when root has one
 * element (gradient 1). Without retain_graph, the saved state of every node
 * reached is freed and a second backward through them is an error. */
mf_status mf_backward(mf_tensor *root, const mf_tensor *grad_root, bool retain_graph);

#ifdef __cplusplus
}
#endif
#endif
