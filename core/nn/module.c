/* The module base: named parameters, buffers and children, train/eval
 * propagation, lookups by dotted name, and the named lists optimisers and
 * the state-dict code iterate over. Concrete layers live beside this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/internal.h"
#include "medfm/nn.h"
#include "medfm/ops/view.h"

mf_status mf_module_alloc(size_t size, const mf_module_vtable *vt, mf_module **out) {
    *out = NULL;
    if (size < sizeof(mf_module) || !vt)
        return MF_ERR(MF_ERR_INVALID, "module: size %zu or vtable invalid", size);
    mf_module *m = calloc(1, size);
    if (!m)
        return MF_ERR(MF_ERR_NOMEM, "module %s: out of memory", vt->type_name);
    m->vt = vt;
    m->training = true;
    *out = m;
    return MF_OK;
}

const char *mf_module_type(const mf_module *m) { return m && m->vt && m->vt->type_name ? m->vt->type_name : "?"; }

static int find_entry(const mf_module_entry *e, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(e[i].name) == len && memcmp(e[i].name, name, len) == 0)
            return i;
    return -1;
}

static bool name_taken(const mf_module *m, const char *name) {
    size_t len = strlen(name);
    return find_entry(m->params, m->n_params, name, len) >= 0 || find_entry(m->buffers, m->n_buffers, name, len) >= 0 ||
           find_entry(m->children, m->n_children, name, len) >= 0;
}

static mf_status push_entry(mf_module *m, mf_module_entry **arr, int *n, int *cap, const char *name, void *item,
                            int *slot) {
    if (!name || !*name || strchr(name, '.'))
        return MF_ERR(MF_ERR_INVALID, "module %s: invalid member name '%s' (empty or dotted)", mf_module_type(m),
                      name ? name : "(null)");
    if (name_taken(m, name))
        return MF_ERR(MF_ERR_INVALID, "module %s: member name '%s' already registered", mf_module_type(m), name);
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        mf_module_entry *na = realloc(*arr, (size_t)nc * sizeof *na);
        if (!na)
            return MF_ERR(MF_ERR_NOMEM, "module %s: out of memory", mf_module_type(m));
        *arr = na;
        *cap = nc;
    }
    char *copy = strdup(name);
    if (!copy)
        return MF_ERR(MF_ERR_NOMEM, "module %s: out of memory", mf_module_type(m));
    (*arr)[*n] = (mf_module_entry){copy, item};
    if (slot)
        *slot = *n;
    (*n)++;
    return MF_OK;
}

mf_status mf_module_add_param(mf_module *m, const char *name, mf_tensor *t, int *slot) {
    if (slot)
        *slot = -1;
    mf_status st = MF_OK;
    if (!t) {
        st = MF_ERR(MF_ERR_INVALID, "module %s: parameter '%s' is NULL", mf_module_type(m), name);
    } else if (t->grad_fn) {
        st = MF_ERR(MF_ERR_INVALID, "module %s: parameter '%s' is not a leaf tensor", mf_module_type(m), name);
    } else if (!mf_dtype_is_float(t->dtype)) {
        st = MF_ERR(MF_ERR_DTYPE, "module %s: parameter '%s' has dtype %s, need a float dtype", mf_module_type(m), name,
                    mf_dtype_name(t->dtype));
    }
    if (st == MF_OK)
        st = mf_tensor_set_requires_grad(t, true);
    if (st == MF_OK)
        st = push_entry(m, &m->params, &m->n_params, &m->cap_params, name, t, slot);
    if (st != MF_OK)
        mf_tensor_release(t);
    return st;
}

mf_status mf_module_add_buffer(mf_module *m, const char *name, mf_tensor *t, int *slot) {
    if (slot)
        *slot = -1;
    mf_status st = t ? push_entry(m, &m->buffers, &m->n_buffers, &m->cap_buffers, name, t, slot)
                     : MF_ERR(MF_ERR_INVALID, "module %s: buffer '%s' is NULL", mf_module_type(m), name);
    if (st != MF_OK)
        mf_tensor_release(t);
    return st;
}

mf_status mf__module_add_child_keep(mf_module *m, const char *name, mf_module *child, int *slot) {
    if (slot)
        *slot = -1;
    return child ? push_entry(m, &m->children, &m->n_children, &m->cap_children, name, child, slot)
                 : MF_ERR(MF_ERR_INVALID, "module %s: child '%s' is NULL", mf_module_type(m), name);
}

mf_status mf_module_add_child(mf_module *m, const char *name, mf_module *child, int *slot) {
    mf_status st = mf__module_add_child_keep(m, name, child, slot);
    if (st != MF_OK)
        mf_module_free(child);
    return st;
}

void mf_module_free(mf_module *m) {
    if (!m)
        return;
    if (m->vt && m->vt->destroy)
        m->vt->destroy(m);
    for (int i = 0; i < m->n_children; i++) {
        mf_module_free(m->children[i].item);
        free(m->children[i].name);
    }
    for (int i = 0; i < m->n_params; i++) {
        mf_tensor_release(m->params[i].item);
        free(m->params[i].name);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        mf_tensor_release(m->buffers[i].item);
        free(m->buffers[i].name);
    }
    free(m->children);
    free(m->params);
    free(m->buffers);
    free(m);
}

mf_status mf_module_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    *out = NULL;
    if (!m)
        return MF_ERR(MF_ERR_INVALID, "module forward: module is NULL");
    if (!m->vt->forward)
        return MF_ERR(MF_ERR_UNSUPPORTED, "module %s: has no single-input forward", mf_module_type(m));
    if (!x)
        return MF_ERR(MF_ERR_INVALID, "module %s: input is NULL", mf_module_type(m));
    return m->vt->forward(m, x, out);
}

void mf_module_train(mf_module *m, bool training) {
    if (!m)
        return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++)
        mf_module_train(m->children[i].item, training);
}

void mf_module_zero_grad(mf_module *m) {
    if (!m)
        return;
    for (int i = 0; i < m->n_params; i++)
        mf_tensor_zero_grad(m->params[i].item);
    for (int i = 0; i < m->n_children; i++)
        mf_module_zero_grad(m->children[i].item);
}

mf_tensor *mf_module_param(const mf_module *m, int slot) {
    return m && slot >= 0 && slot < m->n_params ? m->params[slot].item : NULL;
}
mf_tensor *mf_module_buffer(const mf_module *m, int slot) {
    return m && slot >= 0 && slot < m->n_buffers ? m->buffers[slot].item : NULL;
}
mf_module *mf_module_child(const mf_module *m, int slot) {
    return m && slot >= 0 && slot < m->n_children ? m->children[slot].item : NULL;
}

/* Walks the dotted prefix of `path` through children; returns the module
 * holding the last component and points *last at it. */
