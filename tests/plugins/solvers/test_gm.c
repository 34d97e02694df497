/* The gm solver plugin: on small kNN-graph instances it finds the
 * brute-force optimum (nearly always) and its lower bound never exceeds it;
 * without a quadratic term it is linear assignment; bad input is named. */
#include <math.h>

#include "tests/plugins/solvers/solver_support.h"

enum { MAXN = 8, K_NN = 3 };

typedef struct inst {
    int N, M, E1, E2;
    double un[MAXN * MAXN];
    int64_t e1[MAXN * K_NN * 2], e2[MAXN * K_NN * 2];
    double q[MAXN * K_NN * MAXN * K_NN];
} inst;

/* Directed kNN edges over random 3-d points. */
static int knn_edges(const double *z, int n, int64_t *e) {
    int k = n - 1 < K_NN ? n - 1 : K_NN, ne = 0;
    for (int i = 0; i < n; i++) {
        bool used[MAXN] = {false};
        used[i] = true;
        for (int t = 0; t < k; t++) {
            int best = -1;
            double bd = INFINITY;
            for (int j = 0; j < n; j++) {
                if (used[j])
                    continue;
                double d = 0;
                for (int c = 0; c < 3; c++)
                    d += (z[i * 3 + c] - z[j * 3 + c]) * (z[i * 3 + c] - z[j * 3 + c]);
                if (d < bd) {
                    bd = d;
                    best = j;
                }
            }
            used[best] = true;
            e[2 * ne] = i;
            e[2 * ne + 1] = best;
            ne++;
        }
    }
    return ne;
}

static double cosine(const double *a, const double *b) {
    double ab = 0, aa = 0, bb = 0;
    for (int c = 0; c < 3; c++) {
        ab += a[c] * b[c];
        aa += a[c] * a[c];
        bb += b[c] * b[c];
    }
    return ab / sqrt(aa * bb + 1e-12);
}

/* LVM-Med-like: graph 2 is a noisy copy of graph 1 (plus extra nodes when
 * M > N); costs are negative cosine affinities of nodes and edge vectors. */
static void make_instance(inst *p, int N, int M, uint64_t *seed, double noise) {
    double z1[MAXN * 3], z2[MAXN * 3];
    p->N = N;
    p->M = M;
    for (int k = 0; k < N * 3; k++)
        z1[k] = ts_rand(seed) * 2 - 1;
    for (int a = 0; a < M; a++)
        for (int c = 0; c < 3; c++)
            z2[a * 3 + c] = a < N ? z1[((a + 1) % N) * 3 + c] + noise * (ts_rand(seed) * 2 - 1) : ts_rand(seed) * 2 - 1;
    p->E1 = knn_edges(z1, N, p->e1);
    p->E2 = knn_edges(z2, M, p->e2);
    for (int i = 0; i < N; i++)
        for (int a = 0; a < M; a++)
            p->un[i * M + a] = -cosine(z1 + i * 3, z2 + a * 3) + 0.3 * (ts_rand(seed) - 0.5);
    for (int s = 0; s < p->E1; s++)
        for (int t = 0; t < p->E2; t++) {
            double d1[3], d2[3];
            for (int c = 0; c < 3; c++) {
                d1[c] = z1[p->e1[2 * s] * 3 + c] - z1[p->e1[2 * s + 1] * 3 + c];
                d2[c] = z2[p->e2[2 * t] * 3 + c] - z2[p->e2[2 * t + 1] * 3 + c];
            }
            p->q[s * p->E2 + t] = -0.5 * cosine(d1, d2);
        }
}

/* Energy of x given as lab[i] = column of row i (-1 when unmatched). */
static double energy(const inst *p, const int *lab) {
    double e = 0;
    for (int i = 0; i < p->N; i++)
        if (lab[i] >= 0)
            e += p->un[i * p->M + lab[i]];
    for (int s = 0; s < p->E1; s++)
        for (int t = 0; t < p->E2; t++) {
            int i = (int)p->e1[2 * s], j = (int)p->e1[2 * s + 1], a = (int)p->e2[2 * t], c = (int)p->e2[2 * t + 1];
            if (lab[i] == a && lab[j] == c)
                e += p->q[s * p->E2 + t];
        }
    return e;
}

