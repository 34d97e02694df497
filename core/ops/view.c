/* Shape ops: views over the input's storage where strides allow, with the
 * backward of each (reshape back, inverse permute, scatter into zeros,
 * sum over broadcast dims). */
#include <stdlib.h>
#include <string.h>

#include "core/ops/internal.h"

/* Strides for viewing x as `shape` without a copy, if possible (the
 * classic algorithm: each run of input dims that is contiguous in memory
 * may be re-split freely). */
static bool view_strides(const mf_tensor *x, int ndim, const int64_t *shape, int64_t *stride) {
    int64_t numel = mf_tensor_numel(x);
    if (numel == 0 || x->ndim == 0) {
        int64_t s = 1;
        for (int i = ndim - 1; i >= 0; i--) {
            stride[i] = s;
            s *= shape[i] > 0 ? shape[i] : 1;
        }
        return true;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = x->stride[x->ndim - 1];
    int64_t tensor_numel = 1, view_numel = 1;
    for (int td = x->ndim - 1; td >= 0; td--) {
        tensor_numel *= x->shape[td];
        if (td == 0 || (x->shape[td - 1] != 1 && x->stride[td - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel)
                return false;
            if (td > 0) {
                chunk_base_stride = x->stride[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

static mf_status infer_shape(const char *op, const mf_tensor *x, int ndim, const int64_t *shape, int64_t *out) {
    if (ndim < 0 || ndim > MF_MAX_DIMS)
        return MF_ERR(MF_ERR_SHAPE, "%s: rank %d is outside 0..%d", op, ndim, MF_MAX_DIMS);
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (infer >= 0)
                return MF_ERR(MF_ERR_SHAPE, "%s: more than one -1 in %s", op, mf_shape_str(ndim, shape));
            infer = i;
        } else if (shape[i] < 0) {
            return MF_ERR(MF_ERR_SHAPE, "%s: negative size in %s", op, mf_shape_str(ndim, shape));
        } else {
            known *= shape[i];
        }
        out[i] = shape[i];
    }
    int64_t numel = mf_tensor_numel(x);
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            return MF_ERR(MF_ERR_SHAPE, "%s: cannot reshape %s into %s", op, MF_SHAPE(x), mf_shape_str(ndim, shape));
        out[infer] = numel / known;
    } else if (known != numel) {
        return MF_ERR(MF_ERR_SHAPE, "%s: cannot reshape %s (%lld elements) into %s", op, MF_SHAPE(x),
                      (long long)numel, mf_shape_str(ndim, shape));
    }
    return MF_OK;
}

/* Backward of every op whose gradient is the output gradient reshaped. */
static mf_status reshape_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    return mf_reshape(g, n->in_ndim[0], n->in_shape[0], &gin[0]);
}

/* Finishes a view op: records `bw` on the new view. */
static mf_status finish(const char *op, const mf_tensor *x, mf_tensor *v, mf_backward_fn bw, mf_node **node,
                        mf_tensor **out) {
    mf_node *n;
    mf_status st = mf_autograd_record(op, v, 1, (mf_tensor *const *)&x, bw, &n);
    if (st != MF_OK) {
        mf_tensor_release(v);
        return st;
    }
    if (node)
        *node = n;
    *out = v;
    return MF_OK;
}

static mf_status reshape_impl(const char *op, const mf_tensor *x, int ndim, const int64_t *shape, bool allow_copy,
                              mf_tensor **out) {
    int64_t sh[MF_MAX_DIMS], st[MF_MAX_DIMS];
    MF_TRY(infer_shape(op, x, ndim, shape, sh));
    mf_tensor *v;
    if (view_strides(x, ndim, sh, st)) {
        MF_TRY(mf__view_raw(x, ndim, sh, st, x->offset, &v));
    } else {
        if (!allow_copy)
            return MF_ERR(MF_ERR_SHAPE,
                          "view: tensor of shape %s with non-contiguous strides cannot be viewed as %s; use reshape",
                          MF_SHAPE(x), mf_shape_str(ndim, sh));
        mf_tensor *c;
        MF_TRY(mf__contiguous_raw(x, &c));
        view_strides(c, ndim, sh, st);
        mf_status s = mf__view_raw(c, ndim, sh, st, c->offset, &v);
        mf_tensor_release(c);
        MF_TRY(s);
    }
    return finish(op, x, v, reshape_backward, NULL, out);
}

mf_status mf_reshape(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out) {
    return reshape_impl("reshape", x, ndim, shape, true, out);
}

mf_status mf_view(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out) {
    return reshape_impl("view", x, ndim, shape, false, out);
}

mf_status mf_flatten(const mf_tensor *x, int start_dim, int end_dim, mf_tensor **out) {
    if (x->ndim == 0)
        return mf_reshape(x, 1, (int64_t[]){1}, out);
    int s, e;
    MF_TRY(mf_dim_normalize("flatten", start_dim, x->ndim, &s));
    MF_TRY(mf_dim_normalize("flatten", end_dim, x->ndim, &e));
    if (s > e)
        return MF_ERR(MF_ERR_SHAPE, "flatten: start dim %d comes after end dim %d", start_dim, end_dim);
    int64_t sh[MF_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < s; i++)
        sh[n++] = x->shape[i];
    int64_t p = 1;
    for (int i = s; i <= e; i++)
        p *= x->shape[i];
    sh[n++] = p;
    for (int i = e + 1; i < x->ndim; i++)
        sh[n++] = x->shape[i];
    return mf_reshape(x, n, sh, out);
}

static mf_status permute_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    int inv[MF_MAX_DIMS];
    for (int i = 0; i < g->ndim; i++)
        inv[n->iarg[i]] = i;
    return mf_permute(g, inv, &gin[0]);
}

mf_status mf_permute(const mf_tensor *x, const int *perm, mf_tensor **out) {
    int64_t sh[MF_MAX_DIMS], st[MF_MAX_DIMS];
    bool seen[MF_MAX_DIMS] = {0};
    for (int i = 0; i < x->ndim; i++) {
        int d = perm[i] < 0 ? perm[i] + x->ndim : perm[i];
        if (d < 0 || d >= x->ndim || seen[d])
            return MF_ERR(MF_ERR_SHAPE, "permute: entry %d (%d) is not a valid, unique dim of a rank-%d tensor", i,
                          perm[i], x->ndim);
        seen[d] = true;
        sh[i] = x->shape[d];
        st[i] = x->stride[d];
    }
    mf_tensor *v;
    MF_TRY(mf__view_raw(x, x->ndim, sh, st, x->offset, &v));
    mf_node *n = NULL;
    MF_TRY(finish("permute", x, v, permute_backward, &n, out));
    if (n)
        for (int i = 0; i < x->ndim; i++)
            n->iarg[i] = perm[i] < 0 ? perm[i] + x->ndim : perm[i];
    return MF_OK;
}

mf_status mf_transpose(const mf_tensor *x, int d0, int d1, mf_tensor **out) {
    int a, b;
    MF_TRY(mf_dim_normalize("transpose", d0, x->ndim, &a));
    MF_TRY(mf_dim_normalize("transpose", d1, x->ndim, &b));
    int perm[MF_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return mf_permute(x, perm, out);
}

/* iarg: dim, start, step */
static mf_status slice_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    mf_tensor *z, *v;
    MF_TRY(mf_tensor_zeros(n->in_ndim[0], n->in_shape[0], g->dtype, g->storage->device, &z));
    int d = (int)n->iarg[0];
    int64_t st[MF_MAX_DIMS];
    for (int i = 0; i < z->ndim; i++)
        st[i] = z->stride[i];
    int64_t off = n->iarg[1] * st[d];
    st[d] *= n->iarg[2];
    mf_status s = mf__view_raw(z, g->ndim, g->shape, st, off, &v);
    if (s == MF_OK) {
        s = mf_tensor_copy_(v, g);
        mf_tensor_release(v);
    }
    if (s != MF_OK) {
        mf_tensor_release(z);
        return s;
    }
    gin[0] = z;
    return MF_OK;
}

mf_status mf_slice(const mf_tensor *x, int dim, int64_t start, int64_t end, int64_t step, mf_tensor **out) {
    int d;
    MF_TRY(mf_dim_normalize("slice", dim, x->ndim, &d));
    if (step < 1)
        return MF_ERR(MF_ERR_INVALID, "slice: step must be >= 1, got %lld", (long long)step);
    int64_t n = x->shape[d];
    if (start < 0)
        start += n;
    if (end < 0)
        end += n;
    if (start < 0)
        start = 0;
    if (start > n)
        start = n;
    if (end > n)
        end = n;
    if (end < start)
        end = start;
    int64_t sh[MF_MAX_DIMS], st[MF_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    memcpy(st, x->stride, sizeof st);
    sh[d] = (end - start + step - 1) / step;
    st[d] = x->stride[d] * step;
    mf_tensor *v;
    MF_TRY(mf__view_raw(x, x->ndim, sh, st, x->offset + start * x->stride[d], &v));
    mf_node *node = NULL;
    MF_TRY(finish("slice", x, v, slice_backward, &node, out));
    if (node) {
        node->iarg[0] = d;
        node->iarg[1] = start;
        node->iarg[2] = step;
    }
    return MF_OK;
}

static mf_status expand_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    return mf_sum_to_shape(g, n->in_ndim[0], n->in_shape[0], &gin[0]);
}

mf_status mf_expand(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out) {
    int64_t sh[MF_MAX_DIMS];
    if (ndim > MF_MAX_DIMS || ndim < x->ndim)
        return MF_ERR(MF_ERR_SHAPE, "expand: cannot expand %s to %s", MF_SHAPE(x), mf_shape_str(ndim, shape));
    for (int i = 0; i < ndim; i++) {
        int xi = i - (ndim - x->ndim);
        sh[i] = shape[i] == -1 && xi >= 0 ? x->shape[xi] : shape[i];
    }
    mf_tensor *v;
    MF_TRY(mf__expand_raw(x, ndim, sh, &v));
    return finish("expand", x, v, expand_backward, NULL, out);
}

mf_status mf_squeeze(const mf_tensor *x, int dim, mf_tensor **out) {
    int d;
    MF_TRY(mf_dim_normalize("squeeze", dim, x->ndim, &d));
    if (x->shape[d] != 1)
        return MF_ERR(MF_ERR_SHAPE, "squeeze: dim %d of shape %s is not 1", dim, MF_SHAPE(x));
    int64_t sh[MF_MAX_DIMS], st[MF_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d) {
            sh[n] = x->shape[i];
            st[n++] = x->stride[i];
        }
    mf_tensor *v;
    MF_TRY(mf__view_raw(x, n, sh, st, x->offset, &v));
    return finish("squeeze", x, v, reshape_backward, NULL, out);
}

mf_status mf_unsqueeze(const mf_tensor *x, int dim, mf_tensor **out) {
    int d = dim < 0 ? dim + x->ndim + 1 : dim;
    if (d < 0 || d > x->ndim || x->ndim >= MF_MAX_DIMS)
        return MF_ERR(MF_ERR_SHAPE, "unsqueeze: dim %d is out of range for shape %s", dim, MF_SHAPE(x));
    int64_t sh[MF_MAX_DIMS], st[MF_MAX_DIMS];
    int n = 0;
    for (int i = 0; i <= x->ndim; i++) {
        if (i == d) {
            sh[n] = 1;
            st[n++] = i < x->ndim ? x->stride[i] * x->shape[i] : 1;
        }
        if (i < x->ndim) {
            sh[n] = x->shape[i];
            st[n++] = x->stride[i];
        }
    }
    mf_tensor *v;
    MF_TRY(mf__view_raw(x, n, sh, st, x->offset, &v));
    return finish("unsqueeze", x, v, reshape_backward, NULL, out);
}

static mf_status identity_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    (void)n;
    gin[0] = mf_tensor_retain((mf_tensor *)g);
    return MF_OK;
}

mf_status mf_clone(const mf_tensor *x, mf_tensor **out) {
    mf_tensor *c;
    MF_TRY(mf_tensor_empty_like(x, &c));
    mf_status st = mf_tensor_copy_(c, x);
    if (st != MF_OK) {
        mf_tensor_release(c);
        return st;
    }
    return finish("clone", x, c, identity_backward, NULL, out);
}

mf_status mf_contiguous(const mf_tensor *x, mf_tensor **out) {
    if (mf_tensor_is_contiguous(x)) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    return mf_clone(x, out);
}

mf_status mf_contiguous_channels_last(const mf_tensor *x, mf_tensor **out) {
    if (x->ndim != 4 && x->ndim != 5)
        return MF_ERR(MF_ERR_SHAPE, "contiguous_channels_last: input %s must be (N, C, H, W) or (N, C, D, H, W)",
                      MF_SHAPE(x));
    if (mf_tensor_is_channels_last(x)) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    mf_tensor *c;
    MF_TRY(mf__channels_last_raw(x, &c));
    return finish("contiguous_channels_last", x, c, identity_backward, NULL, out);
}

static mf_status to_device_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    mf_device d = {(int32_t)n->iarg[0], (int32_t)n->iarg[1]};
    return mf_to_device(g, d, &gin[0]);
}

mf_status mf_to_device(const mf_tensor *x, mf_device dev, mf_tensor **out) {
    if (mf_device_equal(x->storage->device, dev)) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    mf_tensor *src, *y;
    MF_TRY(mf__contiguous_raw(x, &src));
    mf_status st = mf_tensor_empty(x->ndim, x->shape, x->dtype, dev, &y);
    if (st == MF_OK) {
        st = mf_tensor_copy_(y, src);
        if (st != MF_OK)
            mf_tensor_release(y);
    }
    mf_tensor_release(src);
    MF_TRY(st);
    mf_node *n = NULL;
    MF_TRY(finish("to_device", x, y, to_device_backward, &n, out));
    if (n) {
        n->iarg[0] = x->storage->device.type;
        n->iarg[1] = x->storage->device.index;
    }
    return MF_OK;
}