static mf_status walk(const mf_module *m, const char *path, bool last_is_child, const mf_module **owner,
                      const char **last) {
    const char *p = path;
    const mf_module *cur = m;
    for (;;) {
        const char *dot = strchr(p, '.');
        if (!dot && !last_is_child)
            break;
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        int i = find_entry(cur->children, cur->n_children, p, len);
        if (i < 0)
            return MF_ERR(MF_ERR_NOT_FOUND, "module %s: no child '%.*s' in '%s'", mf_module_type(cur), (int)len, p,
                          path);
        cur = cur->children[i].item;
        if (!dot) {
            p += len;
            break;
        }
        p = dot + 1;
    }
    *owner = cur;
    *last = p;
    return MF_OK;
}

mf_status mf_module_find_child(const mf_module *m, const char *path, mf_module **out) {
    *out = NULL;
    const mf_module *owner;
    const char *last;
    MF_TRY(walk(m, path, true, &owner, &last));
    *out = (mf_module *)owner;
    return MF_OK;
}

mf_status mf_module_find(const mf_module *m, const char *name, mf_tensor **out) {
    *out = NULL;
    const mf_module *owner;
    const char *last;
    MF_TRY(walk(m, name, false, &owner, &last));
    size_t len = strlen(last);
    int i = find_entry(owner->params, owner->n_params, last, len);
    if (i >= 0) {
        *out = owner->params[i].item;
        return MF_OK;
    }
    i = find_entry(owner->buffers, owner->n_buffers, last, len);
    if (i >= 0) {
        *out = owner->buffers[i].item;
        return MF_OK;
    }
    return MF_ERR(MF_ERR_NOT_FOUND, "module %s: no parameter or buffer '%s'", mf_module_type(m), name);
}

static mf_status move_leaf(mf_tensor **slot, mf_device dev, bool param) {
    mf_tensor *t = *slot;
    if (mf_device_equal(t->storage->device, dev))
        return MF_OK;
    mf_tensor *moved = NULL;
    MF_TRY(mf_tensor_empty(t->ndim, t->shape, t->dtype, dev, &moved));
    mf_status st = mf_tensor_copy_(moved, t);
    if (st == MF_OK && param)
        st = mf_tensor_set_requires_grad(moved, true);
    if (st != MF_OK) {
        mf_tensor_release(moved);
        return st;
    }
    mf_tensor_release(t);
    *slot = moved;
    return MF_OK;
}

