/* The imle gradient estimator: without noise it is the hand-computed
 * rule; with noise the backward reuses the forward's noise (a zero loss
 * gradient gives exactly zero), draws follow the rng stream, samples
 * average, and descent on costs reaches a target. */
#include <math.h>

#include "tests/core/backend/cuda_testing.h"
#include "tests/plugins/solvers/estimator_support.h"

Test(imle, without_noise_the_gradient_of_a_hand_case_is_x_target_minus_x_over_lambda) {
    ts_env e = ts_env_new("imle", "noise: none\n");
    ts_check_hand_case(&e);
    ts_env_free(&e);
}

Test(imle, quadratic_gradient_is_the_outer_product_difference_over_lambda) {
    ts_env e = ts_env_new("imle", "noise: none\n");
    ts_check_quadratic_rule(&e);
    ts_env_free(&e);
}

static void check_noise_reuse(const char *cfg, bool quadratic) {
    ts_env e = ts_env_new("imle", cfg);
    enum { B = 8, N = 5 };
    int64_t s[3] = {B, N, N}, sq[3] = {B, N, N}, se[3] = {B, N, 2};
    mf_tensor *c = t_param(t_uniform(1, 3, s, MF_F64, -1, 1));
    mf_tensor *q = quadratic ? t_param(t_uniform(2, 3, sq, MF_F64, -0.3, 0.3)) : NULL, *e1 = NULL, *e2 = NULL;
    if (quadratic) {
        int64_t ring[B * N * 2];
        for (int k = 0; k < B * N; k++) {
            ring[2 * k] = k % N;
            ring[2 * k + 1] = (k + 1) % N;
        }
        MF_OK_OR_FAIL(mf_tensor_from_data(3, se, MF_I64, ring, &e1));
        MF_OK_OR_FAIL(mf_tensor_from_data(3, se, MF_I64, ring, &e2));
    }
    mf_solver *solver = quadratic ? e.gm : e.lap;
    mf_rng rng = {3, 0};
    for (int rep = 0; rep < 5; rep++) {
        mf_tensor *x, *g;
        MF_OK_OR_FAIL(e.g->apply(e.g, solver, &(mf_gm_problem){c, q, e1, e2}, &rng, &x));
        MF_OK_OR_FAIL(mf_tensor_zeros_like(x, &g));
        MF_OK_OR_FAIL(mf_backward(x, g, false));
        for (int k = 0; k < B * N * N; k++)
            cr_assert_eq(mf_tensor_get_flat(c->grad, k), 0, "same noise, same solution: zero gradient");
        if (q)
            for (int k = 0; k < B * N * N; k++)
                cr_assert_eq(mf_tensor_get_flat(q->grad, k), 0);
        mf_tensor_zero_grad(c);
        if (q)
            mf_tensor_zero_grad(q);
        mf_tensor_release(x);
        mf_tensor_release(g);
    }
    mf_tensor_release(c);
    mf_tensor_release(q);
    mf_tensor_release(e1);
    mf_tensor_release(e2);
    ts_env_free(&e);
}

Test(imle, backward_reuses_the_forward_gumbel_noise) { check_noise_reuse("temperature: 5.0\n", false); }
Test(imle, backward_reuses_the_forward_sum_of_gamma_noise_on_gm_problems) {
    check_noise_reuse("noise: sum_of_gamma\ntemperature: 5.0\nsamples: 3\n", true);
}

Test(imle, noise_follows_the_rng_stream_and_changes_solutions) {
    ts_env e = ts_env_new("imle", "temperature: 3.0\n");
    int64_t s[3] = {16, 6, 6};
    mf_tensor *c = t_uniform(5, 3, s, MF_F64, 0, 0.1), *x1, *x2, *x3;
    mf_rng a = {9, 0}, b = {9, 0};
    MF_OK_OR_FAIL(e.g->apply(e.g, e.lap, &(mf_gm_problem){.unary = c}, &a, &x1));
    cr_assert_eq(a.offset, 16 * 36, "one draw per unary element");
    MF_OK_OR_FAIL(e.g->apply(e.g, e.lap, &(mf_gm_problem){.unary = c}, &b, &x2));
    MF_OK_OR_FAIL(e.g->apply(e.g, e.lap, &(mf_gm_problem){.unary = c}, &a, &x3));
    int diff = 0;
    for (int k = 0; k < 16 * 36; k++) {
        cr_assert_eq(mf_tensor_get_flat(x1, k), mf_tensor_get_flat(x2, k), "same seed and offset, same x");
        diff += mf_tensor_get_flat(x1, k) != mf_tensor_get_flat(x3, k);
    }
    cr_assert(diff > 0, "the next draw perturbs differently");
    mf_tensor_release(c);
    mf_tensor_release(x1);
    mf_tensor_release(x2);
    mf_tensor_release(x3);
    ts_env_free(&e);
}

Test(imle, samples_average_into_a_doubly_substochastic_x) {
    ts_env e = ts_env_new("imle", "temperature: 3.0\nsamples: 8\n");
    int64_t s[3] = {2, 4, 5};
    mf_tensor *c = t_uniform(6, 3, s, MF_F32, 0, 0.1), *x;
    mf_rng rng = {1, 0};
    MF_OK_OR_FAIL(e.g->apply(e.g, e.lap, &(mf_gm_problem){.unary = c}, &rng, &x));
    cr_assert_eq(x->dtype, MF_F32);
    bool fractional = false;
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 4; i++) {
            double row = 0;
            for (int a = 0; a < 5; a++) {
                double v = mf_tensor_get_flat(x, (b * 4 + i) * 5 + a);
                cr_assert(v >= 0 && v <= 1);
                fractional |= v > 0 && v < 1;
                row += v;
            }
            cr_assert(fabs(row - 1) < 1e-6);
        }
    cr_assert(fractional, "8 noisy samples of near-tied costs do not all agree");
    mf_tensor_release(c);
    mf_tensor_release(x);
    ts_env_free(&e);
}

