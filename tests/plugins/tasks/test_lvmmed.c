/* lvmmed_pretrain: the pieces (kNN graph, GCN propagation, GCN, global,
 * edge and local affinities) against hand-computed values and a float64
 * PyTorch reference (tools/fixtures/gen_lvmmed.py), a finite-difference
 * check of everything upstream of the solver, the paper's configs, and
 * training that lowers the loss. The plugin's sources are compiled in here
 * so their internal functions can be called directly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medfm/medfm.h"
#include "medfm/runner.h"
#include "plugins/tasks/lvmmed_pretrain/affinity.c"
#include "plugins/tasks/lvmmed_pretrain/gcn.c"
#include "plugins/tasks/lvmmed_pretrain/graph.c"
#include "plugins/tasks/lvmmed_pretrain/local_affinity.c"
#include "plugins/tasks/lvmmed_pretrain/views.c"
#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FIX "lvmmed.safetensors"
/* tests/fixtures -> the source tree */
#define MEDFM_SOURCE_DIR_TEST MEDFM_TEST_DATA_DIR "/../.."

Test(lvmmed, knn_edges_pick_the_k_nearest_other_nodes) {
    /* points on a line: 0, 1, 3, 7, 8 */
    int64_t shape[3] = {1, 5, 1};
    mf_tensor *z = t_from(3, shape, MF_F64, (double[]){0, 1, 3, 7, 8});
    mf_tensor *e;
    MF_OK_OR_FAIL(lvm_knn_edges(z, 2, &e));
    cr_assert_eq(e->shape[1], 10);
    const int64_t want[10][2] = {{0, 1}, {0, 2}, {1, 0}, {1, 2}, {2, 1}, {2, 0}, {3, 4}, {3, 2}, {4, 3}, {4, 2}};
    for (int q = 0; q < 10; q++)
        for (int c = 0; c < 2; c++)
            cr_assert_eq((int64_t)mf_tensor_get_flat(e, q * 2 + c), want[q][c], "edge %d", q);
    mf_tensor_release(z);
    mf_tensor_release(e);
}

Test(lvmmed, gcn_propagation_is_symmetric_normalised_adjacency_with_self_loops) {
    /* the graph above: undirected edges 0-1 0-2 1-2 2-3 2-4 3-4; degrees of
     * A + I: 3, 3, 5, 3, 3 */
    int64_t shape[3] = {1, 10, 2};
    mf_tensor *e = t_from(3, shape, MF_I64, (double[]){0, 1, 0, 2, 1, 0, 1, 2, 2, 1, 2, 0, 3, 4, 3, 2, 4, 3, 4, 2});
    mf_tensor *p;
    MF_OK_OR_FAIL(lvm_gcn_propagation(e, 5, MF_F64, MF_DEVICE_CPU, &p));
    double d[5] = {3, 3, 5, 3, 3};
    int adj[5][5] = {{1, 1, 1, 0, 0}, {1, 1, 1, 0, 0}, {1, 1, 1, 1, 1}, {0, 0, 1, 1, 1}, {0, 0, 1, 1, 1}};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            cr_assert_float_eq(mf_tensor_get_flat(p, i * 5 + j), adj[i][j] / sqrt(d[i] * d[j]), 1e-12, "P[%d][%d]", i,
                               j);
    mf_tensor_release(e);
    mf_tensor_release(p);
}

Test(lvmmed, gcn_propagation_rejects_edges_outside_the_graph) {
    int64_t shape[3] = {1, 1, 2};
    mf_tensor *e = t_from(3, shape, MF_I64, (double[]){0, 7}), *p = NULL;
    cr_assert_eq(lvm_gcn_propagation(e, 5, MF_F64, MF_DEVICE_CPU, &p), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "lvmmed gcn propagation"));
    mf_tensor_release(e);
}

Test(lvmmed, knn_needs_k_below_the_graph_size) {
    int64_t shape[3] = {1, 4, 2};
    mf_tensor *z = t_uniform(1, 3, shape, MF_F32, -1, 1), *e = NULL;
    cr_assert_eq(lvm_knn_edges(z, 4, &e), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "k = 4"));
    mf_tensor_release(z);
}

