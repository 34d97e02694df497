/* The message passing network g of eq. (1): a graph convolutional network
 * shared by both views, H_l = act(P H_(l-1) W_l) with P the normalised
 * propagation matrix from graph.c. Built from Linear modules so its
 * parameters save and load like any other ("gcn.layers.0.weight"). */
#include <stdio.h>

#include "lvmmed.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/linalg.h"

static const mf_module_vtable gcn_vt = {"GCN", NULL, NULL};
static const mf_module_vtable list_vt = {"ModuleList", NULL, NULL};

mf_status lvm_gcn_new(int64_t in_features, int n_layers, int64_t width, mf_rng *rng, mf_module **out) {
    *out = NULL;
    if (n_layers < 1 || width < 1)
        return MF_ERR(MF_ERR_CONFIG, "lvmmed gcn: need at least one layer of width >= 1, got %d x %lld", n_layers,
                      (long long)width);
    mf_module *gcn = NULL, *list = NULL;
    mf_status st;
    MF_CHECK(mf_module_alloc(sizeof(mf_module), &gcn_vt, &gcn));
    MF_CHECK(mf_module_alloc(sizeof(mf_module), &list_vt, &list));
    MF_CHECK(mf_module_add_child(gcn, "layers", list, NULL));
    list = NULL;
    mf_module *layers = gcn->children[0].item;
    for (int l = 0; l < n_layers; l++) {
        mf_module *lin;
        char name[16];
        snprintf(name, sizeof name, "%d", l);
        MF_CHECK(mf_nn_linear_new(l ? width : in_features, width, true, rng, &lin));
        st = mf_module_add_child(layers, name, lin, NULL);
        if (st != MF_OK) {
            mf_module_free(lin);
            goto cleanup;
        }
    }
    *out = gcn;
    return MF_OK;
cleanup:
    mf_module_free(list);
    mf_module_free(gcn);
    return st;
}

mf_status lvm_gcn_layer(const mf_tensor *prop, const mf_tensor *h, const mf_tensor *w, const mf_tensor *b, bool act,
                        mf_tensor **out) {
    *out = NULL;
    mf_tensor *msg = NULL, *lin = NULL;
    mf_status st;
    /* aggregate neighbours first, then transform: P (H W) = (P H) W */
    MF_CHECK(mf_bmm(prop, h, false, false, &msg));
    MF_CHECK(mf_linear(msg, w, b, &lin));
    if (act) {
        MF_CHECK(mf_relu(lin, out));
    } else {
        *out = lin;
        lin = NULL;
    }
cleanup:
    mf_tensor_release(msg);
    mf_tensor_release(lin);
    return st;
}

mf_status lvm_gcn_forward(mf_module *gcn, const mf_tensor *x, const mf_tensor *prop, mf_tensor **out) {
    *out = NULL;
    mf_module *layers = gcn->children[0].item;
    mf_tensor *h = mf_tensor_retain((mf_tensor *)x);
    for (int l = 0; l < layers->n_children; l++) {
        mf_module *lin = layers->children[l].item;
        mf_tensor *w = NULL, *b = NULL, *next;
        mf_status st = mf_module_find(lin, "weight", &w);
        if (st == MF_OK)
            st = mf_module_find(lin, "bias", &b);
        if (st == MF_OK)
            st = lvm_gcn_layer(prop, h, w, b, l + 1 < layers->n_children, &next);
        mf_tensor_release(h);
        if (st != MF_OK)
            return st;
        h = next;
    }
    *out = h;
    return MF_OK;
}
