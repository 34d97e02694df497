/* The backward engine: collects the nodes reachable from the root, runs
 * them in reverse topological order (a node runs once every consumer has
 * contributed its gradient) and accumulates leaf gradients. */
#include "medfm/autograd.h"
#include "medfm/ops.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void mf_node_free_saved_state(mf_node *n);

typedef struct {
    mf_node **items;
    size_t n, cap;
} node_vec;

static mf_status vec_push(node_vec *v, mf_node *n) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        mf_node **p = realloc(v->items, cap * sizeof *p);
        if (!p)
            return MF_ERR(MF_ERR_NOMEM, "backward: out of memory");
        v->items = p;
        v->cap = cap;
    }
    v->items[v->n++] = n;
    return MF_OK;
}

static _Atomic uint64_t epoch_counter = 1;

/* Adds g into *acc (out of place: *acc may alias another live gradient). */
static mf_status accumulate(mf_tensor **acc, mf_tensor *g) {
    if (!*acc) {
        *acc = mf_tensor_retain(g);
        return MF_OK;
    }
    mf_tensor *sum;
    MF_TRY(mf_add(*acc, g, &sum));
    mf_tensor_release(*acc);
    *acc = sum;
    return MF_OK;
}

static mf_status accumulate_leaf(mf_tensor *leaf, mf_tensor *g) {
    if (g->dtype != leaf->dtype)
        return MF_ERR(MF_ERR_DTYPE, "backward: gradient dtype %s differs from leaf dtype %s",
                      mf_dtype_name(g->dtype), mf_dtype_name(leaf->dtype));
    if (!leaf->grad) {
        /* The leaf must own its gradient alone, so optimisers and clipping
         * may modify it in place. A contiguous gradient nobody else holds
         * (one reference, storage not shared with any view) is taken over;
         * anything else is copied. */
        if (g->refcount == 1 && g->storage->refcount == 1 && !g->grad_fn && mf_tensor_is_contiguous(g) &&
            g->offset == 0 && mf_device_equal(g->storage->device, leaf->storage->device)) {
            leaf->grad = mf_tensor_retain(g);
            return MF_OK;
        }
        mf_tensor *copy;
        MF_TRY(mf_tensor_empty_like(leaf, &copy));
        mf_status st = mf_tensor_copy_(copy, g);
        if (st != MF_OK) {
            mf_tensor_release(copy);
            return st;
        }
        leaf->grad = copy;
        return MF_OK;
    }
    return mf_add_(leaf->grad, g);
}

static bool shape_matches(const mf_tensor *g, int ndim, const int64_t *shape) {
    if (g->ndim != ndim)
        return false;
    for (int i = 0; i < ndim; i++)
        if (g->shape[i] != shape[i])
            return false;
    return true;
}

mf_status mf_backward(mf_tensor *root, const mf_tensor *grad_root, bool retain_graph) {
    mf_status st = MF_OK;
    mf_tensor *g0 = NULL;
    if (!root->requires_grad)
        return MF_ERR(MF_ERR_STATE, "backward: the tensor does not require a gradient (no input of its graph "
                                    "requires one, or it was computed with gradients disabled)");
    if (grad_root) {
        if (!mf_tensor_same_shape(grad_root, root))
            return MF_ERR(MF_ERR_SHAPE, "backward: gradient shape %s differs from output shape %s",
                          MF_SHAPE(grad_root), MF_SHAPE(root));
        g0 = mf_tensor_retain((mf_tensor *)grad_root);
    } else {
        if (mf_tensor_numel(root) != 1)
            return MF_ERR(MF_ERR_SHAPE,
                          "backward: output of shape %s is not a scalar; pass its gradient explicitly",
                          MF_SHAPE(root));
        MF_TRY(mf_tensor_full(root->ndim, root->shape, root->dtype, root->storage->device, 1.0, &g0));
    }
    bool prev = mf_grad_set_enabled(false);
    if (!root->grad_fn) {
        st = accumulate_leaf(root, g0);
        mf_tensor_release(g0);
        mf_grad_set_enabled(prev);
        return st;
    }

    uint64_t epoch = atomic_fetch_add(&epoch_counter, 1);
    node_vec all = {0}, stack = {0}, ready = {0};
    /* Discover the graph and count, for each node, how many edges from other
     * reached nodes point at it. */
    mf_node *r = root->grad_fn;
    r->epoch = epoch;
    r->pending = 0;
    MF_CHECK(vec_push(&stack, r));
    MF_CHECK(vec_push(&all, r));
    while (stack.n) {
        mf_node *n = stack.items[--stack.n];
        if (n->released) {
            st = MF_ERR(MF_ERR_STATE,
                        "backward through a graph that was already freed (op '%s'): pass retain_graph=true "
                        "to the first backward to run it twice",
                        n->op);
            goto cleanup;
        }
        for (int i = 0; i < n->n_in; i++) {
            mf_tensor *in = n->in[i];
            if (!in || !in->grad_fn)
                continue;
            mf_node *c = in->grad_fn;
            if (c->epoch != epoch) {
                c->epoch = epoch;
                c->pending = 0;
                MF_CHECK(vec_push(&stack, c));
                MF_CHECK(vec_push(&all, c));
            }
            c->pending++;
        }
    }
    mf_tensor_clear(&r->grad_acc);
    r->grad_acc = g0;
    g0 = NULL;
    MF_CHECK(vec_push(&ready, r));
    while (ready.n) {
        mf_node *n = ready.items[--ready.n];
        mf_tensor *gout = n->grad_acc;
        n->grad_acc = NULL;
        mf_tensor **gin = calloc((size_t)n->n_in + 1, sizeof *gin);
        if (!gin) {
            mf_tensor_release(gout);
            st = MF_ERR(MF_ERR_NOMEM, "backward: out of memory");
            goto cleanup;
        }
        if (gout)
            st = n->backward(n, gout, gin);
        mf_tensor_release(gout);
        if (st != MF_OK)
            st = mf_error_context(st, "backward of '%s'", n->op);
        for (int i = 0; i < n->n_in; i++) {
            mf_tensor *in = n->in[i];
            mf_tensor *g = gin[i];
            if (st == MF_OK && g && in && !shape_matches(g, n->in_ndim[i], n->in_shape[i]))
                st = MF_ERR(MF_ERR_SHAPE, "backward of '%s': gradient %s for input %d of shape %s", n->op,
                            MF_SHAPE(g), i, mf_shape_str(n->in_ndim[i], n->in_shape[i]));
            if (st == MF_OK && in && g) {
                if (in->grad_fn)
                    st = accumulate(&in->grad_fn->grad_acc, g);
                else
                    st = accumulate_leaf(in, g);
            }
            if (st == MF_OK && in && in->grad_fn && --in->grad_fn->pending == 0)
                st = vec_push(&ready, in->grad_fn);
            mf_tensor_release(g);
        }
        free(gin);
        if (st != MF_OK)
            goto cleanup;
        if (!retain_graph)
            mf_node_free_saved_state(n);
    }
cleanup:
    for (size_t i = 0; i < all.n; i++)
        mf_tensor_clear(&all.items[i]->grad_acc);
    mf_tensor_release(g0);
    free(all.items);
    free(stack.items);
    free(ready.items);
    mf_grad_set_enabled(prev);
    return st;
}
