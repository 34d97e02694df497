/* Matrix products: matmul (torch semantics), bmm and linear, all lowered to
 * one differentiable batched product ("matmul" below) whose backward is two
 * more products with transposed views (no copies: BLAS takes the flags).
 * linear_gelu adds one node after that product: bias + GELU fused into a
 * single pass forward and a single pass backward (the bias gradient is
 * summed in the same pass). Kernels: core/backend/<dev>/linalg and
 * core/backend/cpu/gelu_epilogue.c, core/backend/cuda/gelu_epilogue*. */
#include <stdlib.h>

#include "core/backend/kern_linalg.h"
#include "core/ops/internal.h"
#include "medfm/amp.h"

/* Raw view of x with its last two dims swapped. */
static mf_status transpose_raw(const mf_tensor *x, mf_tensor **out) {
    int64_t sh[MF_MAX_DIMS], st[MF_MAX_DIMS];
    int n = x->ndim;
    for (int i = 0; i < n; i++)
        sh[i] = x->shape[i], st[i] = x->stride[i];
    sh[n - 2] = x->shape[n - 1], sh[n - 1] = x->shape[n - 2];
    st[n - 2] = x->stride[n - 1], st[n - 1] = x->stride[n - 2];
    return mf__view_raw(x, n, sh, st, x->offset, out);
}

/* a (..., M, K) @ b (..., K, N) with broadcast batch dims, no autograd. */
static mf_status matmul_raw(const char *op, const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    MF_TRY(mf__same_device(op, a, b));
    MF_TRY(mf__same_dtype(op, a, b));
    MF_TRY(mf__need_float(op, a));
    if (a->ndim < 2 || b->ndim < 2)
        return MF_ERR(MF_ERR_SHAPE, "%s: operands %s and %s need at least 2 dims", op, MF_SHAPE(a), MF_SHAPE(b));
    int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1], k2 = b->shape[b->ndim - 2],
            n = b->shape[b->ndim - 1];
    if (k != k2)
        return MF_ERR(MF_ERR_SHAPE, "%s: inner dims differ: %s @ %s (%lld vs %lld)", op, MF_SHAPE(a), MF_SHAPE(b),
                      (long long)k, (long long)k2);
    int nb;
    int64_t shape[MF_MAX_DIMS];
    MF_TRY(mf_broadcast_shape(op, a->ndim - 2, a->shape, b->ndim - 2, b->shape, &nb, shape));
    const mf_backend *be;
    MF_TRY(mf_backend_of(a, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const mf_tensor *, double);
    MF_KERNEL(fn, be, linalg, matmul, op);
    int64_t sa[MF_MAX_DIMS], sb[MF_MAX_DIMS];
    for (int i = 0; i < nb; i++)
        sa[i] = sb[i] = shape[i];
    sa[nb] = m, sa[nb + 1] = k;
    sb[nb] = k, sb[nb + 1] = n;
    shape[nb] = m, shape[nb + 1] = n;
    mf_tensor *y = NULL, *av = NULL, *bv = NULL;
    mf_status st;
    MF_CHECK(mf__new_like_shape(a, nb + 2, shape, a->dtype, &y));
    MF_CHECK(mf__expand_raw(a, nb + 2, sa, &av));
    MF_CHECK(mf__expand_raw(b, nb + 2, sb, &bv));
    MF_CHECK(fn(y, av, bv, 0.0));
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(y);
    mf_tensor_release(av);
    mf_tensor_release(bv);
    return st;
}

/* saved: a, b. ga = g @ b^T, gb = a^T @ g, each summed over broadcast batch dims. */
static mf_status matmul_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    mf_status st = MF_OK;
    mf_tensor *t = NULL, *p = NULL;
    if (n->in[0]) {
        MF_CHECK(transpose_raw(n->saved[1], &t));
        MF_CHECK(matmul_raw("matmul backward", g, t, &p));
        MF_CHECK(mf_sum_to_shape(p, n->in_ndim[0], n->in_shape[0], &gin[0]));
        mf_tensor_clear(&t);
        mf_tensor_clear(&p);
    }
    if (n->in[1]) {
        MF_CHECK(transpose_raw(n->saved[0], &t));
        MF_CHECK(matmul_raw("matmul backward", t, g, &p));
        MF_CHECK(mf_sum_to_shape(p, n->in_ndim[1], n->in_shape[1], &gin[1]));
    }
