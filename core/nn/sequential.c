/* nn.Sequential: children named "0", "1", ... applied in order. */
#include <stdio.h>

#include "core/nn/internal.h"

static mf_status seq_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    *out = NULL;
    mf_tensor *cur = mf_tensor_retain((mf_tensor *)x);
    for (int i = 0; i < m->n_children; i++) {
        mf_tensor *next = NULL;
        mf_status st = mf_module_forward(m->children[i].item, cur, &next);
        mf_tensor_release(cur);
        if (st != MF_OK)
            return mf_error_context(st, "Sequential child %s (%s)", m->children[i].name,
                                    mf_module_type(m->children[i].item));
        cur = next;
    }
    *out = cur;
    return MF_OK;
}

static const mf_module_vtable seq_vt = {"Sequential", seq_forward, NULL};

mf_status mf_nn_sequential_new(mf_module **out) { return mf_module_alloc(sizeof(mf_module), &seq_vt, out); }

mf_status mf_nn_sequential_append(mf_module *seq, mf_module *child) {
    char name[24];
    snprintf(name, sizeof name, "%d", seq->n_children);
    return mf_module_add_child(seq, name, child, NULL);
}
