/* The lap solver plugin: exact against brute force on small problems
 * (random, tied, integer, rectangular), against scipy's optimum up to
 * N = 512, and rejecting bad input with messages that name the batch. */
#include <math.h>

#include "tests/plugins/solvers/solver_support.h"
#include "tests/support/fixture.h"

static double brute_force(const double *c, int n, int m) {
    int k = n > m ? n : m, p[8];
    for (int i = 0; i < k; i++)
        p[i] = i;
    double best = INFINITY;
    do {
        double s = 0;
        if (n <= m)
            for (int i = 0; i < n; i++)
                s += c[i * m + p[i]];
        else
            for (int j = 0; j < m; j++)
                s += c[p[j] * m + j];
        if (s < best)
            best = s;
    } while (ts_next_perm(p, k));
    return best;
}

/* Solves a (B, n, m) batch and checks every solution is a valid assignment
 * of the smaller side; returns the objective of each problem. */
static void solve_and_check(mf_solver *s, mf_tensor *u, double *obj) {
    mf_tensor *x;
    MF_OK_OR_FAIL(mf_tensor_zeros_like(u, &x));
    mf_solver_stats st;
    MF_OK_OR_FAIL(s->solve(s, &(mf_gm_problem){.unary = u}, x, &st));
    int64_t B = u->shape[0], n = u->shape[1], m = u->shape[2];
    for (int64_t b = 0; b < B; b++) {
        obj[b] = 0;
        int64_t ones = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t row = 0;
            for (int64_t j = 0; j < m; j++) {
                double v = mf_tensor_get_flat(x, (b * n + i) * m + j);
                cr_assert(v == 0 || v == 1);
                row += v == 1;
                obj[b] += v * mf_tensor_get_flat(u, (b * n + i) * m + j);
            }
            cr_assert(row <= 1);
            ones += row;
        }
        for (int64_t j = 0; j < m; j++) {
            int64_t col = 0;
            for (int64_t i = 0; i < n; i++)
                col += mf_tensor_get_flat(x, (b * n + i) * m + j) == 1;
            cr_assert(col <= 1);
        }
        cr_assert_eq(ones, n < m ? n : m);
    }
    cr_assert_eq(st.proven_optimal, B, "the dual bound meets the primal on every problem");
    mf_tensor_release(x);
}

static void check_brute_force(int kind) {
    mf_registry *r = ts_registry("lap");
    mf_solver *s = ts_solver(r, "lap", NULL);
    uint64_t seed = 1234 + kind;
    const int B = 6;
    for (int n = 1; n <= 8; n++)
        for (int m = 1; m <= 8; m++) {
            if (kind < 2 && m != n)
                continue;
            int64_t shape[3] = {B, n, m};
            mf_tensor *u;
            MF_OK_OR_FAIL(mf_tensor_empty(3, shape, MF_F64, MF_DEVICE_CPU, &u));
            double *c = mf_tensor_data(u);
            for (int k = 0; k < B * n * m; k++)
                c[k] = kind == 1 ? floor(ts_rand(&seed) * 3) : ts_rand(&seed) * 10 - 5;
            double obj[6];
            solve_and_check(s, u, obj);
            for (int b = 0; b < B; b++) {
                double bf = brute_force(c + b * n * m, n, m);
                cr_assert(fabs(obj[b] - bf) < 1e-9, "n=%d m=%d b=%d: lap %g, brute force %g", n, m, b, obj[b], bf);
            }
            mf_tensor_release(u);
        }
    s->destroy(s);
    mf_registry_free(r);
}

Test(lap, equals_brute_force_on_random_square_problems) { check_brute_force(0); }
Test(lap, equals_brute_force_on_integer_costs_with_many_ties) { check_brute_force(1); }
Test(lap, equals_brute_force_on_rectangular_problems_both_ways) { check_brute_force(2); }

