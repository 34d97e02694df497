/* Similarities and distances between embeddings, composed of elementwise
 * and sum ops so autograd and every backend come for free. Norms are taken
 * as sqrt(max(sum x^2, eps^2)), which equals max(||x||, eps) and keeps the
 * gradient finite (zero) for all-zero rows. */
#include <math.h>

#include "core/backend/kern_index.h"
#include "core/ops/distance_internal.h"
#include "core/ops/internal.h"

#define REL(t) mf_tensor_clear(&(t))

/* max(||x||_2, eps) along d, keepdim. */
static mf_status clamped_norm(const mf_tensor *x, int d, double eps, mf_tensor **out) {
    mf_tensor *sq = NULL, *s = NULL, *c = NULL;
    mf_status st;
    MF_CHECK(mf_square(x, &sq));
    MF_CHECK(mf_sum(sq, 1, &d, true, &s));
    MF_CHECK(mf_clamp(s, eps * eps, NAN, &c));
    MF_CHECK(mf_sqrt(c, out));
cleanup:
    REL(sq);
    REL(s);
    REL(c);
    return st;
}

mf_status mf_l2_normalize(const mf_tensor *x, int dim, double eps, mf_tensor **out) {
    int d;
    MF_TRY(mf_dim_normalize("l2_normalize", dim, x->ndim, &d));
    MF_TRY(mf__need_float("l2_normalize", x));
    if (!(eps >= 0))
        return MF_ERR(MF_ERR_INVALID, "l2_normalize: eps must be >= 0, got %g", eps);
    mf_tensor *n;
    MF_TRY(clamped_norm(x, d, eps, &n));
    mf_status st = mf_div(x, n, out);
    REL(n);
    return st;
}

/* torch >= 1.12 semantics: sum(a / max(||a||, eps) * b / max(||b||, eps)). */
mf_status mf_cosine_similarity(const mf_tensor *a, const mf_tensor *b, int dim, double eps, mf_tensor **out) {
    MF_TRY(mf__need_float("cosine_similarity", a));
    MF_TRY(mf__same_dtype("cosine_similarity", a, b));
    MF_TRY(mf__same_device("cosine_similarity", a, b));
    int n, d;
    int64_t sh[MF_MAX_DIMS];
    MF_TRY(mf_broadcast_shape("cosine_similarity", a->ndim, a->shape, b->ndim, b->shape, &n, sh));
    MF_TRY(mf_dim_normalize("cosine_similarity", dim, n, &d));
    if (!(eps >= 0))
        return MF_ERR(MF_ERR_INVALID, "cosine_similarity: eps must be >= 0, got %g", eps);
    mf_tensor *ae = NULL, *be = NULL, *an = NULL, *bn = NULL, *p = NULL;
    mf_status st;
    MF_CHECK(mf_expand(a, n, sh, &ae));
    MF_CHECK(mf_expand(b, n, sh, &be));
    MF_CHECK(mf_l2_normalize(ae, d, eps, &an));
    MF_CHECK(mf_l2_normalize(be, d, eps, &bn));
    MF_CHECK(mf_mul(an, bn, &p));
    MF_CHECK(mf_sum(p, 1, &d, false, out));
cleanup:
    REL(ae);
    REL(be);
    REL(an);
    REL(bn);
    REL(p);
    return st;
}

/* The arguments both cdist paths accept: float operands of one dtype and
 * device, p of 1 or 2, (..., N, D) and (..., M, D) with equal D. */
static mf_status check_cdist_args(const char *op, const mf_tensor *a, const mf_tensor *b, double p) {
    MF_TRY(mf__need_float(op, a));
    MF_TRY(mf__same_dtype(op, a, b));
    MF_TRY(mf__same_device(op, a, b));
    if (p != 1.0 && p != 2.0)
        return MF_ERR(MF_ERR_INVALID, "%s: p must be 1 or 2, got %g", op, p);
    if (a->ndim < 2 || b->ndim < 2 || a->shape[a->ndim - 1] != b->shape[b->ndim - 1])
        return MF_ERR(MF_ERR_SHAPE, "%s: expects a (..., N, D) and b (..., M, D) with equal D, got %s and %s", op,
                      MF_SHAPE(a), MF_SHAPE(b));
    return MF_OK;
}

/* Reference cdist composed of ops through the broadcast difference
 * (..., N, M, D): slow and memory-hungry, kept to test the direct kernel. The p = 2 root
 * is taken only where the squared distance is positive, so coincident
 * points (a == b on the diagonal of a self-distance) get distance 0 and a
 * zero gradient like torch.cdist, not NaN. */
