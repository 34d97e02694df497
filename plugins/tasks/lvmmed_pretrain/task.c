/* The lvmmed_pretrain task: LVM-Med's self-supervised graph matching
 * (sec. 3.2, appendix A). Per step: two views of each image -> encoder ->
 * projector h -> the batch cut into graphs of graph_nodes -> kNN graph and
 * GCN g per view -> vertex affinity (global + local) and edge affinity ->
 * solver on costs = -affinities, differentiated by the grad estimator ->
 * Hamming loss against the identity matching (view s of image i belongs
 * with view t of image i). With objective: ssl the matching is replaced by
 * a loss plugin over the projected embeddings z0, z1 (SimCLR, Barlow Twins,
 * VICReg baselines on the same views, encoder and projector).
 *
 * Every ablation of the paper is a key here or a sub-plugin swap:
 * second order (second_order + solver gm / lap), message passing
 * (message_passing), Gumbel noise (grad_estimator imle / blackbox), local
 * similarity (alpha = 1), graph size (graph_nodes), lambda
 * (grad_estimator.lambda), alpha, k. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lvmmed.h"
#include "medfm/autograd.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/index.h"
#include "medfm/ops/reduce.h"
#include "medfm/ops/view.h"
#include "medfm/runner.h"
#include "medfm/task.h"

#define NL MF_NO_LIMIT
static const mf_key_spec keys[] = {
    {"objective", MF_KEY_CHOICE, "matching", "matching: LVM-Med graph matching; ssl: `loss` over projected z0, z1",
     NL, NL, "matching|ssl", NULL, false},
    {"graph_nodes", MF_KEY_INT, "16", "nodes per graph; the batch is cut into graphs of this size (paper: 16)", 2, NL,
     NULL, NULL, false},
    {"k", MF_KEY_INT, "5", "kNN neighbours per node (paper: 5)", 1, NL, NULL, NULL, false},
    {"projector_dim", MF_KEY_INT, "128", "projector output F (paper: 2048 -> 128 for ResNet-50)", 1, NL, NULL, NULL,
     false},
    {"projector_hidden", MF_KEY_INT, "0",
     "hidden width of a 2-layer MLP projector; 0: one linear layer (paper: linear)", 0, NL, NULL, NULL, false},
    {"message_passing", MF_KEY_BOOL, "true", "run the GCN g over the kNN graphs (paper: on; Table 6 ablation off)",
     NL, NL, NULL, NULL, false},
    {"gcn_layers", MF_KEY_INT, "2", "GCN layers (paper: 2)", 1, NL, NULL, NULL, false},
    {"gcn_width", MF_KEY_INT, "128", "GCN layer width (paper: 128)", 1, NL, NULL, NULL, false},
    {"alpha", MF_KEY_FLOAT, "0.8",
     "weight of the global affinity; 1 - alpha weighs the local one (paper: 0.8; 1 = no local similarity)", 0, 1,
     NULL, NULL, false},
    {"gamma", MF_KEY_INT, "0",
     "feature-map pairs kept by select_top in the local affinity; 0 keeps all (the paper does not give its value)",
     0, NL, NULL, NULL, false},
    {"local_stage", MF_KEY_INT, "-1", "encoder stage whose feature map feeds the local affinity (-1: last)", NL, NL,
     NULL, NULL, false},
    {"second_order", MF_KEY_BOOL, "true",
     "add the edge affinities c_e (paper: on, solver gm; Table 6 ablation off with solver lap)", NL, NL, NULL, NULL,
     false},
    {"quadratic_weight", MF_KEY_FLOAT, "1.0",
     "weight of the edge affinities against the vertex ones in the matching costs (the paper gives none, i.e. 1; "
     "configs/lvmmed/tiny.yaml shows 0.2 learning where 1 does not)",
     0, NL, NULL, NULL, false},
    {"crop_scale_min", MF_KEY_FLOAT, "0.3", "views made here: random resized crop area fraction, lower end", 0, 1,
     NULL, NULL, false},
    {"crop_scale_max", MF_KEY_FLOAT, "1.0", "views made here: random resized crop area fraction, upper end", 0, 1,
     NULL, NULL, false},
    {"flip_p", MF_KEY_FLOAT, "0.5", "views made here: horizontal flip probability (paper: 0.5)", 0, 1, NULL, NULL,
     false},
    {"solver", MF_KEY_MAP, "{plugin: gm}", "graph matching solver section (gm: second order; lap: first order)", NL,
     NL, NULL, NULL, false},
    {"grad_estimator", MF_KEY_MAP, "{plugin: imle, lambda: 80}",
     "gradient through the solver (imle: Gumbel noise, paper; blackbox: no noise, Table 6 ablation)", NL, NL, NULL,
     NULL, false},
    {"loss", MF_KEY_MAP, "{plugin: hamming}",
     "matching: loss on {x, target} (hamming); ssl: loss on {z0, z1} (infonce, barlow_twins, vicreg)", NL, NL, NULL,
     NULL, false},
};
static const mf_schema schema = {"task lvmmed_pretrain", keys, sizeof keys / sizeof keys[0], false};

typedef struct lvm {
    mf_module *root; /* mf_task_model_new: encoder, projector, gcn */
    mf_module *projector, *gcn; /* gcn NULL without message passing */
    mf_solver *solver;
    mf_grad_estimator *estimator;
    mf_loss *loss;
    mf_rng *rng;
    bool ssl, second_order;
    int64_t nodes, k, gamma, local_stage;
    double alpha, quad_weight;
    lvm_aug_cfg aug;
} lvm;

