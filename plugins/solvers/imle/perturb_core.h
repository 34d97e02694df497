/* Differentiating through a combinatorial solver by re-solving at
 * perturbed costs: the shared core of the `imle` and `blackbox` gradient
 * estimators (header-only, every function static; blackbox includes it).
 *
 * Forward: draw noise eps (per sample s, from the caller's mf_rng stream),
 * solve x_s = argmin (c + eps_s) . x, return x = mean_s x_s as an autograd op
 * of the unary (and quadratic) costs. Backward, with g = dL/dx: solve
 * x'_s = argmin (c + eps_s + lambda g) . x with the same noise, and return
 *     dL/dc_ia        ~ mean_s (x'_s,ia - x_s,ia) / lambda
 *     dL/dq_(e1,e2)   ~ mean_s (x'_ia x'_jc - x_ia x_jc)_s / lambda
 * for e1 = (i -> j), e2 = (a -> c). The sign is for costs that are
 * minimised: moving c against this gradient moves the solution toward
 * x', the solution that lowers the linearised loss (Vlastelica et al.
 * write it -(x - x')/lambda; IMLE's (x - x')/lambda is the same rule in
 * its maximisation convention, theta = -c).
 *
 * Noise is subtracted from costs (argmin (c - tau G) = argmax (-c + tau G),
 * the Gumbel-max form): Gumbel(0, 1) scaled by tau, or Sum-of-Gamma
 *     SoG(k, tau, s) = tau / k * (sum_{i=1..s} Gamma(1/k, scale k/i) - log s)
 * with k = min(N, M), the number of ones in a solution (Niepert et al.
 * 2021). Element e of a draw uses its own counter-based stream keyed by
 * (rng->seed, rng->offset + e), so draws do not depend on thread count;
 * rng->offset advances by the number of elements drawn. */
#ifndef MEDFM_PLUGIN_PERTURB_CORE_H
#define MEDFM_PLUGIN_PERTURB_CORE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../lap/host_io.h"
#include "medfm/autograd.h"
#include "medfm/ops/random.h"
#include "medfm/solver.h"

enum { PC_NOISE_NONE = 0, PC_NOISE_GUMBEL = 1, PC_NOISE_SOG = 2 };

typedef struct pc_cfg {
    const char *name; /* "imle" or "blackbox", for messages and op names */
    double lambda, temperature;
    int noise;
    int64_t samples, sog_terms;
    bool perturb_quadratic;
} pc_cfg;

static uint64_t pc_mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1), never 0 or 1. */
static double pc_uniform(uint64_t *s) {
    *s = pc_mix(*s);
    return ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
}

static double pc_normal(uint64_t *s) {
    double u1 = pc_uniform(s), u2 = pc_uniform(s);
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Gamma(shape a, scale 1): Marsaglia-Tsang, boosted for a < 1. */
static double pc_gamma(uint64_t *s, double a) {
    double boost = 1;
    if (a < 1) {
        boost = pow(pc_uniform(s), 1 / a);
        a += 1;
    }
    const double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = pc_normal(s), v = 1 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = pc_uniform(s);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return boost * d * v;
    }
}

/* Fills out[0..count) with the noise to add to costs. */
static void pc_draw(const pc_cfg *cfg, mf_rng *rng, int64_t k, double *out, int64_t count) {
    for (int64_t e = 0; e < count; e++) {
        uint64_t s = pc_mix(rng->seed ^ pc_mix(rng->offset + (uint64_t)e));
        double z = 0;
        if (cfg->noise == PC_NOISE_GUMBEL) {
            z = -log(-log(pc_uniform(&s)));
        } else if (cfg->noise == PC_NOISE_SOG) {
            double acc = 0;
            for (int64_t i = 1; i <= cfg->sog_terms; i++)
                acc += pc_gamma(&s, 1.0 / k) * ((double)k / i);
            z = (acc - log((double)cfg->sog_terms)) / k;
        }
        out[e] = -cfg->temperature * z;
    }
    rng->offset += (uint64_t)count;
}

/* What the backward needs: perturbed costs and forward solutions of every
 * sample, stacked as a batch of S * B problems. */
typedef struct pc_ctx {
    pc_cfg cfg;
    mf_solver *solver; /* borrowed: must outlive the backward */
    int64_t S, B, N, M, E1, E2;
    double *cu, *cq, *x;
    int64_t *e1, *e2;
} pc_ctx;

static void pc_ctx_free(void *p) {
    pc_ctx *c = p;
    if (!c)
        return;
    free(c->cu);
    free(c->cq);
    free(c->x);
    free(c->e1);
    free(c->e2);
    free(c);
}

