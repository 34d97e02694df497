/* The local affinity of eq. (2) / appendix A's local_cost: for a pair of
 * nodes (i of view s, a of view t), how well the feature-map cells of y^s_i
 * find a partner in y^t_a, once by position (the cell nearest in the source
 * image) and once by feature (the nearest feature vector, L2). Only the
 * gamma best-matching cells count (select_top). The partner choices are
 * discrete (argmin, no gradient); the cosines of the chosen pairs carry it. */
#include "lvmmed.h"
#include "medfm/autograd.h"
#include "medfm/ops/distance.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/index.h"
#include "medfm/ops/linalg.h"
#include "medfm/ops/reduce.h"
#include "medfm/ops/sort.h"
#include "medfm/ops/view.h"

/* (G, n*P, n*P) pairwise table -> (G, n_i, P_p, n_a, P_q), a free view. The
 * big tables keep this layout (reductions run along the contiguous last
 * dim); only the small per-pair results are permuted. */
static mf_status by_node_pair(const mf_tensor *t, int64_t n, int64_t P, mf_tensor **out) {
    int64_t shape[5] = {t->shape[0], n, P, n, P};
    return mf_reshape(t, 5, shape, out);
}

/* For each (g, i, p, a): the q minimising ||a_(i,p) - b_(a,q)||, from a, b
 * (G, n*P, K) as (G, n, P, n, 1). ||a||^2 is constant along q, so the
 * argmin is that of ||b||^2 - 2 a.b: one GEMM instead of a distance table. */
static mf_status nearest(const mf_tensor *a, const mf_tensor *b, int64_t n, int64_t P, mf_tensor **idx) {
    bool grad = mf_grad_set_enabled(false);
    mf_tensor *ab = NULL, *b2 = NULL, *nb = NULL, *nbT = NULL, *d = NULL, *pairs = NULL;
    mf_status st;
    int dim = 2;
    MF_CHECK(mf_bmm(a, b, false, true, &ab));
    MF_CHECK(mf_square(b, &b2));
    MF_CHECK(mf_sum(b2, 1, &dim, true, &nb));
    MF_CHECK(mf_transpose(nb, 1, 2, &nbT));
    mf_tensor_release(b2);
    b2 = NULL;
    MF_CHECK(mf_mul_scalar(ab, -2.0, &b2));
    MF_CHECK(mf_add(b2, nbT, &d));
    MF_CHECK(by_node_pair(d, n, P, &pairs));
    MF_CHECK(mf_argmin(pairs, 4, true, idx));
cleanup:
    mf_grad_set_enabled(grad);
    mf_tensor_release(ab), mf_tensor_release(b2), mf_tensor_release(nb), mf_tensor_release(nbT);
    mf_tensor_release(d), mf_tensor_release(pairs);
    return st;
}

/* Mean of the gamma largest entries of cos (G, n, P, n, P) at the partner
 * idx (G, n, P, n, 1) of each cell p: (G, n, n). */
static mf_status top_mean(const mf_tensor *cos, const mf_tensor *idx, int64_t gamma, mf_tensor **out) {
    mf_tensor *picked = NULL, *sq = NULL, *flat = NULL, *best = NULL;
    mf_status st;
    int64_t P = cos->shape[4];
    int perm[4] = {0, 1, 3, 2};
    MF_CHECK(mf_gather(cos, 4, idx, &picked));
    MF_CHECK(mf_squeeze(picked, 4, &sq));
    MF_CHECK(mf_permute(sq, perm, &flat)); /* (G, n_i, n_a, P) */
    if (gamma > 0 && gamma < P) {
        MF_CHECK(mf_topk(flat, gamma, 3, true, &best, NULL));
    } else {
        best = mf_tensor_retain(flat);
    }
    int dim = 3;
    MF_CHECK(mf_mean(best, 1, &dim, false, out));
cleanup:
    mf_tensor_release(picked);
    mf_tensor_release(sq);
    mf_tensor_release(flat);
    mf_tensor_release(best);
    return st;
}