/* view0, view1 and their maps: from the batch (data loader) or made here. */
static mf_status get_views(lvm *s, const mf_batch *b, mf_tensor *views[2], mf_tensor *coords[2]) {
    if (mf_batch_get(b, "view0")) {
        for (int v = 0; v < 2; v++) {
            char vn[8], cn[8];
            snprintf(vn, sizeof vn, "view%d", v);
            snprintf(cn, sizeof cn, "coords%d", v);
            mf_tensor *x, *c = mf_batch_get(b, cn);
            MF_TRY(mf_batch_need(b, vn, "lvmmed_pretrain", &x));
            views[v] = mf_tensor_retain(x);
            coords[v] = c ? mf_tensor_retain(c) : NULL;
        }
        if (!coords[0] || !coords[1])
            return s->alpha < 1 && !s->ssl
                       ? MF_ERR(MF_ERR_INVALID, "lvmmed_pretrain: batches with view0/view1 need coords0/coords1 for "
                                                "the local affinity (or set alpha: 1)")
                       : MF_OK;
        return MF_OK;
    }
    mf_tensor *img;
    MF_TRY(mf_batch_need(b, "image", "lvmmed_pretrain", &img));
    return lvm_make_views(img, &s->aug, s->rng, views, coords);
}

/* Rows [v * B, v * B + G * n) of x (2B, ...) as (G, n, ...). */
static mf_status graphs_of(const mf_tensor *x, int v, int64_t B, int64_t G, int64_t n, mf_tensor **out) {
    mf_tensor *part;
    MF_TRY(mf_slice(x, 0, v * B, v * B + G * n, 1, &part));
    int64_t shape[8] = {G, n};
    for (int d = 1; d < x->ndim; d++)
        shape[d + 1] = x->shape[d];
    mf_status st = mf_reshape(part, x->ndim + 1, shape, out);
    mf_tensor_release(part);
    return st;
}