cleanup:
    mf_tensor_release(t);
    mf_tensor_release(p);
    return st;
}

/* The differentiable core: both operands have >= 2 dims. */
static mf_status matmul_nd(const char *op, const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    mf_tensor *y;
    MF_TRY(matmul_raw(op, a, b, &y));
    mf_tensor *ins[2] = {(mf_tensor *)a, (mf_tensor *)b};
    mf_node *n;
    mf_status st = mf_autograd_record(op, y, 2, ins, matmul_backward, &n);
    if (st == MF_OK && n) {
        st = mf_node_save(n, a);
        if (st == MF_OK)
            st = mf_node_save(n, b);
    }
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    *out = y;
    return MF_OK;
}

/* a (..., M, K) @ b (K, N): one GEMM over the folded rows of a when a has
 * batch dims, instead of a broadcast batch whose backward would
 * materialise one weight gradient per batch entry. */
static mf_status matmul_fold(const char *op, const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    if (a->ndim <= 2 || b->ndim != 2)
        return matmul_nd(op, a, b, out);
    if (a->shape[a->ndim - 1] != b->shape[0])
        return MF_ERR(MF_ERR_SHAPE, "%s: inner dims differ: %s @ %s", op, MF_SHAPE(a), MF_SHAPE(b));
    int64_t rows = 1;
    for (int i = 0; i < a->ndim - 1; i++)
        rows *= a->shape[i];
    int64_t shape[MF_MAX_DIMS];
    for (int i = 0; i < a->ndim - 1; i++)
        shape[i] = a->shape[i];
    shape[a->ndim - 1] = b->shape[1];
    mf_tensor *a2 = NULL, *y2 = NULL;
    mf_status st;
    MF_CHECK(mf_reshape(a, 2, (int64_t[]){rows, a->shape[a->ndim - 1]}, &a2));
    MF_CHECK(matmul_nd(op, a2, b, &y2));
    MF_CHECK(mf_reshape(y2, a->ndim, shape, out));
cleanup:
    mf_tensor_release(a2);
    mf_tensor_release(y2);
    return st;
}

static mf_status matmul_any(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    if (a->ndim < 1 || b->ndim < 1)
        return MF_ERR(MF_ERR_SHAPE, "matmul: operands %s and %s must have at least 1 dim", MF_SHAPE(a),
                      MF_SHAPE(b));
    if (a->shape[a->ndim - 1] != b->shape[b->ndim == 1 ? 0 : b->ndim - 2])
        return MF_ERR(MF_ERR_SHAPE, "matmul: inner dims differ: %s @ %s", MF_SHAPE(a), MF_SHAPE(b));
    if (a->ndim >= 2 && b->ndim >= 2)
        return matmul_fold("matmul", a, b, out);
    /* 1-D operands: promote to a matrix, multiply, drop the added dim */
    mf_tensor *a2 = NULL, *b2 = NULL, *y = NULL;
    mf_status st;
    if (a->ndim == 1)
        MF_CHECK(mf_unsqueeze(a, 0, &a2));
    else
        a2 = mf_tensor_retain((mf_tensor *)a);
    if (b->ndim == 1)
        MF_CHECK(mf_unsqueeze(b, 1, &b2));
    else
        b2 = mf_tensor_retain((mf_tensor *)b);
    MF_CHECK(matmul_fold("matmul", a2, b2, &y));
    int64_t shape[MF_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < y->ndim - 2; i++)
        shape[nd++] = y->shape[i];
    if (a->ndim != 1)
        shape[nd++] = y->shape[y->ndim - 2];
    if (b->ndim != 1)
        shape[nd++] = y->shape[y->ndim - 1];
    MF_CHECK(mf_reshape(y, nd, shape, out));
cleanup:
    mf_tensor_release(a2);
    mf_tensor_release(b2);
    mf_tensor_release(y);
    return st;
}

