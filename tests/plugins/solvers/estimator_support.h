/* Shared by the gradient estimator tests (imle, blackbox): the hand case,
 * the quadratic rule, and descent toward a target solution. */
#ifndef MF_TEST_ESTIMATOR_SUPPORT_H
#define MF_TEST_ESTIMATOR_SUPPORT_H

#include <math.h>

#include "tests/plugins/solvers/solver_support.h"

typedef struct ts_env {
    mf_registry *solvers, *est;
    mf_solver *lap, *gm;
    mf_grad_estimator *g;
} ts_env;

static inline ts_env ts_env_new(const char *estimator, const char *cfg) {
    ts_env e;
    e.solvers = ts_registry("lap");
    char path[1024];
    snprintf(path, sizeof path, "%s/lib/medfm/plugins/gm.so", MEDFM_BUILD_DIR);
    MF_OK_OR_FAIL(mf_registry_load(e.solvers, path));
    e.est = ts_registry(estimator);
    e.lap = ts_solver(e.solvers, "lap", NULL);
    e.gm = ts_solver(e.solvers, "gm", NULL);
    e.g = ts_estimator(e.est, estimator, cfg);
    return e;
}

static inline void ts_env_free(ts_env *e) {
    e->g->destroy(e->g);
    e->lap->destroy(e->lap);
    e->gm->destroy(e->gm);
    mf_registry_free(e->est);
    mf_registry_free(e->solvers);
}

/* c = [[0, 1], [1, 0]] gives x = I; with dL/dx = 0.02 I and lambda = 80 the
 * target costs [[1.6, 1], [1, 1.6]] give x' = antidiagonal, so
 * dL/dc = (x' - x) / 80 = [[-1, 1], [1, -1]] / 80. */
static inline void ts_check_hand_case(ts_env *e) {
    int64_t s[3] = {1, 2, 2};
    mf_tensor *c = t_param(t_from(3, s, MF_F64, (double[]){0, 1, 1, 0}));
    mf_tensor *x, *g = t_from(3, s, MF_F64, (double[]){0.02, 0, 0, 0.02});
    mf_rng rng = {7, 0};
    MF_OK_OR_FAIL(e->g->apply(e->g, e->lap, &(mf_gm_problem){.unary = c}, &rng, &x));
    cr_assert_eq(mf_tensor_get_flat(x, 0), 1);
    cr_assert_eq(mf_tensor_get_flat(x, 3), 1);
    MF_OK_OR_FAIL(mf_backward(x, g, false));
    cr_assert(c->grad);
    const double want[4] = {-1.0 / 80, 1.0 / 80, 1.0 / 80, -1.0 / 80};
    for (int k = 0; k < 4; k++)
        cr_assert(fabs(mf_tensor_get_flat(c->grad, k) - want[k]) < 1e-15, "grad[%d] = %g, want %g", k,
                  mf_tensor_get_flat(c->grad, k), want[k]);
    mf_tensor_release(x);
    mf_tensor_release(g);
    mf_tensor_release(c);
}

/* Same case through gm with edges (0 -> 1) in graph 1 and (0 -> 1), (1 -> 0)
 * in graph 2 and zero quadratic costs: dL/dq = (x'_0a x'_1c - x_0a x_1c)/80
 * is -1/80 for (0 -> 1) (x had it) and +1/80 for (1 -> 0) (x' has it). */