/* c_v = alpha c_glo + (1 - alpha) (local(s, t) + local(t, s)^T), eq. (3). */
static mf_status vertex_affinity(lvm *s, const mf_tensor *glo, const mf_encoder_output *eo, mf_tensor *coords[2],
                                 int64_t B, int64_t G, int64_t H, int64_t W, mf_tensor **cv) {
    if (s->alpha >= 1)
        return mf_mul_scalar(glo, 1.0, cv);
    int stage = s->local_stage < 0 ? eo->n_stages + (int)s->local_stage : (int)s->local_stage;
    if (stage < 0 || stage >= eo->n_stages)
        return MF_ERR(MF_ERR_CONFIG, "lvmmed_pretrain: local_stage %lld outside the encoder's %d stages",
                      (long long)s->local_stage, eo->n_stages);
    const mf_tensor *y = eo->stages[stage];
    if (y->ndim != 4)
        return MF_ERR(MF_ERR_SHAPE, "lvmmed_pretrain: the local affinity needs 2-D feature maps, stage %d is %s",
                      stage, MF_SHAPE(y));
    int64_t R = y->shape[2], S = y->shape[3], n = s->nodes;
    int64_t flat[3] = {y->shape[0], y->shape[1], R * S};
    mf_tensor *yf = NULL, *ys = NULL, *yt = NULL, *pos[2] = {NULL, NULL}, *ps = NULL, *pt = NULL;
    mf_tensor *lst = NULL, *lts = NULL, *ltsT = NULL, *lsum = NULL, *a = NULL, *l = NULL;
    mf_status st;
    MF_CHECK(mf_reshape(y, 3, flat, &yf));
    MF_CHECK(graphs_of(yf, 0, B, G, n, &ys));
    MF_CHECK(graphs_of(yf, 1, B, G, n, &yt));
    for (int v = 0; v < 2; v++)
        MF_CHECK(lvm_cell_positions(coords[v], H, W, R, S, y->dtype, &pos[v]));
    MF_CHECK(graphs_of(pos[0], 0, 0, G, n, &ps));
    MF_CHECK(graphs_of(pos[1], 0, 0, G, n, &pt));
    MF_CHECK(lvm_local_affinity(ys, ps, yt, pt, s->gamma, &lst));
    MF_CHECK(lvm_local_affinity(yt, pt, ys, ps, s->gamma, &lts));
    MF_CHECK(mf_transpose(lts, 1, 2, &ltsT));
    MF_CHECK(mf_add(lst, ltsT, &lsum));
    MF_CHECK(mf_mul_scalar(glo, s->alpha, &a));
    MF_CHECK(mf_mul_scalar(lsum, 1 - s->alpha, &l));
    MF_CHECK(mf_add(a, l, cv));
cleanup:
    mf_tensor_release(yf), mf_tensor_release(ys), mf_tensor_release(yt);
    mf_tensor_release(pos[0]), mf_tensor_release(pos[1]), mf_tensor_release(ps), mf_tensor_release(pt);
    mf_tensor_release(lst), mf_tensor_release(lts), mf_tensor_release(ltsT), mf_tensor_release(lsum);
    mf_tensor_release(a), mf_tensor_release(l);
    return st;
}

/* The identity matching, (G, n, n) in dt. */
static mf_status identity(int64_t G, int64_t n, mf_dtype dt, mf_device dev, mf_tensor **out) {
    int64_t shape[3] = {G, n, n};
    MF_TRY(mf_tensor_zeros(3, shape, dt, MF_DEVICE_CPU, out));
    for (int64_t g = 0; g < G; g++)
        for (int64_t i = 0; i < n; i++)
            mf_tensor_set_flat(*out, (g * n + i) * n + i, 1.0);
    if (dev.type == MF_CPU)
        return MF_OK;
    mf_tensor *moved;
    mf_status st = mf_to_device(*out, dev, &moved);
    mf_tensor_release(*out);
    *out = st == MF_OK ? moved : NULL;
    return st;
}

/* Runs a loss plugin on two named tensors. */
static mf_status run_loss(mf_loss *l, const char *na, mf_tensor *a, const char *nb, mf_tensor *b, mf_tensor **loss) {
    mf_batch in = {0};
    mf_status st = mf_batch_put(&in, na, mf_tensor_retain(a));
    if (st == MF_OK)
        st = mf_batch_put(&in, nb, mf_tensor_retain(b));
    if (st == MF_OK)
        st = l->forward(l, &in, loss, NULL);
    mf_batch_clear(&in);
    return st;
}

/* The kNN graphs of both views from one read of their distances: edges
 * (G, E, 2) each, on the CPU. */
static mf_status knn_both(const mf_tensor *zs, const mf_tensor *zt, int64_t k, mf_tensor **es, mf_tensor **et) {
    int64_t G = zs->shape[0];
    bool grad = mf_grad_set_enabled(false);
    mf_tensor *both = NULL, *e = NULL;
    mf_status st;
    MF_CHECK(mf_concat(2, (mf_tensor *const[]){(mf_tensor *)zs, (mf_tensor *)zt}, 0, &both));
    MF_CHECK(lvm_knn_edges(both, k, &e));
    MF_CHECK(mf_slice(e, 0, 0, G, 1, es));
    MF_CHECK(mf_slice(e, 0, G, 2 * G, 1, et));
cleanup:
    mf_grad_set_enabled(grad);
    mf_tensor_release(both);
    mf_tensor_release(e);
    return st;
}