static mf_status bmm_op(const mf_tensor *a, const mf_tensor *b, bool trans_a, bool trans_b, mf_tensor **out) {
    MF_TRY(mf__need_rank("bmm", "a", a, 3));
    MF_TRY(mf__need_rank("bmm", "b", b, 3));
    int64_t ka = a->shape[trans_a ? 1 : 2], kb = b->shape[trans_b ? 2 : 1];
    if (a->shape[0] != b->shape[0] || ka != kb)
        return MF_ERR(MF_ERR_SHAPE, "bmm: %s%s and %s%s do not multiply (batch %lld vs %lld, inner %lld vs %lld)",
                      MF_SHAPE(a), trans_a ? "^T" : "", MF_SHAPE(b), trans_b ? "^T" : "",
                      (long long)a->shape[0], (long long)b->shape[0], (long long)ka, (long long)kb);
    mf_tensor *at = NULL, *bt = NULL;
    mf_status st;
    if (trans_a)
        MF_CHECK(mf_transpose(a, 1, 2, &at));
    if (trans_b)
        MF_CHECK(mf_transpose(b, 1, 2, &bt));
    MF_CHECK(matmul_nd("bmm", at ? at : a, bt ? bt : b, out));
cleanup:
    mf_tensor_release(at);
    mf_tensor_release(bt);
    return st;
}

/* x (..., in), w (out, in), bias (out) or NULL, bias like w; op names the
 * caller in the messages. */
static mf_status check_linear(const char *op, const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias) {
    MF_TRY(mf__need_rank(op, "weight", w, 2));
    if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return MF_ERR(MF_ERR_SHAPE, "%s: input %s does not match weight %s (in features %lld)", op, MF_SHAPE(x),
                      MF_SHAPE(w), (long long)w->shape[1]);
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))
        return MF_ERR(MF_ERR_SHAPE, "%s: bias %s does not match weight %s (want [%lld])", op, MF_SHAPE(bias),
                      MF_SHAPE(w), (long long)w->shape[0]);
    if (bias) {
        MF_TRY(mf__same_dtype(op, w, bias));
        MF_TRY(mf__same_device(op, w, bias));
    }
    return MF_OK;
}

static mf_status linear_op(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, mf_tensor **out) {
    MF_TRY(check_linear("linear", x, w, bias));
    mf_tensor *wt = NULL, *y = NULL;
    mf_status st;
    MF_CHECK(mf_transpose(w, 0, 1, &wt));
    if (!bias) {
        MF_CHECK(matmul_any(x, wt, out));
    } else {
        MF_CHECK(matmul_any(x, wt, &y));
        MF_CHECK(mf_add(y, bias, out));
    }
cleanup:
    mf_tensor_release(wt);
    mf_tensor_release(y);
    return st;
}

/* saved: pre (the GEMM output plus bias). in[0] the GEMM output, in[1] the
 * bias (absent without one). One kernel gives both gradients. */
static mf_status bias_gelu_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_tensor *pre = n->saved[0];
    const mf_backend *be;
    MF_TRY(mf_backend_of(pre, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, const mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, linalg, bias_gelu_backward, "linear_gelu backward");
    MF_TRY(mf__same_dtype("linear_gelu backward", pre, g));
    mf_tensor *gc = NULL, *gpre = NULL, *gb = NULL;
    mf_status st;
    MF_CHECK(mf__contiguous_raw(g, &gc));
    MF_CHECK(mf__new_like_shape(pre, pre->ndim, pre->shape, pre->dtype, &gpre));
    if (n->in[1])
        MF_CHECK(mf__new_like_shape(pre, 1, &pre->shape[pre->ndim - 1], pre->dtype, &gb));
    MF_CHECK(fn(gpre, gb, gc, pre));
    if (n->in[0]) {
        gin[0] = gpre;
        gpre = NULL;
    }
    gin[1] = gb;
    gb = NULL;
cleanup:
    mf_tensor_release(gc);
    mf_tensor_release(gpre);
    mf_tensor_release(gb);
    return st;
}