/* (G, n, D, P) -> (G, n*P, D): one row per cell. */
static mf_status cells(const mf_tensor *y, mf_tensor **out) {
    int perm[4] = {0, 1, 3, 2};
    int64_t shape[3] = {y->shape[0], y->shape[1] * y->shape[3], y->shape[2]};
    mf_tensor *p;
    MF_TRY(mf_permute(y, perm, &p));
    mf_status st = mf_reshape(p, 3, shape, out);
    mf_tensor_release(p);
    return st;
}

mf_status lvm_local_affinity(const mf_tensor *ys, const mf_tensor *pos_s, const mf_tensor *yt,
                             const mf_tensor *pos_t, int64_t gamma, mf_tensor **out) {
    *out = NULL;
    if (ys->ndim != 4 || yt->ndim != 4 || ys->shape[0] != yt->shape[0] || ys->shape[1] != yt->shape[1] ||
        ys->shape[2] != yt->shape[2] || ys->shape[3] != yt->shape[3])
        return MF_ERR(MF_ERR_SHAPE, "lvmmed local affinity: feature maps must be (G, n, D, P) alike, got %s and %s",
                      MF_SHAPE(ys), MF_SHAPE(yt));
    int64_t G = ys->shape[0], n = ys->shape[1], P = ys->shape[3];
    if (pos_s->ndim != 4 || pos_t->ndim != 4 || pos_s->shape[0] != G || pos_s->shape[1] != n ||
        pos_s->shape[2] != P || pos_s->shape[3] != 2 || pos_t->shape[0] != G || pos_t->shape[1] != n ||
        pos_t->shape[2] != P || pos_t->shape[3] != 2)
        return MF_ERR(MF_ERR_SHAPE, "lvmmed local affinity: positions must be (G, n, P, 2) = (%lld, %lld, %lld, 2), got %s and %s",
                      (long long)G, (long long)n, (long long)P, MF_SHAPE(pos_s), MF_SHAPE(pos_t));
    mf_tensor *cs = NULL, *ct = NULL, *ns = NULL, *nt = NULL, *dots = NULL, *cos = NULL, *ps = NULL, *pt = NULL;
    mf_tensor *at_pos = NULL, *at_feat = NULL, *loc = NULL, *feat = NULL, *sum = NULL;
    mf_status st;
    MF_CHECK(cells(ys, &cs));
    MF_CHECK(cells(yt, &ct));
    /* every cell of every view-s node against every cell of every view-t node */
    MF_CHECK(mf_l2_normalize(cs, 2, 1e-8, &ns));
    MF_CHECK(mf_l2_normalize(ct, 2, 1e-8, &nt));
    MF_CHECK(mf_bmm(ns, nt, false, true, &dots));
    MF_CHECK(by_node_pair(dots, n, P, &cos));
    int64_t pshape[3] = {G, n * P, 2};
    MF_CHECK(mf_reshape(pos_s, 3, pshape, &ps));
    MF_CHECK(mf_reshape(pos_t, 3, pshape, &pt));
    MF_CHECK(nearest(ps, pt, n, P, &at_pos)); /* m(p): nearest in the source image */
    MF_CHECK(nearest(cs, ct, n, P, &at_feat)); /* m'(p): nearest feature vector */
    MF_CHECK(top_mean(cos, at_pos, gamma, &loc));
    MF_CHECK(top_mean(cos, at_feat, gamma, &feat));
    MF_CHECK(mf_add(loc, feat, &sum));
    MF_CHECK(mf_mul_scalar(sum, 0.5, out));
cleanup:
    mf_tensor_release(cs);
    mf_tensor_release(ct);
    mf_tensor_release(ns);
    mf_tensor_release(nt);
    mf_tensor_release(dots);
    mf_tensor_release(cos);
    mf_tensor_release(ps);
    mf_tensor_release(pt);
    mf_tensor_release(at_pos);
    mf_tensor_release(at_feat);
    mf_tensor_release(loc);
    mf_tensor_release(feat);
    mf_tensor_release(sum);
    return st;
}