/* Graph matching of the two views' graphs; loss and the matched fraction. */
static mf_status match(lvm *s, const mf_tensor *z, const mf_encoder_output *eo, mf_tensor *coords[2], int64_t B,
                       int64_t H, int64_t W, mf_tensor **loss, mf_metrics *logs) {
    int64_t n = s->nodes, G = B / n;
    if (G < 1)
        return MF_ERR(MF_ERR_CONFIG, "lvmmed_pretrain: a batch of %lld images holds no graph of graph_nodes = %lld",
                      (long long)B, (long long)n);
    mf_tensor *zs = NULL, *zt = NULL, *es = NULL, *et = NULL, *hs = NULL, *ht = NULL, *glo = NULL, *cv = NULL;
    mf_tensor *ce = NULL, *unary = NULL, *quad = NULL, *x = NULL, *target = NULL, *diag = NULL;
    mf_status st;
    MF_CHECK(graphs_of(z, 0, B, G, n, &zs));
    MF_CHECK(graphs_of(z, 1, B, G, n, &zt));
    MF_CHECK(knn_both(zs, zt, s->k, &es, &et));
    mf_device dev = z->storage->device;
    if (s->gcn) {
        mf_tensor *prop;
        MF_CHECK(lvm_gcn_propagation(es, n, zs->dtype, dev, &prop));
        st = lvm_gcn_forward(s->gcn, zs, prop, &hs);
        mf_tensor_release(prop);
        MF_CHECK(st);
        MF_CHECK(lvm_gcn_propagation(et, n, zt->dtype, dev, &prop));
        st = lvm_gcn_forward(s->gcn, zt, prop, &ht);
        mf_tensor_release(prop);
        MF_CHECK(st);
    } else {
        hs = mf_tensor_retain(zs);
        ht = mf_tensor_retain(zt);
    }
    MF_CHECK(lvm_global_affinity(hs, ht, &glo));
    MF_CHECK(vertex_affinity(s, glo, eo, coords, B, G, H, W, &cv));
    MF_CHECK(mf_neg(cv, &unary)); /* the solver minimises costs = -affinities */
    mf_gm_problem p = {unary, NULL, NULL, NULL};
    if (s->second_order) {
        MF_CHECK(lvm_edge_affinity(hs, es, ht, et, &ce));
        MF_CHECK(mf_mul_scalar(ce, -s->quad_weight, &quad));
        p = (mf_gm_problem){unary, quad, es, et};
    }
    MF_CHECK(s->estimator->apply(s->estimator, s->solver, &p, s->rng, &x));
    MF_CHECK(identity(G, n, x->dtype, x->storage->device, &target));
    MF_CHECK(run_loss(s->loss, "x", x, "target", target, loss));
    if (logs) { /* one read (a host wait on a GPU), only on logged steps */
        mf_tensor *hits = NULL;
        double hit = 0;
        MF_CHECK(mf_mul(x, target, &diag));
        st = mf_sum(diag, 0, NULL, false, &hits);
        if (st == MF_OK)
            st = mf_tensor_item(hits, &hit);
        mf_tensor_release(hits);
        MF_CHECK(st);
        mf_metrics_set(logs, "matched", hit / (double)(G * n));
    }
cleanup:
    mf_tensor_release(zs), mf_tensor_release(zt), mf_tensor_release(es), mf_tensor_release(et);
    mf_tensor_release(hs), mf_tensor_release(ht), mf_tensor_release(glo), mf_tensor_release(cv);
    mf_tensor_release(ce), mf_tensor_release(unary), mf_tensor_release(quad), mf_tensor_release(x);
    mf_tensor_release(target), mf_tensor_release(diag);
    return st;
}