mf_status mf_module_to_device(mf_module *m, mf_device dev) {
    for (int i = 0; i < m->n_params; i++)
        MF_TRY(move_leaf((mf_tensor **)&m->params[i].item, dev, true));
    for (int i = 0; i < m->n_buffers; i++)
        MF_TRY(move_leaf((mf_tensor **)&m->buffers[i].item, dev, false));
    for (int i = 0; i < m->n_children; i++)
        MF_TRY(mf_module_to_device(m->children[i].item, dev));
    return MF_OK;
}

/* ---- named lists ---- */

typedef struct {
    mf_named_tensors *l;
    int cap;
} list_builder;

static mf_status list_push(list_builder *b, const char *prefix, const char *name, mf_tensor *t) {
    mf_named_tensors *l = b->l;
    if (l->n == b->cap) {
        int nc = b->cap ? b->cap * 2 : 16;
        mf_named_tensor *ni = realloc(l->items, (size_t)nc * sizeof *ni);
        if (!ni)
            return MF_ERR(MF_ERR_NOMEM, "module: out of memory listing tensors");
        l->items = ni;
        b->cap = nc;
    }
    size_t len = strlen(prefix) + strlen(name) + 1;
    char *full = malloc(len);
    if (!full)
        return MF_ERR(MF_ERR_NOMEM, "module: out of memory listing tensors");
    snprintf(full, len, "%s%s", prefix, name);
    l->items[l->n++] = (mf_named_tensor){full, t};
    return MF_OK;
}

enum { WANT_PARAMS = 1, WANT_BUFFERS = 2 };

/* Own parameters, own buffers, then each child: torch's traversal order for
 * named_parameters, named_buffers and state_dict alike. */
static mf_status collect(const mf_module *m, const char *prefix, int want, list_builder *b) {
    if (want & WANT_PARAMS)
        for (int i = 0; i < m->n_params; i++)
            MF_TRY(list_push(b, prefix, m->params[i].name, m->params[i].item));
    if (want & WANT_BUFFERS)
        for (int i = 0; i < m->n_buffers; i++)
            MF_TRY(list_push(b, prefix, m->buffers[i].name, m->buffers[i].item));
    for (int i = 0; i < m->n_children; i++) {
        size_t len = strlen(prefix) + strlen(m->children[i].name) + 2;
        char *sub = malloc(len);
        if (!sub)
            return MF_ERR(MF_ERR_NOMEM, "module: out of memory listing tensors");
        snprintf(sub, len, "%s%s.", prefix, m->children[i].name);
        mf_status st = collect(m->children[i].item, sub, want, b);
        free(sub);
        MF_TRY(st);
    }
    return MF_OK;
}

static mf_status list_of(const mf_module *m, int want, mf_named_tensors *out) {
    out->n = 0;
    out->items = NULL;
    if (!m)
        return MF_ERR(MF_ERR_INVALID, "module: NULL module");
    list_builder b = {out, 0};
    mf_status st = collect(m, "", want, &b);
    if (st != MF_OK)
        mf_named_tensors_free(out);
    return st;
}

mf_status mf_module_named_parameters(const mf_module *m, mf_named_tensors *out) {
    return list_of(m, WANT_PARAMS, out);
}
mf_status mf_module_named_buffers(const mf_module *m, mf_named_tensors *out) {
    return list_of(m, WANT_BUFFERS, out);
}
mf_status mf_module_state(const mf_module *m, mf_named_tensors *out) {
    return list_of(m, WANT_PARAMS | WANT_BUFFERS, out);
}

void mf_named_tensors_free(mf_named_tensors *list) {
    if (!list)
        return;
    for (int i = 0; i < list->n; i++)
        free((char *)list->items[i].name);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

mf_status mf_module_parameter_array(const mf_module *m, mf_tensor ***out, int *n) {
    *out = NULL;
    *n = 0;
    mf_named_tensors l;
    MF_TRY(mf_module_named_parameters(m, &l));
    mf_tensor **arr = malloc((size_t)(l.n ? l.n : 1) * sizeof *arr);
    if (!arr) {
        mf_named_tensors_free(&l);
        return MF_ERR(MF_ERR_NOMEM, "module %s: out of memory listing parameters", mf_module_type(m));
    }
    for (int i = 0; i < l.n; i++)
        arr[i] = l.items[i].tensor;
    *out = arr;
    *n = l.n;
    mf_named_tensors_free(&l);
    return MF_OK;
}

int64_t mf_module_num_params(const mf_module *m) {
    if (!m)
        return 0;
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        n += mf_tensor_numel(m->params[i].item);
    for (int i = 0; i < m->n_children; i++)
        n += mf_module_num_params(m->children[i].item);
    return n;
}