Test(lvmmed, knn_graph_and_propagation_match_torch) {
    mf_tensor *zs = t_fixture(FIX, "zs"), *want = t_fixture(FIX, "edges_s"), *wp = t_fixture(FIX, "prop_s");
    mf_tensor *e, *p;
    MF_OK_OR_FAIL(lvm_knn_edges(zs, 2, &e));
    t_assert_close(e, want, 0, 0, "knn edges");
    MF_OK_OR_FAIL(lvm_gcn_propagation(e, zs->shape[1], MF_F64, MF_DEVICE_CPU, &p));
    t_assert_close(p, wp, 1e-12, 1e-12, "propagation");
    mf_tensor_release(zs), mf_tensor_release(want), mf_tensor_release(wp), mf_tensor_release(e), mf_tensor_release(p);
}

Test(lvmmed, gcn_layers_match_torch) {
    mf_tensor *zs = t_fixture(FIX, "zs"), *p = t_fixture(FIX, "prop_s"), *want = t_fixture(FIX, "gcn");
    mf_tensor *w1 = t_fixture(FIX, "w1"), *b1 = t_fixture(FIX, "b1"), *w2 = t_fixture(FIX, "w2"),
              *b2 = t_fixture(FIX, "b2"), *h, *o;
    MF_OK_OR_FAIL(lvm_gcn_layer(p, zs, w1, b1, true, &h));
    MF_OK_OR_FAIL(lvm_gcn_layer(p, h, w2, b2, false, &o));
    t_assert_close(o, want, 1e-12, 1e-12, "gcn");
    mf_tensor *all[] = {zs, p, want, w1, b1, w2, b2, h, o};
    for (int i = 0; i < 9; i++)
        mf_tensor_release(all[i]);
}

Test(lvmmed, gcn_module_has_two_layers_of_width_128_by_default_names) {
    mf_rng rng;
    mf_rng_init(&rng, 1);
    mf_module *g;
    MF_OK_OR_FAIL(lvm_gcn_new(128, 2, 128, &rng, &g));
    mf_tensor *w;
    MF_OK_OR_FAIL(mf_module_find(g, "layers.1.weight", &w));
    cr_assert_eq(w->shape[0], 128);
    cr_assert_eq(w->shape[1], 128);
    mf_module_free(g);
}

Test(lvmmed, global_edge_and_local_affinities_match_torch) {
    mf_tensor *zs = t_fixture(FIX, "zs"), *zt = t_fixture(FIX, "zt"), *es = t_fixture(FIX, "edges_s"),
              *et = t_fixture(FIX, "edges_t"), *ys = t_fixture(FIX, "ys"), *yt = t_fixture(FIX, "yt"),
              *ps = t_fixture(FIX, "pos_s"), *pt = t_fixture(FIX, "pos_t"), *wg = t_fixture(FIX, "global"),
              *we = t_fixture(FIX, "edge"), *wl = t_fixture(FIX, "local_st");
    mf_tensor *g, *e, *l;
    MF_OK_OR_FAIL(lvm_global_affinity(zs, zt, &g));
    t_assert_close(g, wg, 1e-12, 1e-10, "global affinity");
    MF_OK_OR_FAIL(lvm_edge_affinity(zs, es, zt, et, &e));
    t_assert_close(e, we, 1e-12, 1e-10, "edge affinity");
    MF_OK_OR_FAIL(lvm_local_affinity(ys, ps, yt, pt, 3, &l));
    t_assert_close(l, wl, 1e-12, 1e-10, "local affinity");
    mf_tensor *all[] = {zs, zt, es, et, ys, yt, ps, pt, wg, we, wl, g, e, l};
    for (int i = 0; i < 14; i++)
        mf_tensor_release(all[i]);
}

Test(lvmmed, local_affinity_rejects_mismatched_positions) {
    int64_t ys_shape[4] = {1, 3, 2, 4}, pos_shape[4] = {1, 3, 5, 2};
    mf_tensor *y = t_uniform(1, 4, ys_shape, MF_F32, -1, 1), *p = t_uniform(2, 4, pos_shape, MF_F32, 0, 4), *o = NULL;
    cr_assert_eq(lvm_local_affinity(y, p, y, p, 0, &o), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "lvmmed local affinity"));
    mf_tensor_release(y), mf_tensor_release(p);
}