static inline void ts_check_quadratic_rule(ts_env *e) {
    int64_t s[3] = {1, 2, 2}, sq[3] = {1, 1, 2}, se1[3] = {1, 1, 2}, se2[3] = {1, 2, 2};
    mf_tensor *c = t_param(t_from(3, s, MF_F64, (double[]){0, 1, 1, 0}));
    mf_tensor *q = t_param(t_from(3, sq, MF_F64, (double[]){0, 0}));
    mf_tensor *e1, *e2, *x, *g = t_from(3, s, MF_F64, (double[]){0.02, 0, 0, 0.02});
    MF_OK_OR_FAIL(mf_tensor_from_data(3, se1, MF_I64, (int64_t[]){0, 1}, &e1));
    MF_OK_OR_FAIL(mf_tensor_from_data(3, se2, MF_I64, (int64_t[]){0, 1, 1, 0}, &e2));
    mf_rng rng = {7, 0};
    MF_OK_OR_FAIL(e->g->apply(e->g, e->gm, &(mf_gm_problem){c, q, e1, e2}, &rng, &x));
    MF_OK_OR_FAIL(mf_backward(x, g, false));
    cr_assert(q->grad);
    cr_assert(fabs(mf_tensor_get_flat(q->grad, 0) + 1.0 / 80) < 1e-15, "%g", mf_tensor_get_flat(q->grad, 0));
    cr_assert(fabs(mf_tensor_get_flat(q->grad, 1) - 1.0 / 80) < 1e-15, "%g", mf_tensor_get_flat(q->grad, 1));
    cr_assert(fabs(mf_tensor_get_flat(c->grad, 0) + 1.0 / 80) < 1e-15);
    mf_tensor_release(x);
    mf_tensor_release(g);
    mf_tensor_release(c);
    mf_tensor_release(q);
    mf_tensor_release(e1);
    mf_tensor_release(e2);
}

/* Gradient descent on the costs with the Hamming loss toward a target
 * permutation: the loss must reach 0 (no finite differences involved). */
static inline void ts_check_descent(ts_env *e, mf_solver *solver, bool quadratic) {
    enum { N = 6, B = 4 };
    int64_t s[3] = {B, N, N};
    mf_tensor *c = t_uniform(3, 3, s, MF_F64, -1, 1);
    double target[B * N * N] = {0};
    for (int b = 0; b < B; b++) {
        int perm[N] = {3, 0, 5, 1, 4, 2};
        for (int i = 0; i < N; i++)
            target[(b * N + i) * N + perm[(i + b) % N]] = 1;
    }
    /* a ring in both graphs with zero-mean random quadratic costs */
    int64_t sq[3] = {B, N, N}, se[3] = {B, N, 2};
    mf_tensor *q = quadratic ? t_uniform(4, 3, sq, MF_F64, -0.2, 0.2) : NULL, *e1 = NULL, *e2 = NULL;
    if (quadratic) {
        int64_t ring[B * N * 2];
        for (int b = 0; b < B; b++)
            for (int i = 0; i < N; i++) {
                ring[(b * N + i) * 2] = i;
                ring[(b * N + i) * 2 + 1] = (i + 1) % N;
            }
        MF_OK_OR_FAIL(mf_tensor_from_data(3, se, MF_I64, ring, &e1));
        MF_OK_OR_FAIL(mf_tensor_from_data(3, se, MF_I64, ring, &e2));
    }
    mf_rng rng = {11, 0};
    double loss = INFINITY, first = -1;
    for (int step = 0; step < 60 && loss > 0; step++) {
        mf_tensor *cp = t_param(c), *qp = q ? t_param(q) : NULL, *x;
        MF_OK_OR_FAIL(e->g->apply(e->g, solver, &(mf_gm_problem){cp, qp, e1, e2}, &rng, &x));
        double grad[B * N * N];
        loss = 0;
        for (int k = 0; k < B * N * N; k++) {
            double xv = mf_tensor_get_flat(x, k);
            loss += xv * (1 - target[k]) + target[k] * (1 - xv);
            grad[k] = 1 - 2 * target[k];
        }
        if (first < 0)
            first = loss;
        mf_tensor *g = t_from(3, s, MF_F64, grad);
        MF_OK_OR_FAIL(mf_backward(x, g, false));
        for (int k = 0; k < B * N * N; k++)
            mf_tensor_set_flat(c, k, mf_tensor_get_flat(c, k) - 40.0 * mf_tensor_get_flat(cp->grad, k));
        if (q)
            for (int k = 0; k < B * N * N; k++)
                mf_tensor_set_flat(q, k, mf_tensor_get_flat(q, k) - 40.0 * mf_tensor_get_flat(qp->grad, k));
        mf_tensor_zero_grad(cp);
        if (qp)
            mf_tensor_zero_grad(qp);
        mf_tensor_release(g);
        mf_tensor_release(x);
    }
    cr_assert(first > 0, "the start is not already the target");
    cr_assert(loss < first * 0.25, "Hamming loss went from %g to %g", first, loss);
    mf_tensor_release(c);
    mf_tensor_release(q);
    mf_tensor_release(e1);
    mf_tensor_release(e2);
}

#endif
