/* Global affinities between the two graphs (sec. 3.2.2 and 3.2.3): vertex
 * cosines c_glo between node embeddings after message passing, and the
 * second-order edge cosines c_e between edge difference vectors. */
#include "lvmmed.h"
#include "medfm/ops/distance.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/index.h"
#include "medfm/ops/linalg.h"
#include "medfm/ops/view.h"

#define COS_EPS 1e-8 /* torch.nn.functional.cosine_similarity's default */

static mf_status check_nodes(const mf_tensor *zs, const mf_tensor *zt, const char *what) {
    if (zs->ndim != 3 || zt->ndim != 3 || zs->shape[0] != zt->shape[0] || zs->shape[2] != zt->shape[2])
        return MF_ERR(MF_ERR_SHAPE, "lvmmed %s: node features must be (G, n, F) alike, got %s and %s", what,
                      MF_SHAPE(zs), MF_SHAPE(zt));
    return MF_OK;
}

mf_status lvm_global_affinity(const mf_tensor *zs, const mf_tensor *zt, mf_tensor **out) {
    *out = NULL;
    MF_TRY(check_nodes(zs, zt, "global affinity"));
    mf_tensor *ns = NULL, *nt = NULL;
    mf_status st;
    MF_CHECK(mf_l2_normalize(zs, 2, COS_EPS, &ns));
    MF_CHECK(mf_l2_normalize(zt, 2, COS_EPS, &nt));
    MF_CHECK(mf_bmm(ns, nt, false, true, out));
cleanup:
    mf_tensor_release(ns);
    mf_tensor_release(nt);
    return st;
}

/* z_i - z_j for every edge (i -> j): z (G, n, F), edges (G, E, 2) -> (G, E, F). */
static mf_status edge_vectors(const mf_tensor *z, const mf_tensor *edges_any, mf_tensor **out) {
    int64_t G = z->shape[0], E = edges_any->shape[1], F = z->shape[2];
    int64_t shape[3] = {G, E, F};
    mf_tensor *end[2] = {NULL, NULL}, *edges = NULL;
    mf_status st = MF_OK;
    if (mf_device_equal(edges_any->storage->device, z->storage->device))
        edges = mf_tensor_retain((mf_tensor *)edges_any);
    else
        MF_CHECK(mf_to_device(edges_any, z->storage->device, &edges));
    for (int side = 0; side < 2; side++) {
        mf_tensor *col = NULL, *idx = NULL;
        st = mf_slice(edges, 2, side, side + 1, 1, &col);
        if (st == MF_OK)
            st = mf_expand(col, 3, shape, &idx);
        if (st == MF_OK)
            st = mf_gather(z, 1, idx, &end[side]);
        mf_tensor_release(col);
        mf_tensor_release(idx);
        MF_CHECK(st);
    }
    MF_CHECK(mf_sub(end[0], end[1], out));
cleanup:
    mf_tensor_release(end[0]);
    mf_tensor_release(end[1]);
    mf_tensor_release(edges);
    return st;
}

mf_status lvm_edge_affinity(const mf_tensor *zs, const mf_tensor *edges_s, const mf_tensor *zt,
                            const mf_tensor *edges_t, mf_tensor **out) {
    *out = NULL;
    MF_TRY(check_nodes(zs, zt, "edge affinity"));
    if (edges_s->ndim != 3 || edges_t->ndim != 3 || edges_s->shape[2] != 2 || edges_t->shape[2] != 2 ||
        edges_s->shape[0] != zs->shape[0] || edges_t->shape[0] != zt->shape[0])
        return MF_ERR(MF_ERR_SHAPE, "lvmmed edge affinity: edges must be (G, E, 2) for G = %lld, got %s and %s",
                      (long long)zs->shape[0], MF_SHAPE(edges_s), MF_SHAPE(edges_t));
    mf_tensor *ds = NULL, *dt = NULL, *ns = NULL, *nt = NULL;
    mf_status st;
    MF_CHECK(edge_vectors(zs, edges_s, &ds));
    MF_CHECK(edge_vectors(zt, edges_t, &dt));
    MF_CHECK(mf_l2_normalize(ds, 2, COS_EPS, &ns));
    MF_CHECK(mf_l2_normalize(dt, 2, COS_EPS, &nt));
    MF_CHECK(mf_bmm(ns, nt, false, true, out));
cleanup:
    mf_tensor_release(ds);
    mf_tensor_release(dt);
    mf_tensor_release(ns);
    mf_tensor_release(nt);
    return st;
}