Test(lvmmed, cell_positions_follow_the_view_map) {
    /* a view that is the source's right half, flipped: x_src = 7 - x/2... */
    int64_t shape[3] = {1, 2, 3};
    mf_tensor *c = t_from(3, shape, MF_F64, (double[]){-0.5, 0, 7.25, 0, 0.5, -0.25}), *p;
    MF_OK_OR_FAIL(lvm_cell_positions(c, 8, 8, 2, 2, MF_F64, &p));
    /* cell (0, 0) centre at view pixel (1.5, 1.5); cell (1, 1) at (5.5, 5.5) */
    cr_assert_float_eq(mf_tensor_get_flat(p, 0), -0.75 + 7.25, 1e-12);
    cr_assert_float_eq(mf_tensor_get_flat(p, 1), 0.75 - 0.25, 1e-12);
    cr_assert_float_eq(mf_tensor_get_flat(p, 6), -2.75 + 7.25, 1e-12);
    cr_assert_float_eq(mf_tensor_get_flat(p, 7), 2.75 - 0.25, 1e-12);
    mf_tensor_release(c), mf_tensor_release(p);
}

Test(lvmmed, views_record_the_geometry_they_apply) {
    /* an image whose pixel value is its column: every view pixel must hold
     * (bilinearly) the source column its map names */
    int64_t shape[4] = {2, 1, 16, 16};
    mf_tensor *x;
    MF_OK_OR_FAIL(mf_tensor_empty(4, shape, MF_F64, MF_DEVICE_CPU, &x));
    for (int64_t i = 0; i < mf_tensor_numel(x); i++)
        mf_tensor_set_flat(x, i, (double)(i % 16));
    mf_rng rng;
    mf_rng_init(&rng, 3);
    lvm_aug_cfg cfg = {{0.3, 1.0}, 0.5};
    mf_tensor *v[2], *c[2];
    MF_OK_OR_FAIL(lvm_make_views(x, &cfg, &rng, v, c));
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 2; b++) {
            double m[6];
            for (int j = 0; j < 6; j++)
                m[j] = mf_tensor_get_flat(c[k], b * 6 + j);
            for (int y = 2; y < 14; y += 5)
                for (int xx = 2; xx < 14; xx += 5) {
                    double src = m[0] * xx + m[1] * y + m[2];
                    double got = mf_tensor_get_flat(v[k], b * 256 + y * 16 + xx);
                    if (src >= 0 && src <= 15)
                        cr_assert_float_eq(got, src, 1e-9, "view %d image %d pixel (%d, %d)", k, b, y, xx);
                }
        }
    mf_tensor_release(x);
    for (int k = 0; k < 2; k++)
        mf_tensor_release(v[k]), mf_tensor_release(c[k]);
}

/* Everything upstream of the solver, with the discrete choices (kNN graph,
 * nearest cells) fixed: projector -> GCN -> vertex (global + local) and
 * edge affinities, flattened. */
typedef struct up_ctx {
    mf_tensor *es, *et, *prop_s, *prop_t, *pos_s, *pos_t;
    int64_t G, n;
} up_ctx;

/* Rows [v * B, v * B + G n) of x as (G, n, F), as the task cuts graphs. */
static mf_status graphs_of_test(const mf_tensor *x, int v, int64_t B, int64_t G, int64_t n, mf_tensor **out) {
    mf_tensor *part;
    MF_TRY(mf_slice(x, 0, v * B, v * B + G * n, 1, &part));
    int64_t shape[3] = {G, n, x->shape[1]};
    mf_status st = mf_reshape(part, 3, shape, out);
    mf_tensor_release(part);
    return st;
}