/* Solves the stacked batch with unary `cu` into xs (S*B*N*M). */
static mf_status pc_solve(pc_ctx *c, const double *cu, double *xs) {
    const int64_t SB = c->S * c->B;
    int64_t su[3] = {SB, c->N, c->M}, sq[3] = {SB, c->E1, c->E2}, se1[3] = {SB, c->E1, 2}, se2[3] = {SB, c->E2, 2};
    mf_tensor *u = NULL, *q = NULL, *e1 = NULL, *e2 = NULL, *x = NULL;
    mf_status st = MF_OK;
    MF_CHECK(mf_tensor_wrap(3, su, MF_F64, MF_DEVICE_CPU, (void *)cu, NULL, NULL, &u));
    MF_CHECK(mf_tensor_wrap(3, su, MF_F64, MF_DEVICE_CPU, xs, NULL, NULL, &x));
    if (c->cq) {
        MF_CHECK(mf_tensor_wrap(3, sq, MF_F64, MF_DEVICE_CPU, c->cq, NULL, NULL, &q));
        MF_CHECK(mf_tensor_wrap(3, se1, MF_I64, MF_DEVICE_CPU, c->e1, NULL, NULL, &e1));
        MF_CHECK(mf_tensor_wrap(3, se2, MF_I64, MF_DEVICE_CPU, c->e2, NULL, NULL, &e2));
    }
    {
        mf_gm_problem p = {u, q, e1, e2};
        MF_CHECK(c->solver->solve(c->solver, &p, x, NULL));
    }
cleanup:
    mf_tensor_release(u);
    mf_tensor_release(q);
    mf_tensor_release(e1);
    mf_tensor_release(e2);
    mf_tensor_release(x);
    return st;
}

/* A new tensor of the given shape, dtype and device holding host f64 values. */
static mf_status pc_to_tensor(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, double *host,
                              mf_tensor **out) {
    mf_tensor *t = NULL;
    MF_TRY(mf_tensor_empty(ndim, shape, dt, dev, &t));
    mf_status st = hio_write_f64(t, host);
    if (st != MF_OK) {
        mf_tensor_release(t);
        return st;
    }
    *out = t;
    return MF_OK;
}

static mf_status pc_backward(mf_node *node, const mf_tensor *grad_out, mf_tensor **gin) {
    pc_ctx *c = node->ctx;
    if (!c)
        return MF_ERR(MF_ERR_STATE, "%s: backward without saved state", node->op);
    const char *op = c->cfg.name;
    const int64_t S = c->S, B = c->B, N = c->N, M = c->M, E1 = c->E1, E2 = c->E2, BNM = B * N * M;
    if (grad_out->ndim != 3 || grad_out->shape[0] != B || grad_out->shape[1] != N || grad_out->shape[2] != M)
        return MF_ERR(MF_ERR_SHAPE, "%s: gradient %s does not match the solution [%lld, %lld, %lld]", op,
                      MF_SHAPE(grad_out), (long long)B, (long long)N, (long long)M);
    mf_status st = MF_OK;
    double *g = malloc(sizeof(double) * (size_t)(BNM + 1));
    double *tu = malloc(sizeof(double) * (size_t)(S * BNM + 1));
    double *xt = calloc((size_t)(S * BNM + 1), sizeof(double));
    double *gu = calloc((size_t)(BNM + 1), sizeof(double));
    double *gq = (node->in[1] && c->cq) ? calloc((size_t)(B * E1 * E2 + 1), sizeof(double)) : NULL;
    if (!g || !tu || !xt || !gu || (node->in[1] && c->cq && !gq)) {
        st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory in backward", op);
        goto cleanup;
    }
    MF_CHECK(hio_read_f64(grad_out, g, (size_t)BNM));
    for (int64_t k = 0; k < BNM; k++)
        if (!isfinite(g[k])) {
            st = MF_ERR(MF_ERR_INVALID, "%s: gradient of the solution is %g at batch %lld", op, g[k],
                        (long long)(k / (N * M)));
            goto cleanup;
        }
    const double lam = c->cfg.lambda, w = 1.0 / ((double)S * lam);
    for (int64_t s = 0; s < S; s++)
        for (int64_t k = 0; k < BNM; k++)
            tu[s * BNM + k] = c->cu[s * BNM + k] + lam * g[k];
    MF_CHECK(pc_solve(c, tu, xt));
    for (int64_t s = 0; s < S; s++)
        for (int64_t k = 0; k < BNM; k++)
            gu[k] += (xt[s * BNM + k] - c->x[s * BNM + k]) * w;
    if (gq)
        for (int64_t s = 0; s < S; s++)
            for (int64_t b = 0; b < B; b++) {
                const int64_t sb = s * B + b;
                const double *x0 = c->x + sb * N * M, *x1 = xt + sb * N * M;
                const int64_t *a1 = c->e1 + sb * E1 * 2, *a2 = c->e2 + sb * E2 * 2;
                for (int64_t p = 0; p < E1; p++) {
                    const int64_t i = a1[2 * p], j = a1[2 * p + 1];
                    for (int64_t r = 0; r < E2; r++) {
                        const int64_t a = a2[2 * r], cc = a2[2 * r + 1];
                        double d = x1[i * M + a] * x1[j * M + cc] - x0[i * M + a] * x0[j * M + cc];
                        gq[(b * E1 + p) * E2 + r] += d * w;
                    }
                }
            }
    if (node->in[0])
        MF_CHECK(pc_to_tensor(3, node->in[0]->shape, node->in[0]->dtype, node->in[0]->storage->device, gu, &gin[0]));
    if (node->in[1]) {
        if (gq)
            MF_CHECK(pc_to_tensor(3, node->in[1]->shape, node->in[1]->dtype, node->in[1]->storage->device, gq,
                                  &gin[1]));
        else
            MF_CHECK(mf_tensor_zeros_like(node->in[1], &gin[1]));
    }
cleanup:
    free(g);
    free(tu);
    free(xt);
    free(gu);
    free(gq);
    return st;
}