mf_status mf__pairwise_distance_ref(const mf_tensor *a, const mf_tensor *b, double p, mf_tensor **out) {
    const char *op = "pairwise_distance";
    MF_TRY(check_cdist_args(op, a, b, p));
    if (a->ndim >= MF_MAX_DIMS || b->ndim >= MF_MAX_DIMS)
        return MF_ERR(MF_ERR_SHAPE, "%s: inputs %s and %s leave no room for the pair dim", op, MF_SHAPE(a),
                      MF_SHAPE(b));
    int last = -1;
    mf_tensor *au = NULL, *bu = NULL, *diff = NULL, *t = NULL, *s = NULL, *zero = NULL, *one = NULL, *pos = NULL,
              *safe = NULL, *root = NULL;
    mf_status st;
    MF_CHECK(mf_unsqueeze(a, -2, &au)); /* (..., N, 1, D) */
    MF_CHECK(mf_unsqueeze(b, -3, &bu)); /* (..., 1, M, D) */
    MF_CHECK(mf_sub(au, bu, &diff));
    if (p == 1.0) {
        MF_CHECK(mf_abs(diff, &t));
        MF_CHECK(mf_sum(t, 1, &last, false, out));
    } else {
        MF_CHECK(mf_square(diff, &t));
        MF_CHECK(mf_sum(t, 1, &last, false, &s));
        MF_CHECK(mf_tensor_zeros(0, NULL, s->dtype, s->storage->device, &zero));
        MF_CHECK(mf_tensor_full(0, NULL, s->dtype, s->storage->device, 1.0, &one));
        MF_CHECK(mf_gt(s, zero, &pos));
        MF_CHECK(mf_where(pos, s, one, &safe));
        MF_CHECK(mf_sqrt(safe, &root));
        MF_CHECK(mf_where(pos, root, zero, out));
    }
cleanup:
    REL(au);
    REL(bu);
    REL(diff);
    REL(t);
    REL(s);
    REL(zero);
    REL(one);
    REL(pos);
    REL(safe);
    REL(root);
    return st;
}

/* Direct cdist: the backend's kernel pairs rows without materialising the
 * (..., N, M, D) difference. saved: a, b, out; farg[0] = p. */
static mf_status expand_batch(const mf_tensor *x, int nb, const int64_t *bs, mf_tensor **out) {
    int64_t sh[MF_MAX_DIMS];
    for (int k = 0; k < nb; k++)
        sh[k] = bs[k];
    sh[nb] = x->shape[x->ndim - 2];
    sh[nb + 1] = x->shape[x->ndim - 1];
    return mf__expand_raw(x, nb + 2, sh, out);
}

static mf_status cdist_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_tensor *a = n->saved[0], *b = n->saved[1], *d = n->saved[2];
    int nb = g->ndim - 2;
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *,
                    const mf_tensor *, double);
    MF_KERNEL(fn, be, index, cdist_backward, "pairwise_distance backward");
    mf_tensor *ae = NULL, *bee = NULL, *ga = NULL, *gb = NULL;
    mf_status st;
    MF_CHECK(expand_batch(a, nb, g->shape, &ae));
    MF_CHECK(expand_batch(b, nb, g->shape, &bee));
    if (n->in[0])
        MF_CHECK(mf__new_like_shape(g, ae->ndim, ae->shape, g->dtype, &ga));
    if (n->in[1])
        MF_CHECK(mf__new_like_shape(g, bee->ndim, bee->shape, g->dtype, &gb));
    MF_CHECK(fn(ga, gb, g, ae, bee, d, n->farg[0]));
    if (ga)
        MF_CHECK(mf_sum_to_shape(ga, n->in_ndim[0], n->in_shape[0], &gin[0]));
    if (gb)
        MF_CHECK(mf_sum_to_shape(gb, n->in_ndim[1], n->in_shape[1], &gin[1]));
cleanup:
    REL(ae);
    REL(bee);
    REL(ga);
    REL(gb);
    return st;
}

mf_status mf_pairwise_distance(const mf_tensor *a, const mf_tensor *b, double p, mf_tensor **out) {
    const char *op = "pairwise_distance";
    MF_TRY(check_cdist_args(op, a, b, p));
    int nb;
    int64_t bs[MF_MAX_DIMS];
    if (mf_broadcast_shape(op, a->ndim - 2, a->shape, b->ndim - 2, b->shape, &nb, bs) != MF_OK)
        return MF_ERR(MF_ERR_SHAPE, "%s: batch dims of %s and %s cannot be broadcast together", op, MF_SHAPE(a),
                      MF_SHAPE(b));
    const mf_backend *be;
    MF_TRY(mf_backend_of(a, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const mf_tensor *, double);
    MF_KERNEL(fn, be, index, cdist, op);
    int64_t sh[MF_MAX_DIMS];
    for (int k = 0; k < nb; k++)
        sh[k] = bs[k];
    sh[nb] = a->shape[a->ndim - 2];
    sh[nb + 1] = b->shape[b->ndim - 2];
    mf_tensor *ae = NULL, *bee = NULL, *y = NULL;
    mf_status st;
    MF_CHECK(expand_batch(a, nb, bs, &ae));
    MF_CHECK(expand_batch(b, nb, bs, &bee));
    MF_CHECK(mf__new_like_shape(a, nb + 2, sh, a->dtype, &y));
    MF_CHECK(fn(y, ae, bee, p));
    mf_tensor *ins[2] = {(mf_tensor *)a, (mf_tensor *)b};
    mf_node *node;
    MF_CHECK(mf_autograd_record(op, y, 2, ins, cdist_backward, &node));
    if (node) {
        node->farg[0] = p;
        MF_CHECK(mf_node_save(node, a));
        MF_CHECK(mf_node_save(node, b));
        MF_CHECK(mf_node_save(node, y));
    }
    *out = y;
    y = NULL;
cleanup:
    REL(ae);
    REL(bee);
    REL(y);
    return st;
}