static mf_status linear_gelu_op(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, mf_tensor **out) {
    MF_TRY(check_linear("linear_gelu", x, w, bias));
    MF_TRY(mf__same_device("linear_gelu", x, w));
    MF_TRY(mf__same_dtype("linear_gelu", x, w));
    MF_TRY(mf__need_float("linear_gelu", x));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_tensor *wt = NULL, *h = NULL, *hc = NULL, *y = NULL, *bc = NULL;
    mf_status st;
    if (!be->linalg || !be->linalg->bias_gelu || !be->linalg->bias_gelu_backward) {
        /* a backend without the fused epilogue: the same values unfused */
        MF_CHECK(linear_op(x, w, bias, &h));
        MF_CHECK(mf_gelu(h, out));
        goto cleanup;
    }
    mf_status (*fn)(mf_tensor *, mf_tensor *, const mf_tensor *) = be->linalg->bias_gelu;
    MF_CHECK(mf_transpose(w, 0, 1, &wt));
    MF_CHECK(matmul_any(x, wt, &h));
    /* h is this op's own fresh GEMM output (already contiguous; the copy is
     * a guard): the kernel turns it into pre = h + bias in place, and the
     * node saves it, so the forward reads it once and keeps no extra copy. */
    MF_CHECK(mf_contiguous(h, &hc));
    if (bias)
        MF_CHECK(mf__contiguous_raw(bias, &bc));
    MF_CHECK(mf__new_like_shape(hc, hc->ndim, hc->shape, hc->dtype, &y));
    MF_CHECK(fn(y, hc, bc));
    mf_node *n;
    MF_CHECK(mf_autograd_record("linear_gelu", y, 2, (mf_tensor *[]){hc, (mf_tensor *)bias}, bias_gelu_backward, &n));
    if (n)
        MF_CHECK(mf_node_save(n, hc));
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(wt);
    mf_tensor_release(h);
    mf_tensor_release(hc);
    mf_tensor_release(bc);
    mf_tensor_release(y);
    return st;
}

/* Public entry points: the autocast policy (lower precision), then the op. */
mf_status mf_matmul(const mf_tensor *a, const mf_tensor *b, mf_tensor **out) {
    mf_tensor *c[2];
    MF_TRY(mf_autocast_args(MF_AMP_LOWP, 2, (const mf_tensor *const[]){a, b}, c));
    mf_status st = matmul_any(c[0], c[1], out);
    mf_autocast_release(2, c);
    return st;
}

mf_status mf_bmm(const mf_tensor *a, const mf_tensor *b, bool trans_a, bool trans_b, mf_tensor **out) {
    mf_tensor *c[2];
    MF_TRY(mf_autocast_args(MF_AMP_LOWP, 2, (const mf_tensor *const[]){a, b}, c));
    mf_status st = bmm_op(c[0], c[1], trans_a, trans_b, out);
    mf_autocast_release(2, c);
    return st;
}

mf_status mf_linear(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, mf_tensor **out) {
    mf_tensor *c[3];
    MF_TRY(mf_autocast_args(MF_AMP_LOWP, 3, (const mf_tensor *const[]){x, w, bias}, c));
    mf_status st = linear_op(c[0], c[1], c[2], out);
    mf_autocast_release(3, c);
    return st;
}

mf_status mf_linear_gelu(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, mf_tensor **out) {
    mf_tensor *c[3];
    MF_TRY(mf_autocast_args(MF_AMP_LOWP, 3, (const mf_tensor *const[]){x, w, bias}, c));
    mf_status st = linear_gelu_op(c[0], c[1], c[2], out);
    mf_autocast_release(3, c);
    return st;
}