static double brute_force(const inst *p) {
    int n = p->N > p->M ? p->N : p->M, perm[MAXN], lab[MAXN];
    for (int i = 0; i < n; i++)
        perm[i] = i;
    double best = INFINITY;
    do {
        for (int i = 0; i < p->N; i++)
            lab[i] = -1;
        if (p->N <= p->M)
            for (int i = 0; i < p->N; i++)
                lab[i] = perm[i];
        else
            for (int a = 0; a < p->M; a++)
                lab[perm[a]] = a;
        double e = energy(p, lab);
        if (e < best)
            best = e;
    } while (ts_next_perm(perm, n));
    return best;
}

/* Solves one instance with gm; returns the energy of its x and the stats. */
static double solve(mf_solver *s, const inst *p, mf_solver_stats *st) {
    int64_t su[3] = {1, p->N, p->M}, sq[3] = {1, p->E1, p->E2}, se1[3] = {1, p->E1, 2}, se2[3] = {1, p->E2, 2};
    mf_tensor *u, *q, *e1, *e2, *x;
    MF_OK_OR_FAIL(mf_tensor_from_data(3, su, MF_F64, p->un, &u));
    MF_OK_OR_FAIL(mf_tensor_from_data(3, sq, MF_F64, p->q, &q));
    MF_OK_OR_FAIL(mf_tensor_from_data(3, se1, MF_I64, p->e1, &e1));
    MF_OK_OR_FAIL(mf_tensor_from_data(3, se2, MF_I64, p->e2, &e2));
    MF_OK_OR_FAIL(mf_tensor_zeros_like(u, &x));
    MF_OK_OR_FAIL(s->solve(s, &(mf_gm_problem){u, q, e1, e2}, x, st));
    int lab[MAXN];
    int ones = 0;
    for (int i = 0; i < p->N; i++) {
        lab[i] = -1;
        for (int a = 0; a < p->M; a++)
            if (mf_tensor_get_flat(x, i * p->M + a) == 1) {
                cr_assert_eq(lab[i], -1, "one column per row");
                lab[i] = a;
                ones++;
            }
    }
    cr_assert_eq(ones, p->N < p->M ? p->N : p->M);
    mf_tensor_release(u);
    mf_tensor_release(q);
    mf_tensor_release(e1);
    mf_tensor_release(e2);
    mf_tensor_release(x);
    return energy(p, lab);
}

static void check_optimality(double noise, int min_percent) {
    mf_registry *r = ts_registry("gm");
    mf_solver *s = ts_solver(r, "gm", NULL);
    uint64_t seed = 99 + (uint64_t)(noise * 1000);
    int hits = 0, total = 100;
    for (int t = 0; t < total; t++) {
        int N = 4 + t % 5, M = t % 7 == 3 ? N + 1 : (t % 7 == 5 ? N - 1 : N);
        if (M > MAXN)
            M = N - 2;
        inst p;
        make_instance(&p, N, M, &seed, noise);
        mf_solver_stats st;
        double e = solve(s, &p, &st), opt = brute_force(&p);
        cr_assert(st.lower_bound <= opt + 1e-9, "instance %d: bound %.12g above the optimum %.12g", t,
                  st.lower_bound, opt);
        cr_assert(e >= opt - 1e-9);
        cr_assert(fabs(st.primal - e) < 1e-9, "reported primal %g is the energy of x %g", st.primal, e);
        hits += e <= opt + 1e-9;
    }
    cr_assert(hits * 100 >= min_percent * total, "optimum found on %d of %d", hits, total);
    s->destroy(s);
    mf_registry_free(r);
}