Test(imle, descent_on_costs_moves_noisy_lap_solutions_to_the_target) {
    ts_env e = ts_env_new("imle", "temperature: 0.1\n");
    ts_check_descent(&e, e.lap, false);
    ts_env_free(&e);
}

Test(imle, descent_on_costs_moves_noisy_gm_solutions_to_the_target) {
    ts_env e = ts_env_new("imle", "temperature: 0.1\nnoise: sum_of_gamma\n");
    ts_check_descent(&e, e.gm, true);
    ts_env_free(&e);
}

Test(imle, noise_without_an_rng_and_unknown_noise_are_errors) {
    ts_env e = ts_env_new("imle", NULL);
    int64_t s[3] = {1, 2, 2};
    mf_tensor *c = t_uniform(6, 3, s, MF_F64, 0, 1), *x = NULL;
    cr_assert_eq(e.g->apply(e.g, e.lap, &(mf_gm_problem){.unary = c}, NULL, &x), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "imle") && strstr(mf_last_error(), "rng"));
    const mf_plugin_info *info;
    MF_OK_OR_FAIL(mf_registry_get(e.est, MF_KIND_GRAD_ESTIMATOR, "imle", &info));
    mf_cfg *cfg;
    MF_OK_OR_FAIL(mf_cfg_parse_string("noise: cauchy\n", "test", &cfg));
    mf_grad_estimator *g;
    cr_assert_eq(((const mf_grad_estimator_vtable *)info->vtable)->create(cfg, &g), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "cauchy"));
    mf_cfg_free(cfg);
    mf_tensor_release(c);
    ts_env_free(&e);
}

/* One second-order step as LVM-Med runs it on a GPU: f32 costs on the
 * device (read back together in one copy), edges on the host. Solutions
 * and both gradients equal the CPU's. Skips without a CUDA backend. */
static void gpu_step(ts_env *e, mf_device dev, mf_tensor *c0, mf_tensor *q0, mf_tensor *e1, mf_tensor *go, double *x,
                     double *gc, double *gq, int n) {
    mf_tensor *c = t_on(c0, dev, true), *q = t_on(q0, dev, true), *g = t_on(go, dev, false), *xs;
    MF_OK_OR_FAIL(e->g->apply(e->g, e->gm, &(mf_gm_problem){c, q, e1, e1}, NULL, &xs));
    MF_OK_OR_FAIL(mf_backward(xs, g, false));
    MF_OK_OR_FAIL(mf_tensor_to_host(xs, MF_F64, x, sizeof(double) * (size_t)n));
    MF_OK_OR_FAIL(mf_tensor_to_host(c->grad, MF_F64, gc, sizeof(double) * (size_t)n));
    MF_OK_OR_FAIL(mf_tensor_to_host(q->grad, MF_F64, gq, sizeof(double) * (size_t)n));
    mf_tensor_release(c);
    mf_tensor_release(q);
    mf_tensor_release(g);
    mf_tensor_release(xs);
}

Test(imle, a_second_order_step_on_the_gpu_gives_the_cpu_solutions_and_gradients) {
    t_need_cuda();
    ts_env e = ts_env_new("imle", "noise: none\nlambda: 4\n");
    enum { B = 4, N = 5 };
    int64_t s[3] = {B, N, N}, se[3] = {B, N, 2}, ring[B * N * 2];
    for (int k = 0; k < B * N; k++) {
        ring[2 * k] = k % N;
        ring[2 * k + 1] = (k + 1) % N;
    }
    mf_tensor *c = t_uniform(1, 3, s, MF_F32, -1, 1), *q = t_uniform(2, 3, s, MF_F32, -0.3, 0.3);
    mf_tensor *go = t_uniform(3, 3, s, MF_F32, -1, 1), *edges;
    MF_OK_OR_FAIL(mf_tensor_from_data(3, se, MF_I64, ring, &edges));
    double x[2][B * N * N], gc[2][B * N * N], gq[2][B * N * N];
    gpu_step(&e, MF_DEVICE_CPU, c, q, edges, go, x[0], gc[0], gq[0], B * N * N);
    gpu_step(&e, T_CUDA, c, q, edges, go, x[1], gc[1], gq[1], B * N * N);
    double moved = 0;
    for (int k = 0; k < B * N * N; k++) {
        cr_assert_eq(x[1][k], x[0][k], "solution at %d", k);
        cr_assert_float_eq(gc[1][k], gc[0][k], 1e-6, "unary gradient at %d", k);
        cr_assert_float_eq(gq[1][k], gq[0][k], 1e-6, "quadratic gradient at %d", k);
        moved += fabs(gc[0][k]);
    }
    cr_assert_gt(moved, 0, "the loss gradient changes some solution");
    mf_tensor *all[] = {c, q, go, edges};
    for (int i = 0; i < 4; i++)
        mf_tensor_release(all[i]);
    ts_env_free(&e);
}