static void check_fixture(mf_solver *s, const char *cost_name, const char *opt_name) {
    mf_tensor *c = t_fixture("lap.safetensors", cost_name);
    mf_tensor *opt = t_fixture("lap.safetensors", opt_name);
    int64_t shape[3] = {1, c->shape[0], c->shape[1]};
    mf_tensor *u;
    MF_OK_OR_FAIL(mf_tensor_empty(3, shape, MF_F32, MF_DEVICE_CPU, &u));
    float *d = mf_tensor_data(u);
    for (int64_t k = 0; k < shape[1] * shape[2]; k++)
        d[k] = (float)mf_tensor_get_flat(c, k);
    double obj;
    solve_and_check(s, u, &obj);
    double want = mf_tensor_get_flat(opt, 0);
    cr_assert(fabs(obj - want) <= 1e-6 * (1 + fabs(want)), "%s: lap %.9g, scipy %.9g", cost_name, obj, want);
    mf_tensor_release(u);
    mf_tensor_release(c);
    mf_tensor_release(opt);
}

Test(lap, matches_scipy_optimum_on_stored_f32_problems) {
    mf_registry *r = ts_registry("lap");
    mf_solver *s = ts_solver(r, "lap", NULL);
    check_fixture(s, "cost_16x16", "opt_16x16");
    check_fixture(s, "cost_64x64", "opt_64x64");
    check_fixture(s, "cost_128x128", "opt_128x128");
    check_fixture(s, "cost_40x70", "opt_40x70");
    check_fixture(s, "cost_ties_64x64", "opt_ties_64x64");
    s->destroy(s);
    mf_registry_free(r);
}

/* Same LCG as tools/fixtures/gen_lap.py. */
static void lcg_fill(float *d, uint32_t seed, int64_t count) {
    uint32_t x = seed;
    for (int64_t k = 0; k < count; k++) {
        x = x * 1664525u + 1013904223u;
        d[k] = (float)((double)(x >> 8) / 16777216.0);
    }
}

Test(lap, matches_scipy_optimum_at_n_256_and_512) {
    mf_registry *r = ts_registry("lap");
    mf_solver *s = ts_solver(r, "lap", NULL);
    const int ns[2] = {256, 512}, seeds[2] = {11, 12};
    for (int t = 0; t < 2; t++) {
        int64_t shape[3] = {1, ns[t], ns[t]};
        mf_tensor *u;
        MF_OK_OR_FAIL(mf_tensor_empty(3, shape, MF_F32, MF_DEVICE_CPU, &u));
        lcg_fill(mf_tensor_data(u), (uint32_t)seeds[t], (int64_t)ns[t] * ns[t]);
        char name[64];
        snprintf(name, sizeof name, "opt_lcg_%d_seed%d", ns[t], seeds[t]);
        mf_tensor *opt = t_fixture("lap.safetensors", name);
        double obj, want = mf_tensor_get_flat(opt, 0);
        solve_and_check(s, u, &obj);
        cr_assert(fabs(obj - want) <= 1e-6 * (1 + fabs(want)), "n=%d: lap %.9g, scipy %.9g", ns[t], obj, want);
        mf_tensor_release(opt);
        mf_tensor_release(u);
    }
    s->destroy(s);
    mf_registry_free(r);
}

static void check_rejects(double bad, const char *what) {
    mf_registry *r = ts_registry("lap");
    mf_solver *s = ts_solver(r, "lap", NULL);
    int64_t shape[3] = {4, 3, 3};
    mf_tensor *u, *x;
    MF_OK_OR_FAIL(mf_tensor_full(3, shape, MF_F32, MF_DEVICE_CPU, 1.0, &u));
    MF_OK_OR_FAIL(mf_tensor_zeros_like(u, &x));
    mf_tensor_set_flat(u, 2 * 9 + 1 * 3 + 2, bad);
    cr_assert_eq(s->solve(s, &(mf_gm_problem){.unary = u}, x, NULL), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "lap") && strstr(mf_last_error(), "batch 2") &&
                  strstr(mf_last_error(), "row 1, col 2"),
              "%s: %s", what, mf_last_error());
    mf_tensor_release(u);
    mf_tensor_release(x);
    s->destroy(s);
    mf_registry_free(r);
}

Test(lap, nan_cost_is_rejected_naming_the_batch_index) { check_rejects(NAN, "nan"); }
Test(lap, infinite_cost_is_rejected_naming_the_batch_index) { check_rejects(-INFINITY, "-inf"); }