static mf_status upstream(void *vctx, mf_tensor *const *in, mf_tensor **out) {
    up_ctx *c = vctx;
    /* in: pooled (2Gn, D), Wp, bp, W1, b1, W2, b2, ys, yt */
    mf_tensor *z = NULL, *zs = NULL, *zt = NULL, *h1 = NULL, *hs = NULL, *h2 = NULL, *ht = NULL, *glo = NULL;
    mf_tensor *lst = NULL, *lts = NULL, *ltsT = NULL, *cv = NULL, *a = NULL, *l = NULL, *ls = NULL, *ce = NULL;
    mf_tensor *fv = NULL, *fe = NULL;
    mf_status st;
    int64_t gn = c->G * c->n;
    MF_CHECK(mf_linear(in[0], in[1], in[2], &z));
    MF_CHECK(graphs_of_test(z, 0, gn, c->G, c->n, &zs));
    MF_CHECK(graphs_of_test(z, 1, gn, c->G, c->n, &zt));
    MF_CHECK(lvm_gcn_layer(c->prop_s, zs, in[3], in[4], true, &h1));
    MF_CHECK(lvm_gcn_layer(c->prop_s, h1, in[5], in[6], false, &hs));
    MF_CHECK(lvm_gcn_layer(c->prop_t, zt, in[3], in[4], true, &h2));
    MF_CHECK(lvm_gcn_layer(c->prop_t, h2, in[5], in[6], false, &ht));
    MF_CHECK(lvm_global_affinity(hs, ht, &glo));
    MF_CHECK(lvm_local_affinity(in[7], c->pos_s, in[8], c->pos_t, 3, &lst));
    MF_CHECK(lvm_local_affinity(in[8], c->pos_t, in[7], c->pos_s, 3, &lts));
    MF_CHECK(mf_transpose(lts, 1, 2, &ltsT));
    MF_CHECK(mf_add(lst, ltsT, &ls));
    MF_CHECK(mf_mul_scalar(glo, 0.8, &a));
    MF_CHECK(mf_mul_scalar(ls, 0.2, &l));
    MF_CHECK(mf_add(a, l, &cv));
    MF_CHECK(lvm_edge_affinity(hs, c->es, ht, c->et, &ce));
    MF_CHECK(mf_flatten(cv, 0, -1, &fv));
    MF_CHECK(mf_flatten(ce, 0, -1, &fe));
    MF_CHECK(mf_concat(2, (mf_tensor *[]){fv, fe}, 0, out));
cleanup:;
    mf_tensor *all[] = {z, zs, zt, h1, hs, h2, ht, glo, lst, lts, ltsT, cv, a, l, ls, ce, fv, fe};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mf_tensor_release(all[i]);
    return st;
}

Test(lvmmed, everything_upstream_of_the_solver_matches_finite_differences) {
    int64_t G = 2, n = 5, D = 6, F = 4, W = 5, C = 3, P = 4;
    int64_t sp[2] = {2 * G * n, D}, sw[2] = {F, D}, sb[1] = {F}, s1[2] = {W, F}, sb1[1] = {W}, s2[2] = {W, W},
            sy[4] = {G, n, C, P}, spos[4] = {G, n, P, 2};
    mf_tensor *in[9] = {t_param(t_uniform(1, 2, sp, MF_F64, -1, 1)), t_param(t_uniform(2, 2, sw, MF_F64, -1, 1)),
                        t_param(t_uniform(3, 1, sb, MF_F64, -1, 1)), t_param(t_uniform(4, 2, s1, MF_F64, -1, 1)),
                        t_param(t_uniform(5, 1, sb1, MF_F64, -1, 1)), t_param(t_uniform(6, 2, s2, MF_F64, -1, 1)),
                        t_param(t_uniform(7, 1, sb1, MF_F64, -1, 1)), t_param(t_uniform(8, 4, sy, MF_F64, -1, 1)),
                        t_param(t_uniform(9, 4, sy, MF_F64, -1, 1))};
    up_ctx c = {.G = G, .n = n};
    c.pos_s = t_uniform(10, 4, spos, MF_F64, 0, 8);
    c.pos_t = t_uniform(11, 4, spos, MF_F64, 0, 8);
    /* the kNN graphs of the initial projections, held fixed */
    mf_tensor *z, *zs, *zt;
    MF_OK_OR_FAIL(mf_linear(in[0], in[1], in[2], &z));
    MF_OK_OR_FAIL(graphs_of_test(z, 0, G * n, G, n, &zs));
    MF_OK_OR_FAIL(graphs_of_test(z, 1, G * n, G, n, &zt));
    MF_OK_OR_FAIL(lvm_knn_edges(zs, 2, &c.es));
    MF_OK_OR_FAIL(lvm_knn_edges(zt, 2, &c.et));
    MF_OK_OR_FAIL(lvm_gcn_propagation(c.es, n, MF_F64, MF_DEVICE_CPU, &c.prop_s));
    MF_OK_OR_FAIL(lvm_gcn_propagation(c.et, n, MF_F64, MF_DEVICE_CPU, &c.prop_t));
    t_gradcheck("lvmmed upstream of the solver", upstream, &c, 9, in, 1e-6, 1e-6, 1e-4);
    mf_tensor *all[] = {z, zs, zt, c.es, c.et, c.prop_s, c.prop_t, c.pos_s, c.pos_t};
    for (int i = 0; i < 9; i++)
        mf_tensor_release(all[i]), mf_tensor_release(in[i]);
}

/* ---- configs ---- */

