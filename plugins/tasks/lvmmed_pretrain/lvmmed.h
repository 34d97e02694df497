/* LVM-Med pretraining (Nguyen et al. 2023, sec. 3.2 and appendix A), the
 * pieces the task composes. Every piece is written with differentiable ops
 * only, so autograd carries the Hamming loss's estimated gradient back
 * through affinities, GCN, projector and encoder without backward code.
 *
 * Shapes: G graphs of n nodes (the batch split into groups of graph_nodes),
 * F projected features, E = n * k directed kNN edges per graph, D channels
 * and P = R * S positions of the encoder's feature map. */
#ifndef LVMMED_H
#define LVMMED_H

#include <stdbool.h>

#include "medfm/nn.h"
#include "medfm/ops/random.h"
#include "medfm/tensor.h"

/* ---- graph.c: kNN graph on the node features ---- */

/* For each node the k nearest other nodes by L2 distance (ties to the lower
 * index); z (G, n, F) on any device -> edges (G, n * k, 2) i64 on the CPU
 * holding local node indices (i -> j, node i's neighbours in order of
 * distance). No gradient: the graph structure is a discrete choice. */
mf_status lvm_knn_edges(const mf_tensor *z, int64_t k, mf_tensor **edges);

/* The GCN propagation matrix D^-1/2 (A + I) D^-1/2 with A the kNN
 * adjacency made symmetric (A_ij = 1 if i -> j or j -> i is an edge) and
 * D the degrees of A + I: (G, n, n) in dt on dev. */
mf_status lvm_gcn_propagation(const mf_tensor *edges, int64_t n, mf_dtype dt, mf_device dev, mf_tensor **prop);

/* ---- gcn.c: message passing network g (eq. 1) ---- */

/* Layers H_l = act(P H_(l-1) W_l + b_l), ReLU between layers, none after
 * the last (its output is the node embedding the cosines compare). Child
 * modules "layers.<l>" are Linear(in, width). */
mf_status lvm_gcn_new(int64_t in_features, int n_layers, int64_t width, mf_rng *rng, mf_module **out);
/* One layer: act(prop h w^T + b), h (G, n, F), w (width, F), b (width). */
mf_status lvm_gcn_layer(const mf_tensor *prop, const mf_tensor *h, const mf_tensor *w, const mf_tensor *b, bool act,
                        mf_tensor **out);
/* x (G, n, F), prop (G, n, n) -> (G, n, width). */
mf_status lvm_gcn_forward(mf_module *gcn, const mf_tensor *x, const mf_tensor *prop, mf_tensor **out);

/* ---- affinity.c: global vertex and edge affinities ---- */

/* c_glo[g, i, a] = cos(zs[g, i], zt[g, a]): (G, n, n). */
mf_status lvm_global_affinity(const mf_tensor *zs, const mf_tensor *zt, mf_tensor **out);
/* c_e[g, e1, e2] = cos(zs_i - zs_j, zt_a - zt_b) for edges e1 = (i -> j) of
 * graph s and e2 = (a -> b) of graph t: (G, E1, E2). Edges on another
 * device than the features are copied to theirs. */
mf_status lvm_edge_affinity(const mf_tensor *zs, const mf_tensor *edges_s, const mf_tensor *zt,
                            const mf_tensor *edges_t, mf_tensor **out);

/* ---- local_affinity.c: location- and feature-based local affinity (eq. 2) ---- */

/* ys, yt (G, n, D, P) feature maps of the two views; pos_s, pos_t
 * (G, n, P, 2) source-image coordinates of each feature-map cell centre.
 * For every node pair (i, a): the mean over the gamma best positions p of
 * cos(ys_i[p], yt_a[m(p)]) with m(p) the cell of yt_a nearest in the
 * source image, and the same with m'(p) the nearest feature (L2) in yt_a;
 * out[g, i, a] = (location + feature) / 2 (appendix A's local_cost).
 * gamma <= 0 or >= P keeps every position. */
mf_status lvm_local_affinity(const mf_tensor *ys, const mf_tensor *pos_s, const mf_tensor *yt,
                             const mf_tensor *pos_t, int64_t gamma, mf_tensor **out);

/* ---- views.c: the two views and their geometry ---- */

/* Source coordinates of the centres of a view's feature-map cells:
 * coords (B, 2, 3) f64 affine maps from view pixels (x, y, 1) to source
 * pixels (the loader's "coords<v>"), a view of H x W pixels whose feature
 * map has R x S cells -> pos (B, R * S, 2) in dt (x, y per cell,
 * row-major). */
mf_status lvm_cell_positions(const mf_tensor *coords, int64_t H, int64_t W, int64_t R, int64_t S, mf_dtype dt,
                             mf_tensor **pos);

typedef struct lvm_aug_cfg {
    double scale[2]; /* random resized crop area fraction */
    double flip_p;   /* horizontal flip probability */
} lvm_aug_cfg;

/* Two views of every image of x (B, C, H, W), each a random resized crop
 * (area fraction in cfg->scale, aspect ratio log-uniform in [3/4, 4/3],
 * resized bilinearly back to H x W) and a random horizontal flip, with
 * their maps: views[v] (B, C, H, W), coords[v] (B, 2, 3) f64. Used when
 * the batch carries only "image" (the runner's built-in source); batches
 * from the data loader bring "view0", "view1", "coords0", "coords1". */
mf_status lvm_make_views(const mf_tensor *x, const lvm_aug_cfg *cfg, mf_rng *rng, mf_tensor *views[2],
                         mf_tensor *coords[2]);

#endif
