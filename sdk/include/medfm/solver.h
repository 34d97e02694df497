/* Combinatorial solvers and the gradient estimators that differentiate
 * through them (plugin kinds "solver" and "grad_estimator").
 *
 * A batch of B graph-matching problems, minimised:
 *   sum_ia unary[b,i,a] x_ia + sum_(e1,e2) quadratic[b,e1,e2] x_(i,a) x_(j,c)
 * where edge e1 = (i -> j) of graph 1 is edges1[b,e1,:] and edge
 * e2 = (a -> c) of graph 2 is edges2[b,e2,:]. x (B, N, M) is a 0/1 matrix
 * with at most one 1 per row and column (a full assignment of the smaller
 * side). Without the quadratic term this is linear assignment. */
#ifndef MEDFM_SOLVER_H
#define MEDFM_SOLVER_H

#include "medfm/config.h"
#include "medfm/ops/random.h"
#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_gm_problem {
    const mf_tensor *unary;     /* (B, N, M) f32 or f64, CPU or device */
    const mf_tensor *quadratic; /* (B, E1, E2) same dtype, or NULL */
    const mf_tensor *edges1;    /* (B, E1, 2) i64, or NULL */
    const mf_tensor *edges2;    /* (B, E2, 2) i64, or NULL */
} mf_gm_problem;

/* Summed over the batch (gap = primal - lower_bound, where the solver
 * computes a bound; lower_bound is NAN otherwise). */
typedef struct mf_solver_stats {
    double primal;
    double lower_bound;
    int64_t iterations;
    int64_t proven_optimal; /* problems whose bound meets the primal */
    double seconds;
} mf_solver_stats;

typedef struct mf_solver mf_solver;
struct mf_solver {
    uint32_t size;
    const char *name;
    void *state;
    /* Writes the solutions into x (B, N, M), preallocated with the unary's
     * dtype and device. NaN or infinite costs are errors. stats may be NULL. */
    mf_status (*solve)(mf_solver *s, const mf_gm_problem *p, mf_tensor *x, mf_solver_stats *stats);
    void (*destroy)(mf_solver *s);
};

typedef struct mf_solver_vtable {
    uint32_t size;
    /* cfg: the solver's config section (its plugin schema's keys). */
    mf_status (*create)(const mf_cfg *cfg, mf_solver **out);
} mf_solver_vtable;

typedef struct mf_grad_estimator mf_grad_estimator;
struct mf_grad_estimator {
    uint32_t size;
    const char *name;
    void *state;
    /* x = solver(costs [+ noise]) as a differentiable op of unary and
     * quadratic: its backward estimates d loss / d costs (blackbox / IMLE
     * style). rng supplies the noise. */
    mf_status (*apply)(mf_grad_estimator *g, mf_solver *solver, const mf_gm_problem *p, mf_rng *rng, mf_tensor **x);
    void (*destroy)(mf_grad_estimator *g);
};

typedef struct mf_grad_estimator_vtable {
    uint32_t size;
    mf_status (*create)(const mf_cfg *cfg, mf_grad_estimator **out);
} mf_grad_estimator_vtable;

#ifdef __cplusplus
}
#endif
#endif