static mf_status train_step(mf_task *t, const mf_batch *b, mf_tensor **loss, mf_metrics *logs) {
    lvm *s = t->state;
    mf_tensor *views[2] = {NULL, NULL}, *coords[2] = {NULL, NULL}, *x = NULL, *z = NULL;
    mf_encoder_output eo = {0};
    mf_status st;
    *loss = NULL;
    MF_CHECK(get_views(s, b, views, coords));
    if (views[0]->ndim != views[1]->ndim || views[0]->shape[0] != views[1]->shape[0]) {
        st = MF_ERR(MF_ERR_SHAPE, "lvmmed_pretrain: views differ: %s and %s", MF_SHAPE(views[0]), MF_SHAPE(views[1]));
        goto cleanup;
    }
    int64_t B = views[0]->shape[0];
    /* both views in one encoder pass (batch-norm statistics over both) */
    MF_CHECK(mf_concat(2, views, 0, &x));
    mf_encoder *e = mf_task_model_encoder(s->root);
    bool stages = !s->ssl && s->alpha < 1;
    MF_CHECK(e->forward(e, x, stages, &eo));
    MF_CHECK(mf_module_forward(s->projector, eo.pooled, &z));
    if (s->ssl) {
        mf_tensor *z0 = NULL, *z1 = NULL;
        st = mf_slice(z, 0, 0, B, 1, &z0);
        if (st == MF_OK)
            st = mf_slice(z, 0, B, 2 * B, 1, &z1);
        if (st == MF_OK)
            st = run_loss(s->loss, "z0", z0, "z1", z1, loss);
        mf_tensor_release(z0);
        mf_tensor_release(z1);
    } else {
        st = match(s, z, &eo, coords, B, views[0]->shape[views[0]->ndim - 2], views[0]->shape[views[0]->ndim - 1],
                   loss, logs);
    }
cleanup:
    mf_encoder_output_clear(&eo);
    for (int v = 0; v < 2; v++) {
        mf_tensor_release(views[v]);
        mf_tensor_release(coords[v]);
    }
    mf_tensor_release(x);
    mf_tensor_release(z);
    return st;
}

static void destroy(mf_task *t) {
    if (!t)
        return;
    lvm *s = t->state;
    if (s) {
        mf_module_free(s->root);
        if (s->solver)
            s->solver->destroy(s->solver);
        if (s->estimator)
            s->estimator->destroy(s->estimator);
        if (s->loss)
            s->loss->destroy(s->loss);
        free(s);
    }
    free(t);
}

/* A copy of the sub-plugin section `key` (its schema default when absent). */
static mf_status section(const mf_cfg *cfg, const char *key, const char *def, mf_cfg **out) {
    const mf_cfg *c = cfg ? mf_cfg_find(cfg, key) : NULL;
    if (c) {
        *out = mf_cfg_clone(c);
        return *out ? MF_OK : MF_ERR(MF_ERR_NOMEM, "lvmmed_pretrain: out of memory");
    }
    return mf_cfg_parse_string(def, key, out);
}

static mf_status create_parts(lvm *s, const mf_task_env *env, const mf_cfg *cfg) {
    mf_cfg *sec = NULL;
    mf_status st;
    MF_CHECK(section(cfg, "loss", "{plugin: hamming}", &sec));
    MF_CHECK(mf_plugin_create_loss(env->registry, sec, &s->loss));
    mf_cfg_free(sec);
    sec = NULL;
    if (s->ssl)
        return MF_OK;
    MF_CHECK(section(cfg, "solver", "{plugin: gm}", &sec));
    MF_CHECK(mf_plugin_create_solver(env->registry, sec, &s->solver));
    mf_cfg_free(sec);
    sec = NULL;
    MF_CHECK(section(cfg, "grad_estimator", "{plugin: imle, lambda: 80}", &sec));
    MF_CHECK(mf_plugin_create_grad_estimator(env->registry, sec, &s->estimator));
    if (s->second_order && !strcmp(s->solver->name, "lap"))
        st = MF_ERR(MF_ERR_CONFIG, "lvmmed_pretrain: solver lap is first order; set second_order: false (or use gm)");
cleanup:
    mf_cfg_free(sec);
    return st;
}

