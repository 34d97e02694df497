/* Similarities and distances between embeddings, composed of elementwise
 * and sum ops so autograd and every backend come for free. Norms are taken
 * as sqrt(max(sum x^2, eps^2)), which equals max(||x||, eps) and keeps the
 * gradient finite (zero) for all-zero rows. */
#include <math.h>

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

/* cdist through the broadcast difference (..., N, M, D). The p = 2 root
 * is taken only where the squared distance is positive, so coincident
 * points (a == b on the diagonal of a self-distance) get distance 0 and a
 * zero gradient like torch.cdist, not NaN. */
mf_status mf_pairwise_distance(const mf_tensor *a, const mf_tensor *b, double p, mf_tensor **out) {
    const char *op = "pairwise_distance";
    MF_TRY(mf__need_float(op, a));
    MF_TRY(mf__same_dtype(op, a, b));
    MF_TRY(mf__same_device(op, a, b));
    if (p != 1.0 && p != 2.0)
        return MF_ERR(MF_ERR_INVALID, "%s: p must be 1 or 2, got %g", op, p);
    if (a->ndim < 2 || b->ndim < 2 || a->shape[a->ndim - 1] != b->shape[b->ndim - 1])
        return MF_ERR(MF_ERR_SHAPE, "%s: expects a (..., N, D) and b (..., M, D) with equal D, got %s and %s", op,
                      MF_SHAPE(a), MF_SHAPE(b));
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