static void validates(const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/%s", MEDFM_SOURCE_DIR_TEST, file);
    const char *ov[] = {"device=cpu", "train.batch_size=16"};
    mf_experiment *e;
    mf_diag d = {0};
    MF_OK_OR_FAIL(mf_experiment_load(path, 2, ov, &d, &e));
    mf_experiment_check(e, &d);
    cr_assert_eq(mf_diag_status(&d), MF_OK, "%s: %s", file, mf_last_error());
    mf_experiment_free(e);
    mf_diag_free(&d);
}

Test(lvmmed, every_paper_and_ablation_config_validates, .timeout = 60) {
    const char *files[] = {"lvmmed/resnet50.yaml",        "lvmmed/tiny.yaml",         "lvmmed/no_second_order.yaml",
                           "lvmmed/no_message_passing.yaml", "lvmmed/no_gumbel.yaml",    "lvmmed/no_local.yaml",
                           "lvmmed/graph_8.yaml",          "lvmmed/graph_32.yaml",     "lvmmed/graph_64.yaml",
                           "lvmmed/lambda_70.yaml",        "lvmmed/lambda_90.yaml",    "lvmmed/lambda_100.yaml",
                           "lvmmed/alpha_07.yaml",         "lvmmed/alpha_09.yaml",     "lvmmed/tiny_probe.yaml",
                           "baselines/simclr.yaml",
                           "baselines/barlow_twins.yaml",  "baselines/vicreg.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        validates(files[i]);
}

Test(lvmmed, second_order_with_the_lap_solver_is_a_config_error) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/lvmmed/tiny.yaml", MEDFM_SOURCE_DIR_TEST);
    const char *ov[] = {"task.solver.plugin=lap"};
    mf_experiment *e;
    MF_OK_OR_FAIL(mf_experiment_load(path, 1, ov, NULL, &e));
    mf_rng rng;
    mf_rng_init(&rng, 0);
    mf_task *t = NULL;
    cr_assert_neq(mf_experiment_build_task(e, 0, &rng, &t), MF_OK);
    cr_assert(strstr(mf_last_error(), "second_order"), "%s", mf_last_error());
    mf_experiment_free(e);
}

/* ---- training ---- */

Test(lvmmed, train_step_takes_views_and_coords_from_the_data_loader) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/lvmmed/tiny.yaml", MEDFM_SOURCE_DIR_TEST);
    mf_experiment *e;
    MF_OK_OR_FAIL(mf_experiment_load(path, 0, NULL, NULL, &e));
    mf_rng rng;
    mf_task *t;
    MF_OK_OR_FAIL(mf_experiment_build_task(e, 0, &rng, &t));
    int64_t vs[4] = {16, 1, 32, 32}, cs[3] = {16, 2, 3};
    mf_batch b = {0};
    MF_OK_OR_FAIL(mf_batch_put(&b, "view0", t_uniform(1, 4, vs, MF_F32, 0, 1)));
    MF_OK_OR_FAIL(mf_batch_put(&b, "view1", t_uniform(2, 4, vs, MF_F32, 0, 1)));
    double id[6] = {1, 0, 0, 0, 1, 0};
    mf_tensor *c0, *c1;
    MF_OK_OR_FAIL(mf_tensor_zeros(3, cs, MF_F64, MF_DEVICE_CPU, &c0));
    for (int i = 0; i < 16 * 6; i++)
        mf_tensor_set_flat(c0, i, id[i % 6]);
    MF_OK_OR_FAIL(mf_tensor_detach(c0, &c1));
    MF_OK_OR_FAIL(mf_batch_put(&b, "coords0", c0));
    b.size = 16;
    /* without coords1 the local affinity has no geometry: a clear error */
    mf_tensor *loss = NULL;
    mf_metrics m = {0};
    cr_assert_eq(t->train_step(t, &b, &loss, &m), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "coords"), "%s", mf_last_error());
    MF_OK_OR_FAIL(mf_batch_put(&b, "coords1", c1));
    MF_OK_OR_FAIL(t->train_step(t, &b, &loss, &m));
    double v;
    MF_OK_OR_FAIL(mf_tensor_item(loss, &v));
    cr_assert(v >= 0 && v <= 32, "Hamming loss of one graph of 16: %g", v);
    cr_assert(!isnan(mf_metrics_get(&m, "matched")));
    mf_tensor_release(loss);
    mf_batch_clear(&b);
    t->destroy(t);
    mf_experiment_free(e);
}