static mf_status create(const mf_task_env *env, const mf_cfg *cfg, mf_task **out) {
    *out = NULL;
    if (!env->encoder)
        return MF_ERR(MF_ERR_CONFIG, "lvmmed_pretrain: the experiment needs an `encoder:` section");
    mf_encoder *enc = env->encoder;
    mf_task *t = calloc(1, sizeof *t);
    lvm *s = calloc(1, sizeof *s);
    mf_status st = MF_OK;
    /* The runner keeps the encoder when creation fails: never free it here. */
    if (!t || !s) {
        free(t);
        free(s);
        return MF_ERR(MF_ERR_NOMEM, "lvmmed_pretrain: out of memory");
    }
    t->size = sizeof *t;
    t->state = s;
    st = mf_task_model_new("LVMMed", enc, &s->root);
    if (st != MF_OK) {
        destroy(t);
        return st;
    }
    s->rng = env->rng;
    const char *objective;
    bool mp;
    int64_t proj_dim, proj_hidden, gcn_layers, gcn_width;
    MF_CHECK(mf_cfg_get_string(cfg, "objective", "matching", &objective));
    s->ssl = !strcmp(objective, "ssl");
    MF_CHECK(mf_cfg_get_int(cfg, "graph_nodes", 16, &s->nodes));
    MF_CHECK(mf_cfg_get_int(cfg, "k", 5, &s->k));
    MF_CHECK(mf_cfg_get_int(cfg, "projector_dim", 128, &proj_dim));
    MF_CHECK(mf_cfg_get_int(cfg, "projector_hidden", 0, &proj_hidden));
    MF_CHECK(mf_cfg_get_bool(cfg, "message_passing", true, &mp));
    MF_CHECK(mf_cfg_get_int(cfg, "gcn_layers", 2, &gcn_layers));
    MF_CHECK(mf_cfg_get_int(cfg, "gcn_width", 128, &gcn_width));
    MF_CHECK(mf_cfg_get_float(cfg, "alpha", 0.8, &s->alpha));
    MF_CHECK(mf_cfg_get_int(cfg, "gamma", 0, &s->gamma));
    MF_CHECK(mf_cfg_get_int(cfg, "local_stage", -1, &s->local_stage));
    MF_CHECK(mf_cfg_get_bool(cfg, "second_order", true, &s->second_order));
    MF_CHECK(mf_cfg_get_float(cfg, "quadratic_weight", 1.0, &s->quad_weight));
    MF_CHECK(mf_cfg_get_float(cfg, "crop_scale_min", 0.3, &s->aug.scale[0]));
    MF_CHECK(mf_cfg_get_float(cfg, "crop_scale_max", 1.0, &s->aug.scale[1]));
    MF_CHECK(mf_cfg_get_float(cfg, "flip_p", 0.5, &s->aug.flip_p));
    if (s->k >= s->nodes) {
        st = MF_ERR(MF_ERR_CONFIG, "lvmmed_pretrain: k = %lld must be smaller than graph_nodes = %lld",
                    (long long)s->k, (long long)s->nodes);
        goto cleanup;
    }
    if (!(s->aug.scale[0] > 0 && s->aug.scale[0] <= s->aug.scale[1])) {
        st = MF_ERR(MF_ERR_CONFIG, "lvmmed_pretrain: need 0 < crop_scale_min <= crop_scale_max, got %g and %g",
                    s->aug.scale[0], s->aug.scale[1]);
        goto cleanup;
    }
    if (proj_hidden > 0) {
        int64_t sizes[2] = {proj_hidden, proj_dim};
        MF_CHECK(mf_nn_mlp_new(enc->embed_dim, 2, sizes, MF_ACT_RELU, 0.0, true, env->rng, &s->projector));
    } else {
        MF_CHECK(mf_nn_linear_new(enc->embed_dim, proj_dim, true, env->rng, &s->projector));
    }
    MF_CHECK(mf_module_add_child(s->root, "projector", s->projector, NULL)); /* frees it on failure */
    if (mp && !s->ssl) {
        MF_CHECK(lvm_gcn_new(proj_dim, (int)gcn_layers, gcn_width, env->rng, &s->gcn));
        MF_CHECK(mf_module_add_child(s->root, "gcn", s->gcn, NULL)); /* frees it on failure */
    }
    MF_CHECK(create_parts(s, env, cfg));
    t->model = s->root;
    t->monitor = NULL;
    t->train_step = train_step;
    t->destroy = destroy;
    *out = t;
    return MF_OK;
cleanup:
    mf_task_model_release_encoder(s->root); /* the runner frees it */
    destroy(t);
    return st;
}

static const mf_task_vtable vtable = {sizeof vtable, create};
static const mf_plugin_info info = {sizeof(mf_plugin_info), MF_KIND_TASK, "lvmmed_pretrain", "0.1.0",
                                    "LVM-Med self-supervised second-order graph matching (or an SSL loss baseline)",
                                    &schema, &vtable};

MEDFM_PLUGIN_EXPORT mf_status medfm_plugin_init(mf_registry *reg, uint32_t abi_major, uint32_t abi_minor) {
    MF_TRY(mf_plugin_abi_check(abi_major, abi_minor, "lvmmed_pretrain"));
    return mf_registry_add(reg, &info);
}