Test(lap, quadratic_term_is_an_error_unless_config_ignores_it) {
    mf_registry *r = ts_registry("lap");
    mf_solver *s = ts_solver(r, "lap", NULL);
    mf_solver *lax = ts_solver(r, "lap", "ignore_quadratic: true\n");
    int64_t shape[3] = {1, 2, 2}, qs[3] = {1, 1, 1};
    mf_tensor *u = t_from(3, shape, MF_F64, (double[]){0, 1, 1, 0}), *q, *x;
    MF_OK_OR_FAIL(mf_tensor_full(3, qs, MF_F64, MF_DEVICE_CPU, 5.0, &q));
    MF_OK_OR_FAIL(mf_tensor_zeros_like(u, &x));
    mf_gm_problem p = {.unary = u, .quadratic = q};
    cr_assert_eq(s->solve(s, &p, x, NULL), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "lap") && strstr(mf_last_error(), "quadratic"), "%s", mf_last_error());
    MF_OK_OR_FAIL(lax->solve(lax, &p, x, NULL));
    cr_assert_eq(mf_tensor_get_flat(x, 0), 1);
    cr_assert_eq(mf_tensor_get_flat(x, 3), 1);
    mf_tensor_release(u);
    mf_tensor_release(q);
    mf_tensor_release(x);
    s->destroy(s);
    lax->destroy(lax);
    mf_registry_free(r);
}

Test(lap, wrong_shapes_and_dtypes_are_errors_naming_lap) {
    mf_registry *r = ts_registry("lap");
    mf_solver *s = ts_solver(r, "lap", NULL);
    int64_t s3[3] = {1, 2, 2}, s2[2] = {2, 2}, s3b[3] = {1, 2, 3};
    mf_tensor *u2, *u3, *xb, *ui;
    MF_OK_OR_FAIL(mf_tensor_zeros(2, s2, MF_F32, MF_DEVICE_CPU, &u2));
    MF_OK_OR_FAIL(mf_tensor_zeros(3, s3, MF_F32, MF_DEVICE_CPU, &u3));
    MF_OK_OR_FAIL(mf_tensor_zeros(3, s3b, MF_F32, MF_DEVICE_CPU, &xb));
    MF_OK_OR_FAIL(mf_tensor_zeros(3, s3, MF_I32, MF_DEVICE_CPU, &ui));
    cr_assert_eq(s->solve(s, &(mf_gm_problem){.unary = u2}, u2, NULL), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "lap"));
    cr_assert_eq(s->solve(s, &(mf_gm_problem){.unary = u3}, xb, NULL), MF_ERR_SHAPE);
    cr_assert_eq(s->solve(s, &(mf_gm_problem){.unary = ui}, ui, NULL), MF_ERR_DTYPE);
    mf_tensor_release(u2);
    mf_tensor_release(u3);
    mf_tensor_release(xb);
    mf_tensor_release(ui);
    s->destroy(s);
    mf_registry_free(r);
}

Test(lap, float_near_ties_terminate_and_stay_optimal) {
    mf_registry *r = ts_registry("lap");
    mf_solver *s = ts_solver(r, "lap", NULL);
    uint64_t seed = 77;
    int64_t shape[3] = {4, 8, 8};
    mf_tensor *u;
    MF_OK_OR_FAIL(mf_tensor_empty(3, shape, MF_F64, MF_DEVICE_CPU, &u));
    double *c = mf_tensor_data(u);
    for (int k = 0; k < 4 * 64; k++)
        c[k] = 1 + 1e-13 * floor(ts_rand(&seed) * 4);
    double obj[4];
    solve_and_check(s, u, obj);
    for (int b = 0; b < 4; b++)
        cr_assert(fabs(obj[b] - brute_force(c + b * 64, 8, 8)) < 1e-9);
    mf_tensor_release(u);
    /* a large all-but-equal matrix */
    int64_t big[3] = {1, 300, 300};
    MF_OK_OR_FAIL(mf_tensor_empty(3, big, MF_F32, MF_DEVICE_CPU, &u));
    float *f = mf_tensor_data(u);
    for (int k = 0; k < 300 * 300; k++)
        f[k] = 1.0f + (k % 7 == 0 ? 1e-7f : 0.0f);
    double o;
    solve_and_check(s, u, &o);
    cr_assert(fabs(o - 300) < 1e-3);
    mf_tensor_release(u);
    s->destroy(s);
    mf_registry_free(r);
}