Test(gm, finds_the_brute_force_optimum_on_95_percent_of_knn_instances_and_its_bound_never_exceeds_it) {
    check_optimality(0.3, 95);
}

Test(gm, bound_stays_valid_on_hard_noisy_instances) { check_optimality(2.0, 80); }

Test(gm, without_a_quadratic_term_it_is_linear_assignment_and_proves_optimality) {
    mf_registry *r = ts_registry("gm");
    mf_solver *s = ts_solver(r, "gm", NULL);
    uint64_t seed = 5;
    int64_t shape[3] = {3, 6, 6};
    mf_tensor *u, *x;
    MF_OK_OR_FAIL(mf_tensor_empty(3, shape, MF_F32, MF_DEVICE_CPU, &u));
    float *d = mf_tensor_data(u);
    for (int k = 0; k < 108; k++)
        d[k] = (float)ts_rand(&seed);
    MF_OK_OR_FAIL(mf_tensor_zeros_like(u, &x));
    mf_solver_stats st;
    MF_OK_OR_FAIL(s->solve(s, &(mf_gm_problem){.unary = u}, x, &st));
    cr_assert_eq(st.proven_optimal, 3);
    cr_assert(fabs(st.primal - st.lower_bound) < 1e-9);
    mf_tensor_release(u);
    mf_tensor_release(x);
    s->destroy(s);
    mf_registry_free(r);
}

Test(gm, iterations_respect_max_iter) {
    mf_registry *r = ts_registry("gm");
    mf_solver *s = ts_solver(r, "gm", "max_iter: 3\nprimal_every: 2\n");
    uint64_t seed = 8;
    inst p;
    make_instance(&p, 8, 8, &seed, 2.0);
    mf_solver_stats st;
    solve(s, &p, &st);
    cr_assert(st.iterations <= 3 && st.iterations >= 1);
    cr_assert(st.primal >= st.lower_bound - 1e-9);
    s->destroy(s);
    mf_registry_free(r);
}

Test(gm, non_finite_quadratic_and_bad_edges_are_errors_naming_the_batch) {
    mf_registry *r = ts_registry("gm");
    mf_solver *s = ts_solver(r, "gm", NULL);
    int64_t su[3] = {2, 3, 3}, sq[3] = {2, 2, 2}, se[3] = {2, 2, 2};
    mf_tensor *u, *q, *e1, *e2, *x;
    MF_OK_OR_FAIL(mf_tensor_zeros(3, su, MF_F64, MF_DEVICE_CPU, &u));
    MF_OK_OR_FAIL(mf_tensor_zeros(3, sq, MF_F64, MF_DEVICE_CPU, &q));
    MF_OK_OR_FAIL(mf_tensor_zeros(3, se, MF_I64, MF_DEVICE_CPU, &e1));
    MF_OK_OR_FAIL(mf_tensor_zeros(3, se, MF_I64, MF_DEVICE_CPU, &e2));
    MF_OK_OR_FAIL(mf_tensor_zeros_like(u, &x));
    mf_tensor_set_flat(e1, 1, 1);
    mf_tensor_set_flat(q, 4 + 3, NAN);
    mf_gm_problem p = {u, q, e1, e2};
    cr_assert_eq(s->solve(s, &p, x, NULL), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "gm") && strstr(mf_last_error(), "batch 1"), "%s", mf_last_error());
    mf_tensor_set_flat(q, 4 + 3, 0);
    mf_tensor_set_flat(e2, 4 + 2, 7);
    cr_assert_eq(s->solve(s, &p, x, NULL), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "edges2") && strstr(mf_last_error(), "batch 1"), "%s", mf_last_error());
    cr_assert_eq(s->solve(s, &(mf_gm_problem){u, q, NULL, NULL}, x, NULL), MF_ERR_INVALID);
    mf_tensor_release(u);
    mf_tensor_release(q);
    mf_tensor_release(e1);
    mf_tensor_release(e2);
    mf_tensor_release(x);
    s->destroy(s);
    mf_registry_free(r);
}