static mf_status pc_apply(const pc_cfg *cfg, mf_solver *solver, const mf_gm_problem *p, mf_rng *rng, mf_tensor **xout) {
    const char *op = cfg->name;
    if (!solver || !p || !p->unary || !xout)
        return MF_ERR(MF_ERR_INVALID, "%s: solver, problem with unary costs, and output are required", op);
    const mf_tensor *u = p->unary, *q = p->quadratic;
    if (u->ndim != 3)
        return MF_ERR(MF_ERR_SHAPE, "%s: unary costs must be (B, N, M), got %s", op, MF_SHAPE(u));
    if (u->dtype != MF_F32 && u->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "%s: unary costs must be f32 or f64, got %s", op, mf_dtype_name(u->dtype));
    const int64_t B = u->shape[0], N = u->shape[1], M = u->shape[2];
    int64_t E1 = 0, E2 = 0;
    if (q) {
        if (!p->edges1 || !p->edges2 || q->ndim != 3 || p->edges1->ndim != 3 || p->edges2->ndim != 3 ||
            q->shape[0] != B || p->edges1->shape[1] != q->shape[1] || p->edges2->shape[1] != q->shape[2] ||
            p->edges1->shape[0] != B || p->edges2->shape[0] != B || p->edges1->shape[2] != 2 ||
            p->edges2->shape[2] != 2)
            return MF_ERR(MF_ERR_SHAPE, "%s: quadratic %s needs edges1 (B, E1, 2) and edges2 (B, E2, 2) with B = %lld",
                          op, MF_SHAPE(q), (long long)B);
        E1 = q->shape[1];
        E2 = q->shape[2];
    }
    if (cfg->noise != PC_NOISE_NONE && !rng)
        return MF_ERR(MF_ERR_INVALID, "%s: noise '%s' needs an rng", op, cfg->noise == PC_NOISE_GUMBEL ? "gumbel" : "sum_of_gamma");
    const int64_t S = cfg->noise == PC_NOISE_NONE ? 1 : cfg->samples, BNM = B * N * M, BQ = B * E1 * E2;
    mf_status st = MF_OK;
    double *un = NULL, *qq = NULL, *noise = NULL, *xm = NULL;
    int64_t *e1 = NULL, *e2 = NULL;
    mf_tensor *x = NULL;
    pc_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", op);
    *c = (pc_ctx){.cfg = *cfg, .solver = solver, .S = S, .B = B, .N = N, .M = M, .E1 = E1, .E2 = E2};
    un = malloc(sizeof(double) * (size_t)(BNM + 1));
    c->cu = malloc(sizeof(double) * (size_t)(S * BNM + 1));
    c->x = calloc((size_t)(S * BNM + 1), sizeof(double));
    xm = calloc((size_t)(BNM + 1), sizeof(double));
    if (!un || !c->cu || !c->x || !xm) {
        st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory for %s", op, MF_SHAPE(u));
        goto cleanup;
    }
    if (!q)
        MF_CHECK(hio_read_f64(u, un, (size_t)BNM));
    if (q) {
        qq = malloc(sizeof(double) * (size_t)(BQ + 1));
        e1 = malloc(sizeof(int64_t) * (size_t)(B * E1 * 2 + 1));
        e2 = malloc(sizeof(int64_t) * (size_t)(B * E2 * 2 + 1));
        c->cq = malloc(sizeof(double) * (size_t)(S * BQ + 1));
        c->e1 = malloc(sizeof(int64_t) * (size_t)(S * B * E1 * 2 + 1));
        c->e2 = malloc(sizeof(int64_t) * (size_t)(S * B * E2 * 2 + 1));
        if (!qq || !e1 || !e2 || !c->cq || !c->e1 || !c->e2) {
            st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory for quadratic %s", op, MF_SHAPE(q));
            goto cleanup;
        }
        MF_CHECK(hio_read2_f64(u, un, (size_t)BNM, q, qq, (size_t)BQ)); /* one read of the step's costs */
        MF_CHECK(mf_tensor_to_host(p->edges1, MF_I64, e1, sizeof(int64_t) * (size_t)(B * E1 * 2)));
        MF_CHECK(mf_tensor_to_host(p->edges2, MF_I64, e2, sizeof(int64_t) * (size_t)(B * E2 * 2)));
        for (int64_t k = 0; k < B * E1 * 2; k++)
            if (e1[k] < 0 || e1[k] >= N) {
                st = MF_ERR(MF_ERR_INVALID, "%s: edges1 at batch %lld names node %lld, outside [0, %lld)", op,
                            (long long)(k / (E1 * 2)), (long long)e1[k], (long long)N);
                goto cleanup;
            }
        for (int64_t k = 0; k < B * E2 * 2; k++)
            if (e2[k] < 0 || e2[k] >= M) {
                st = MF_ERR(MF_ERR_INVALID, "%s: edges2 at batch %lld names node %lld, outside [0, %lld)", op,
                            (long long)(k / (E2 * 2)), (long long)e2[k], (long long)M);
                goto cleanup;
            }
        for (int64_t s = 0; s < S; s++) {
            memcpy(c->cq + s * BQ, qq, sizeof(double) * (size_t)BQ);
            memcpy(c->e1 + s * B * E1 * 2, e1, sizeof(int64_t) * (size_t)(B * E1 * 2));
            memcpy(c->e2 + s * B * E2 * 2, e2, sizeof(int64_t) * (size_t)(B * E2 * 2));
        }
    }
    for (int64_t s = 0; s < S; s++)
        memcpy(c->cu + s * BNM, un, sizeof(double) * (size_t)BNM);
    if (cfg->noise != PC_NOISE_NONE) {
        const int64_t k = N < M ? N : M;
        const int64_t nn = S * BNM > S * BQ ? S * BNM : S * BQ;
        noise = malloc(sizeof(double) * (size_t)(nn + 1));
        if (!noise) {
            st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory for noise", op);
            goto cleanup;
        }
        pc_draw(cfg, rng, k > 0 ? k : 1, noise, S * BNM);
        for (int64_t t = 0; t < S * BNM; t++)
            c->cu[t] += noise[t];
        if (q && cfg->perturb_quadratic) {
            pc_draw(cfg, rng, k > 0 ? k : 1, noise, S * BQ);
            for (int64_t t = 0; t < S * BQ; t++)
                c->cq[t] += noise[t];
        }
    }
    MF_CHECK(pc_solve(c, c->cu, c->x));
    for (int64_t s = 0; s < S; s++)
        for (int64_t t = 0; t < BNM; t++)
            xm[t] += c->x[s * BNM + t] / (double)S;
    MF_CHECK(pc_to_tensor(3, u->shape, u->dtype, u->storage->device, xm, &x));
    {
        mf_tensor *ins[2] = {(mf_tensor *)u, (mf_tensor *)q};
        mf_node *node;
        MF_CHECK(mf_autograd_record(cfg->name, x, 2, ins, pc_backward, &node));
        if (node) {
            node->ctx = c;
            node->ctx_free = pc_ctx_free;
            c = NULL;
        }
    }
    *xout = x;
    x = NULL;
cleanup:
    pc_ctx_free(c);
    free(un);
    free(qq);
    free(e1);
    free(e2);
    free(noise);
    free(xm);
    mf_tensor_release(x);
    return st;
}

static void pc_destroy(mf_grad_estimator *g) {
    if (!g)
        return;
    free(g->state);
    free(g);
}

#endif
