/* Times one LVM-Med pretraining step (forward + backward, no optimiser)
 * and its parts, through the public registry/runner API only.
 *   bench_lvmmed_step [--reps N] [--px P] [--cpu] [--root SRC] [tiny|resnet50 ...]  (default: tiny)
 * tiny: configs/lvmmed/tiny.yaml (simple_cnn, 64 images of 1x32x32, 4
 * graphs); resnet50: configs/lvmmed/resnet50.yaml on the CPU with one graph
 * of 16 images of 3 x P x P (P default 64).
 *
 * Measured directly: the whole step (the task's train_step + backward);
 * the encoder alone (a second encoder from the same section, forward with
 * all stages + backward of its pooled sum, on both views); the gm solver
 * and the IMLE estimator (apply = perturbed solve, backward = the second
 * solve) on problems of the task's shapes (G graphs of 16 nodes, kNN k = 5
 * edges, costs = -cosines of random features). The task's internals
 * (projector, GCN, affinities) are not reachable from outside the plugin,
 * so their shares are differences of whole steps with one part switched
 * off by config: task.message_passing=false (GCN), task.alpha=1 (local
 * affinity, and the encoder no longer returns its stages),
 * task.second_order=false (edge affinity, once the IMLE time on
 * first-order problems is put back). "rest" is what remains of the step:
 * projector, kNN graphs, global affinity, loss; as a difference of noisy
 * timings it can come out slightly negative when it is small.
 * Times are the best of --reps steps after one warm-up. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medfm/medfm.h"
#include "medfm/nn.h"
#include "medfm/runner.h"

/* The source tree holding configs/lvmmed/: --root, else the current
 * directory, else two levels above the binary (build/bin/..). */
