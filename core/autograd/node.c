/* Autograd nodes: creation on an op's output, saved tensors, lifetime. */
#include "medfm/autograd.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local bool grad_disabled;

bool mf_grad_enabled(void) { return !grad_disabled; }

bool mf_grad_set_enabled(bool on) {
    bool prev = !grad_disabled;
    grad_disabled = !on;
    return prev;
}

bool mf_autograd_needed(int n_in, mf_tensor *const *inputs) {
    if (grad_disabled)
        return false;
    for (int i = 0; i < n_in; i++)
        if (inputs[i] && inputs[i]->requires_grad)
            return true;
    return false;
}

static void node_free_saved(mf_node *n) {
    for (int i = 0; i < n->n_saved; i++)
        mf_tensor_clear(&n->saved[i]);
    n->n_saved = 0;
    if (n->ctx_free && n->ctx)
        n->ctx_free(n->ctx);
    n->ctx = NULL;
}

/* What a node keeps of an input that needs a gradient: a leaf itself (its
 * gradient accumulates there), else a stand-in with the input's shape,
 * dtype, device and grad_fn but no data, so the graph holds only what backward functions
 * saved and an activation is freed as soon as nothing else uses it. NULL
 * when out of host memory. */
static void node_destroy(mf_node *n);

static void no_data(void *ctx, void *data, size_t nbytes) {
    (void)ctx, (void)data, (void)nbytes;
}

static mf_tensor *edge_to(mf_tensor *t) {
    if (!t->grad_fn)
        return mf_tensor_retain(t);
    mf_tensor *e = calloc(1, sizeof *e);
    mf_storage *s = calloc(1, sizeof *s);
    if (!e || !s) {
        free(e);
        free(s);
        return NULL;
    }
    s->device = t->storage->device; /* where its gradient is made */
    s->refcount = 1;
    s->deleter = no_data;
    e->storage = s;
    e->ndim = t->ndim;
    e->dtype = t->dtype;
    memcpy(e->shape, t->shape, sizeof e->shape);
    memcpy(e->stride, t->stride, sizeof e->stride);
    e->refcount = 1;
    e->requires_grad = true;
    mf_node_retain(t->grad_fn);
    e->grad_fn = t->grad_fn;
    return e;
}

mf_status mf_autograd_record(const char *op, mf_tensor *out, int n_in, mf_tensor *const *inputs,
                             mf_backward_fn backward, mf_node **node) {
    *node = NULL;
    if (!mf_autograd_needed(n_in, inputs))
        return MF_OK;
    if (out->grad_fn)
        return MF_ERR(MF_ERR_STATE, "%s: output already has a gradient function ('%s')", op, out->grad_fn->op);
    mf_node *n = calloc(1, sizeof *n);
    if (!n)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory recording autograd node", op);
    n->in = calloc((size_t)(n_in > 0 ? n_in : 1), sizeof *n->in);
    n->in_ndim = calloc((size_t)(n_in > 0 ? n_in : 1), sizeof *n->in_ndim);
    n->in_shape = calloc((size_t)(n_in > 0 ? n_in : 1), sizeof *n->in_shape);
    if (!n->in || !n->in_ndim || !n->in_shape) {
        free(n->in);
        free(n->in_ndim);
        free(n->in_shape);
        free(n);
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory recording autograd node", op);
    }
    n->op = op;
    n->refcount = 1;
    n->n_in = n_in;
    n->backward = backward;
    for (int i = 0; i < n_in; i++) {
        if (!inputs[i])
            continue;
        n->in_ndim[i] = inputs[i]->ndim;
        memcpy(n->in_shape[i], inputs[i]->shape, sizeof n->in_shape[i]);
        if (inputs[i]->requires_grad && !(n->in[i] = edge_to(inputs[i]))) {
            n->backward = NULL;
            node_destroy(n);
            return MF_ERR(MF_ERR_NOMEM, "%s: out of memory recording autograd node", op);
        }
    }
    out->grad_fn = n;
    out->requires_grad = true;
    *node = n;
    return MF_OK;
}

mf_status mf_node_save(mf_node *node, const mf_tensor *t) {
    if (node->n_saved >= MF_NODE_MAX_SAVED)
        return MF_ERR(MF_ERR_STATE, "%s: more than %d saved tensors", node->op, MF_NODE_MAX_SAVED);
    mf_tensor *d = NULL;
    if (t)
        MF_TRY(mf_tensor_detach(t, &d));
    node->saved[node->n_saved++] = d;
    return MF_OK;
}

void mf_node_retain(mf_node *n) { atomic_fetch_add_explicit((_Atomic int *)&n->refcount, 1, memory_order_relaxed); }

static void node_destroy(mf_node *n) {
    node_free_saved(n);
    mf_tensor_clear(&n->grad_acc);
    for (int i = 0; i < n->n_in; i++)
        mf_tensor_release(n->in[i]);
    free(n->in);
    free(n->in_ndim);
    free(n->in_shape);
    free(n);
}

/* Releasing the last output of a long graph would recurse once per node
 * (tensor -> node -> input tensor -> node ...). Nodes reaching zero while a
 * release is already running on this thread are queued and destroyed by
 * the outermost call instead, so the stack stays flat. */
static _Thread_local mf_node **doomed;
static _Thread_local size_t n_doomed, cap_doomed;
static _Thread_local bool draining;

void mf_node_release(mf_node *n) {
    if (!n || atomic_fetch_sub_explicit((_Atomic int *)&n->refcount, 1, memory_order_acq_rel) != 1)
        return;
    if (draining) {
        if (n_doomed == cap_doomed) {
            size_t cap = cap_doomed ? cap_doomed * 2 : 256;
            mf_node **p = realloc(doomed, cap * sizeof *p);
            if (!p) { /* no room to queue: destroy recursively */
                node_destroy(n);
                return;
            }
            doomed = p;
            cap_doomed = cap;
        }
        doomed[n_doomed++] = n;
        return;
    }
    draining = true;
    node_destroy(n);
    while (n_doomed)
        node_destroy(doomed[--n_doomed]);
    free(doomed);
    doomed = NULL;
    cap_doomed = 0;
    draining = false;
}

/* Used by the engine after a backward without retain_graph. */
void mf_node_free_saved_state(mf_node *n) {
    node_free_saved(n);
    n->released = true;
}