static char root[1024] = ".";

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        mf_status st_ = (expr);                                                                    \
        if (st_ != MF_OK) {                                                                        \
            fprintf(stderr, "bench_lvmmed_step: %s failed: %s\n", #expr, mf_last_error());         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

enum { MAX_REPS = 64, NODES = 16, K = 5 };

/* --cpu: process CPU time instead of wall time (with MEDFM_NUM_THREADS=1
 * the work itself, which a machine busy with other jobs barely disturbs). */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The fastest of n timings: load from other processes only adds time. */
static double best_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[0];
}

typedef struct setup {
    const char *name;
    const char *config;
    int n_over;
    const char *over[4];
    int64_t B, C, px;
} setup;

/* A batch as the data loader gives it: two views and their (identity)
 * source maps. */
static void make_batch(const setup *s, mf_rng *rng, mf_batch *b) {
    int64_t vs[4] = {s->B, s->C, s->px, s->px}, cs[3] = {s->B, 2, 3};
    for (int v = 0; v < 2; v++) {
        mf_tensor *x, *c;
        CHECK(mf_tensor_empty(4, vs, MF_F32, MF_DEVICE_CPU, &x));
        CHECK(mf_rand_normal_(x, rng, 0, 1));
        CHECK(mf_tensor_zeros(3, cs, MF_F64, MF_DEVICE_CPU, &c));
        double *pc = mf_tensor_data(c);
        for (int64_t i = 0; i < s->B; i++)
            pc[i * 6 + 0] = pc[i * 6 + 4] = 1;
        CHECK(mf_batch_put(b, v ? "view1" : "view0", x));
        CHECK(mf_batch_put(b, v ? "coords1" : "coords0", c));
    }
}

static mf_experiment *load(const setup *s, const char *extra) {
    const char *over[8];
    int n = 0;
    for (int i = 0; i < s->n_over; i++)
        over[n++] = s->over[i];
    if (extra)
        over[n++] = extra;
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/lvmmed/%s", root, s->config);
    mf_experiment *e;
    CHECK(mf_experiment_load(path, n, over, NULL, &e));
    return e;
}

/* Best seconds of train_step + backward for each variant (`extra`
 * override, NULL: none). The variants take turns within each repetition
 * so that load from other processes hits them alike. */
enum { N_VARIANTS = 4 };
static void time_steps(const setup *s, const char *const extra[N_VARIANTS], int reps, const mf_batch *b,
                       double best[N_VARIANTS]) {
    mf_experiment *e[N_VARIANTS];
    mf_task *t[N_VARIANTS];
    for (int v = 0; v < N_VARIANTS; v++) {
        e[v] = load(s, extra[v]);
        mf_rng rng;
        mf_rng_init(&rng, 7);
        CHECK(mf_experiment_build_task(e[v], 0, &rng, &t[v]));
        mf_module_train(t[v]->model, true);
        best[v] = INFINITY;
    }
    for (int r = -1; r < reps; r++)
        for (int v = 0; v < N_VARIANTS; v++) {
            mf_metrics logs = {0};
            mf_tensor *loss;
            double t0 = now();
            CHECK(t[v]->train_step(t[v], b, &loss, &logs));
            CHECK(mf_backward(loss, NULL, false));
            double dt = now() - t0;
            mf_tensor_release(loss);
            mf_module_zero_grad(t[v]->model);
            if (r >= 0 && dt < best[v])
                best[v] = dt;
        }
    for (int v = 0; v < N_VARIANTS; v++) {
        t[v]->destroy(t[v]);
        mf_experiment_free(e[v]);
    }
}

static double time_encoder(const setup *s, int reps, const mf_batch *b) {
    mf_experiment *e = load(s, NULL);
    mf_cfg *sec = mf_cfg_clone(mf_cfg_find(e->config, "encoder"));
    mf_rng rng;
    mf_rng_init(&rng, 7);
    mf_encoder *enc;
    CHECK(mf_plugin_create_encoder(e->registry, sec, &rng, &enc));
    mf_module_train(enc->module, true);
    mf_tensor *views[2] = {mf_batch_get(b, "view0"), mf_batch_get(b, "view1")}, *x;
    CHECK(mf_concat(2, views, 0, &x));
    double v[MAX_REPS];
    for (int r = -1; r < reps; r++) {
        mf_encoder_output eo = {0};
        mf_tensor *loss;
        double t0 = now();
        CHECK(enc->forward(enc, x, true, &eo));
        CHECK(mf_sum(eo.pooled, 0, NULL, false, &loss));
        CHECK(mf_backward(loss, NULL, false));
        double dt = now() - t0;
        mf_tensor_release(loss);
        mf_encoder_output_clear(&eo);
        mf_module_zero_grad(enc->module);
        if (r >= 0)
            v[r] = dt;
    }
    mf_tensor_release(x);
    enc->destroy(enc);
    mf_cfg_free(sec);
    mf_experiment_free(e);
    return best_of(v, reps);
}

static uint64_t lcg = 42;
static double urand(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

/* kNN (k = K) directed edges of n points z (n x d) into e (n * K, 2). */
static void knn(const double *z, int n, int d, int64_t *e) {
    int ne = 0;
    for (int i = 0; i < n; i++) {
        char used[NODES] = {0};
        used[i] = 1;
        for (int t = 0; t < K; t++) {
            int best = -1;
            double bd = INFINITY;
            for (int j = 0; j < n; j++) {
                double dist = 0;
                for (int c = 0; c < d && !used[j]; c++)
                    dist += (z[i * d + c] - z[j * d + c]) * (z[i * d + c] - z[j * d + c]);
                if (!used[j] && dist < bd) {
                    bd = dist;
                    best = j;
                }
            }
            used[best] = 1;
            e[2 * ne] = i;
            e[2 * ne + 1] = best;
            ne++;
        }
    }
}

static double cosine(const double *a, const double *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int c = 0; c < d; c++) {
        ab += a[c] * b[c];
        aa += a[c] * a[c];
        bb += b[c] * b[c];
    }
    return ab / sqrt(aa * bb + 1e-12);
}

/* G problems of the task's shapes: graph 2 a noisy copy of graph 1. */
static void make_problem(int64_t G, mf_tensor **u, mf_tensor **q, mf_tensor **e1, mf_tensor **e2) {
    enum { D = 8, E = NODES * K };
    int64_t su[3] = {G, NODES, NODES}, sq[3] = {G, E, E}, se[3] = {G, E, 2};
    CHECK(mf_tensor_empty(3, su, MF_F32, MF_DEVICE_CPU, u));
    CHECK(mf_tensor_empty(3, sq, MF_F32, MF_DEVICE_CPU, q));
    CHECK(mf_tensor_empty(3, se, MF_I64, MF_DEVICE_CPU, e1));
    CHECK(mf_tensor_empty(3, se, MF_I64, MF_DEVICE_CPU, e2));
    float *pu = mf_tensor_data(*u), *pq = mf_tensor_data(*q);
    int64_t *pe1 = mf_tensor_data(*e1), *pe2 = mf_tensor_data(*e2);
    for (int64_t g = 0; g < G; g++) {
        double z1[NODES * D], z2[NODES * D];
        for (int k = 0; k < NODES * D; k++) {
            z1[k] = urand() * 2 - 1;
            z2[k] = z1[k] + 0.8 * (urand() * 2 - 1);
        }
        int64_t *a = pe1 + g * E * 2, *b = pe2 + g * E * 2;
        knn(z1, NODES, D, a);
        knn(z2, NODES, D, b);
        for (int i = 0; i < NODES; i++)
            for (int j = 0; j < NODES; j++)
                pu[(g * NODES + i) * NODES + j] = (float)-cosine(z1 + i * D, z2 + j * D, D);
        for (int s1 = 0; s1 < E; s1++)
            for (int s2 = 0; s2 < E; s2++) {
                double d1[D], d2[D];
                for (int c = 0; c < D; c++) {
                    d1[c] = z1[a[2 * s1] * D + c] - z1[a[2 * s1 + 1] * D + c];
                    d2[c] = z2[b[2 * s2] * D + c] - z2[b[2 * s2 + 1] * D + c];
                }
                pq[(g * E + s1) * E + s2] = (float)-cosine(d1, d2, D);
            }
    }
}

static mf_cfg *parse(const char *text) {
    mf_cfg *c;
    CHECK(mf_cfg_parse_string(text, "bench", &c));
    return c;
}

/* gm solve alone; IMLE apply (forward) and backward through the hamming
 * loss, on G graphs. */
static void time_matching(const mf_registry *reg, int64_t G, bool quadratic, int reps, double *solve,
                          double *est_fwd, double *est_bwd) {
    mf_cfg *cs = parse("plugin: gm\n"), *ce = parse("plugin: imle\nlambda: 80\n"), *cl = parse("plugin: hamming\n");
    mf_solver *solver;
    mf_grad_estimator *est;
    mf_loss *loss_fn;
    CHECK(mf_plugin_create_solver(reg, cs, &solver));
    CHECK(mf_plugin_create_grad_estimator(reg, ce, &est));
    CHECK(mf_plugin_create_loss(reg, cl, &loss_fn));
    mf_tensor *u, *q, *e1, *e2, *x, *target;
    make_problem(G, &u, &q, &e1, &e2);
    CHECK(mf_tensor_zeros_like(u, &x));
    CHECK(mf_tensor_zeros_like(u, &target));
    float *pt = mf_tensor_data(target);
    for (int64_t g = 0; g < G; g++)
        for (int i = 0; i < NODES; i++)
            pt[(g * NODES + i) * NODES + i] = 1;
    CHECK(mf_tensor_set_requires_grad(u, true));
    CHECK(mf_tensor_set_requires_grad(q, true));
    mf_gm_problem p = {u, NULL, NULL, NULL};
    if (quadratic)
        p = (mf_gm_problem){u, q, e1, e2};
    mf_rng rng;
    mf_rng_init(&rng, 3);
    double vs[MAX_REPS], vf[MAX_REPS], vb[MAX_REPS];
    for (int r = -1; r < reps; r++) {
        double t0 = now();
        CHECK(solver->solve(solver, &p, x, NULL));
        double t1 = now();
        mf_tensor *xe, *l;
        CHECK(est->apply(est, solver, &p, &rng, &xe));
        double t2 = now();
        mf_batch in = {0}, logs = {0};
        CHECK(mf_batch_put(&in, "x", xe));
        CHECK(mf_batch_put(&in, "target", mf_tensor_retain(target)));
        CHECK(loss_fn->forward(loss_fn, &in, &l, &logs));
        double t3 = now();
        CHECK(mf_backward(l, NULL, false));
        double t4 = now();
        mf_batch_clear(&in);
        mf_batch_clear(&logs);
        mf_tensor_release(l);
        if (r >= 0) {
            vs[r] = t1 - t0;
            vf[r] = t2 - t1;
            vb[r] = t4 - t3;
        }
    }
    *solve = best_of(vs, reps);
    *est_fwd = best_of(vf, reps);
    *est_bwd = best_of(vb, reps);
    mf_tensor_release(u), mf_tensor_release(q), mf_tensor_release(e1), mf_tensor_release(e2);
    mf_tensor_release(x), mf_tensor_release(target);
    solver->destroy(solver);
    est->destroy(est);
    loss_fn->destroy(loss_fn);
    mf_cfg_free(cs), mf_cfg_free(ce), mf_cfg_free(cl);
}

static void row(const char *name, double s, double total) {
    printf("  %-50s %9.2f %6.1f%%\n", name, s * 1e3, 100 * s / total);
}

static void bench(const setup *s, int reps) {
    mf_rng rng;
    mf_rng_init(&rng, 1);
    mf_batch b = {0};
    make_batch(s, &rng, &b);
    int64_t G = s->B / NODES;
    const char *variants[N_VARIANTS] = {NULL, "task.message_passing=false", "task.alpha=1",
                                        "task.second_order=false"};
    double best[N_VARIANTS];
    time_steps(s, variants, reps, &b, best);
    double total = best[0], no_gcn = best[1], no_local = best[2], no_edge = best[3];
    double enc = time_encoder(s, reps, &b);
    mf_experiment *e = load(s, NULL);
    double solve, est_f, est_b, solve1, est_f1, est_b1;
    time_matching(e->registry, G, true, reps, &solve, &est_f, &est_b);
    time_matching(e->registry, G, false, reps, &solve1, &est_f1, &est_b1);
    mf_experiment_free(e);
    /* without second order the step also matches first-order problems */
    double edge = (total - no_edge) - ((est_f + est_b) - (est_f1 + est_b1));
    double rest = total - enc - est_f - est_b - (total - no_gcn) - (total - no_local) - edge;
    printf("== LVM-Med step, %s: %lld images x 2 views of %lldx%lldx%lld, %lld graphs of %d (kNN k=%d), %d threads, %s; "
           "best of %d\n",
           s->name, (long long)s->B, (long long)s->C, (long long)s->px, (long long)s->px, (long long)G, NODES, K,
           mf_num_threads(), clock_id == CLOCK_MONOTONIC ? "wall time" : "CPU time", reps);
    printf("  %-50s %9s %7s\n", "component", "ms", "share");
    row("encoder forward+backward (both views)", enc, total);
    row("GCN (step - step without message passing)", total - no_gcn, total);
    row("local affinity (step - step with alpha=1)", total - no_local, total);
    row("edge affinity (step - 1st-order step - gm's part)", edge, total);
    row("IMLE forward: perturbed gm solve", est_f, total);
    row("IMLE backward: second gm solve", est_b, total);
    row("rest: projector, kNN, global affinity, loss", rest, total);
    row("TOTAL step (train_step + backward)", total, total);
    printf("  %-50s %9.2f   (one unperturbed solve of the %lld graphs; first order: %.2f)\n",
           "for reference: gm solve", solve * 1e3, (long long)G, solve1 * 1e3);
    mf_batch_clear(&b);
}

int main(int argc, char **argv) {
    int reps = 9;
    int64_t px = 64;
    const char *which[4];
    int n_which = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--px") && i + 1 < argc)
            px = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cpu"))
            clock_id = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--root") && i + 1 < argc)
            snprintf(root, sizeof root, "%s", argv[++i]);
        else if (n_which < 4)
            which[n_which++] = argv[i];
    }
    if (reps < 1 || reps > MAX_REPS || px < 32) {
        fprintf(stderr, "usage: bench_lvmmed_step [--reps 1..%d] [--px >= 32] [--cpu] [--root SRC] [tiny|resnet50 ...]\n", MAX_REPS);
        return 2;
    }
    FILE *probe = fopen("configs/lvmmed/tiny.yaml", "r");
    if (probe)
        fclose(probe);
    else if (!strcmp(root, ".")) {
        const char *slash = strrchr(argv[0], '/');
        int len = slash ? (int)(slash - argv[0]) : 1;
        snprintf(root, sizeof root, "%.*s/../..", len, slash ? argv[0] : ".");
    }
    if (n_which == 0)
        which[n_which++] = "tiny";
    for (int i = 0; i < n_which; i++) {
        if (!strcmp(which[i], "tiny")) {
            setup s = {"tiny.yaml", "tiny.yaml", 0, {NULL}, 64, 1, 32};
            bench(&s, reps);
        } else if (!strcmp(which[i], "resnet50")) {
            setup s = {"resnet50.yaml (CPU)", "resnet50.yaml", 1, {"device=cpu"}, NODES, 3, px};
            bench(&s, reps);
        } else {
            fprintf(stderr, "bench_lvmmed_step: unknown setup '%s' (tiny, resnet50)\n", which[i]);
            return 2;
        }
    }
    return 0;
}
