/* CUDA sum against the CPU backend: every dim mask of a strided 4-D view,
 * the large reductions that take the block and split-block paths, and the
 * mean gradient through autograd; amin, max/min with indices, sum_to_shape
 * and all_finite. */
#include <math.h>

#include "tests/core/backend/cuda_compare.h"

Test(cuda_reduce, sum_matches_the_cpu_for_every_set_of_dims) {
    t_need_cuda();
    mf_dtype dts[] = {MF_F32, MF_F64, MF_I32};
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
        mf_tensor *base = t_uniform(3, 4, (int64_t[]){6, 5, 4, 3}, dts[k], -10, 10);
        mf_tensor *dbase = t_on(base, T_CUDA, false);
        mf_tensor *x, *dx;
        MF_OK_OR_FAIL(mf_permute(base, (int[]){3, 1, 2, 0}, &x)); /* [3, 5, 4, 6] strided */
        MF_OK_OR_FAIL(mf_permute(dbase, (int[]){3, 1, 2, 0}, &dx));
        for (int mask = 1; mask < 16; mask++) {
            int dims[4], n = 0;
            for (int d = 0; d < 4; d++)
                if (mask & (1 << d))
                    dims[n++] = d;
            for (int keep = 0; keep < 2; keep++) {
                mf_tensor *want, *got;
                MF_OK_OR_FAIL(mf_sum(x, n, dims, keep, &want));
                MF_OK_OR_FAIL(mf_sum(dx, n, dims, keep, &got));
                t_assert_matches_cpu(got, want, 1, mf_dtype_name(dts[k]));
                mf_tensor_release(want);
                mf_tensor_release(got);
            }
        }
        mf_tensor_release(base);
        mf_tensor_release(dbase);
        mf_tensor_release(x);
        mf_tensor_release(dx);
    }
}

Test(cuda_reduce, large_sums_match_the_cpu_on_every_work_split) {
    t_need_cuda();
    struct {
        int ndim;
        int64_t shape[3];
        int nd;
        int dims[2];
    } cases[] = {
        {1, {1 << 21}, 1, {0}},         /* one output, split across blocks */
        {2, {1024, 700}, 1, {1}},       /* rows: a block per output */
        {2, {1024, 700}, 1, {0}},       /* columns: strided reads */
        {3, {8, 3000, 40}, 2, {0, 1}},  /* few outputs, strided reduced dims */
        {3, {3, 100000, 2}, 1, {1}},    /* six outputs, split */
        {2, {200000, 3}, 1, {1}},       /* many tiny sums */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mf_tensor *x = t_uniform(7 + i, cases[i].ndim, cases[i].shape, MF_F32, -1, 1);
        mf_tensor *dx = t_on(x, T_CUDA, false);
        mf_tensor *want, *got;
        MF_OK_OR_FAIL(mf_sum(x, cases[i].nd, cases[i].dims, false, &want));
        MF_OK_OR_FAIL(mf_sum(dx, cases[i].nd, cases[i].dims, false, &got));
        t_assert_matches_cpu(got, want, 1, "large sum");
        mf_tensor_release(x);
        mf_tensor_release(dx);
        mf_tensor_release(want);
        mf_tensor_release(got);
    }
}

Test(cuda_reduce, mean_gradient_matches_the_cpu) {
    t_need_cuda();
    mf_tensor *x = t_param(t_uniform(4, 3, (int64_t[]){7, 6, 5}, MF_F64, -1, 1));
    mf_tensor *dx = t_on(x, T_CUDA, true);
    mf_tensor *w = t_uniform(5, 2, (int64_t[]){7, 5}, MF_F64, -1, 1), *dw = t_on(w, T_CUDA, false);
    mf_tensor *ins[2] = {x, dx}, *ws[2] = {w, dw}, *outs[2];
    for (int k = 0; k < 2; k++) {
        mf_tensor *m, *mw, *loss;
        MF_OK_OR_FAIL(mf_mean(ins[k], 1, (int[]){1}, false, &m));
        MF_OK_OR_FAIL(mf_mul(m, ws[k], &mw));
        MF_OK_OR_FAIL(mf_sum(mw, 0, NULL, false, &loss));
        MF_OK_OR_FAIL(mf_backward(loss, NULL, false));
        outs[k] = m;
        mf_tensor_release(mw);
        mf_tensor_release(loss);
    }
    t_assert_matches_cpu(outs[1], outs[0], 1, "mean");
    t_assert_matches_cpu(dx->grad, x->grad, 1, "mean grad");
    mf_tensor *all[] = {x, dx, w, dw, outs[0], outs[1]};
    for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
        mf_tensor_release(all[j]);
}

static mf_status amax_all(const mf_tensor *x, int n, const int *d, bool k, mf_tensor **o) { return mf_amax(x, n, d, k, o); }
static mf_status var1(const mf_tensor *x, int n, const int *d, bool k, mf_tensor **o) { return mf_var(x, n, d, 1, k, o); }
static mf_status lse(const mf_tensor *x, int n, const int *d, bool k, mf_tensor **o) { return mf_logsumexp(x, n, d, k, o); }
static mf_status norm1(const mf_tensor *x, int n, const int *d, bool k, mf_tensor **o) { return mf_norm(x, 1, n, d, k, o); }
static mf_status norm2(const mf_tensor *x, int n, const int *d, bool k, mf_tensor **o) { return mf_norm(x, 2, n, d, k, o); }
static mf_status norm3(const mf_tensor *x, int n, const int *d, bool k, mf_tensor **o) { return mf_norm(x, 3, n, d, k, o); }
static mf_status norminf(const mf_tensor *x, int n, const int *d, bool k, mf_tensor **o) {
    return mf_norm(x, INFINITY, n, d, k, o);
}

typedef mf_status (*red_fn)(const mf_tensor *, int, const int *, bool, mf_tensor **);
static const struct {
    const char *name;
    red_fn f;
} reductions[] = {{"amax", amax_all}, {"var", var1}, {"logsumexp", lse}, {"norm1", norm1},
                  {"norm2", norm2},   {"norm3", norm3}, {"norm_inf", norminf}};

Test(cuda_reduce, max_var_logsumexp_and_norms_match_the_cpu_for_every_set_of_dims) {
    t_need_cuda();
    for (int k = 0; k < 2; k++) {
        mf_dtype dt = k ? MF_F64 : MF_F32;
        mf_tensor *base = t_uniform(13, 4, (int64_t[]){6, 5, 4, 3}, dt, -3, 3);
        mf_tensor *dbase = t_on(base, T_CUDA, false);
        mf_tensor *x, *dx;
        MF_OK_OR_FAIL(mf_permute(base, (int[]){3, 1, 2, 0}, &x));
        MF_OK_OR_FAIL(mf_permute(dbase, (int[]){3, 1, 2, 0}, &dx));
        for (size_t f = 0; f < sizeof reductions / sizeof reductions[0]; f++)
            for (int mask = 1; mask < 16; mask++) {
                int dims[4], n = 0;
                for (int d = 0; d < 4; d++)
                    if (mask & (1 << d))
                        dims[n++] = d;
                mf_tensor *want, *got;
                MF_OK_OR_FAIL(reductions[f].f(x, n, dims, true, &want));
                MF_OK_OR_FAIL(reductions[f].f(dx, n, dims, true, &got));
                t_assert_matches_cpu(got, want, 2, reductions[f].name);
                mf_tensor_release(want);
                mf_tensor_release(got);
            }
        mf_tensor_release(base);
        mf_tensor_release(dbase);
        mf_tensor_release(x);
        mf_tensor_release(dx);
    }
}

Test(cuda_reduce, large_max_and_logsumexp_take_the_split_path_and_propagate_nan) {
    t_need_cuda();
    mf_tensor *x = t_uniform(17, 1, (int64_t[]){1 << 20}, MF_F32, -5, 5), *dx = t_on(x, T_CUDA, false);
    red_fn fs[] = {amax_all, lse, norm2};
    for (int f = 0; f < 3; f++) {
        mf_tensor *want, *got;
        MF_OK_OR_FAIL(fs[f](x, 0, NULL, false, &want));
        MF_OK_OR_FAIL(fs[f](dx, 0, NULL, false, &got));
        t_assert_matches_cpu(got, want, 1, "large reduction");
        mf_tensor_release(want);
        mf_tensor_release(got);
    }
    mf_tensor_set_flat(x, 777777, NAN);
    mf_tensor *dn = t_on(x, T_CUDA, false), *m;
    double v;
    MF_OK_OR_FAIL(mf_amax(dn, 0, NULL, false, &m));
    MF_OK_OR_FAIL(mf_tensor_item(m, &v));
    cr_assert(isnan(v), "amax over a NaN gave %g", v);
    mf_tensor_release(m);
    MF_OK_OR_FAIL(mf_logsumexp(dn, 0, NULL, false, &m));
    MF_OK_OR_FAIL(mf_tensor_item(m, &v));
    cr_assert(isnan(v), "logsumexp over a NaN gave %g", v);
    mf_tensor_release(m);
    mf_tensor_release(x);
    mf_tensor_release(dx);
    mf_tensor_release(dn);
}

Test(cuda_reduce, reduction_gradients_match_the_cpu) {
    t_need_cuda();
    red_fn fs[] = {var1, lse, norm2, amax_all};
    const char *names[] = {"var", "logsumexp", "norm2", "amax"};
    for (int f = 0; f < 4; f++) {
        mf_tensor *x = t_param(t_uniform(31 + f, 3, (int64_t[]){5, 6, 7}, MF_F64, -1, 1));
        mf_tensor *dx = t_on(x, T_CUDA, true);
        mf_tensor *w = t_uniform(41, 2, (int64_t[]){5, 7}, MF_F64, -1, 1), *dw = t_on(w, T_CUDA, false);
        mf_tensor *ins[2] = {x, dx}, *ws[2] = {w, dw};
        for (int k = 0; k < 2; k++) {
            mf_tensor *r, *rw, *loss;
            MF_OK_OR_FAIL(fs[f](ins[k], 1, (int[]){1}, false, &r));
            MF_OK_OR_FAIL(mf_mul(r, ws[k], &rw));
            MF_OK_OR_FAIL(mf_sum(rw, 0, NULL, false, &loss));
            MF_OK_OR_FAIL(mf_backward(loss, NULL, false));
            mf_tensor_release(r);
            mf_tensor_release(rw);
            mf_tensor_release(loss);
        }
        cr_assert_not_null(dx->grad, "%s: no gradient on the device", names[f]);
        t_assert_matches_cpu(dx->grad, x->grad, 4, names[f]);
        mf_tensor *all[] = {x, dx, w, dw};
        for (int j = 0; j < 4; j++)
            mf_tensor_release(all[j]);
    }
}

/* --------------------------------------- amin, max/min, sum_to_shape, all_finite */

typedef struct {
    int n, dims[4];
    bool keep;
} red_ctx;

/* A [4, 5, 6] view of a contiguous [6, 5, 4] of small integers (many ties). */
static mf_tensor *tied_values(uint64_t seed, mf_dtype dt) {
    mf_tensor *u = t_uniform(seed, 3, (int64_t[]){6, 5, 4}, MF_F64, -3, 3), *x;
    MF_OK_OR_FAIL(mf_tensor_empty(3, u->shape, dt, MF_DEVICE_CPU, &x));
    for (int64_t i = 0; i < mf_tensor_numel(u); i++)
        mf_tensor_set_flat(x, i, floor(mf_tensor_get_flat(u, i)));
    mf_tensor_release(u);
    return x;
}

static mf_status op_amin(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const red_ctx *c = ctx;
    mf_tensor *x;
    MF_TRY(mf_permute(in[0], (int[]){2, 1, 0}, &x));
    mf_status st = mf_amin(x, c->n, c->dims, c->keep, out);
    mf_tensor_release(x);
    return st;
}

/* Ties split the gradient evenly among the minimal elements on both. */
Test(cuda_reduce, amin_and_its_tie_splitting_gradient_match_the_cpu) {
    t_need_cuda();
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    const red_ctx cases[] = {{0, {0}, false}, {1, {0}, true}, {1, {1}, false}, {1, {2}, true},
                             {2, {0, 2}, false}, {2, {1, 2}, true}, {3, {0, 1, 2}, true}};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = tied_values(300 + k, dts[k]);
        bool g[1] = {true};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            t_cuda_compare("amin", 1, &x, g, op_amin, &cases[i], 1);
        mf_tensor_release(x);
    }
}

typedef struct {
    int dim;
    bool keep, want_max;
} arg_ctx;

static mf_status arg_extreme_of(const mf_tensor *in, const arg_ctx *c, mf_tensor **values, mf_tensor **indices) {
    mf_tensor *x;
    MF_TRY(mf_permute(in, (int[]){2, 1, 0}, &x));
    mf_status st = c->want_max ? mf_max(x, c->dim, c->keep, values, indices)
                               : mf_min(x, c->dim, c->keep, values, indices);
    mf_tensor_release(x);
    return st;
}

static mf_status op_arg_extreme(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    return arg_extreme_of(in[0], ctx, out, NULL);
}

/* Values, int64 indices (the first extreme among ties, like torch) and
 * the gradient that goes to that element alone, along every dim. */
Test(cuda_reduce, max_and_min_values_indices_and_gradients_match_the_cpu_along_every_dim) {
    t_need_cuda();
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = tied_values(310 + k, dts[k]), *dx = t_on(x, T_CUDA, false);
        bool g[1] = {true};
        for (int want_max = 0; want_max < 2; want_max++)
            for (int dim = -1; dim < 3; dim++)
                for (int keep = 0; keep < 2; keep++) {
                    arg_ctx c = {dim, keep, want_max};
                    char what[64];
                    snprintf(what, sizeof what, "%s dim %d keepdim %d %s", want_max ? "max" : "min", dim, keep,
                             mf_dtype_name(dts[k]));
                    t_cuda_compare(what, 1, &x, g, op_arg_extreme, &c, 1);
                    mf_tensor *v[2], *ix[2];
                    MF_OK_OR_FAIL(arg_extreme_of(x, &c, &v[0], &ix[0]));
                    MF_OK_OR_FAIL(arg_extreme_of(dx, &c, &v[1], &ix[1]));
                    cr_assert_eq(ix[1]->dtype, MF_I64, "%s: indices are %s", what, mf_dtype_name(ix[1]->dtype));
                    t_assert_matches_cpu(ix[1], ix[0], 0, what);
                    t_assert_matches_cpu(v[1], v[0], 0, what);
                    mf_tensor *all[] = {v[0], v[1], ix[0], ix[1]};
                    t_release_all(all, 4);
                }
        mf_tensor_release(x);
        mf_tensor_release(dx);
    }
}

typedef struct {
    int ndim;
    int64_t shape[3];
} shape_ctx;

static mf_status op_sum_to_shape(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const shape_ctx *c = ctx;
    mf_tensor *x;
    MF_TRY(mf_permute(in[0], (int[]){2, 1, 0}, &x)); /* [4, 6, 5] strided */
    mf_status st = mf_sum_to_shape(x, c->ndim, c->shape, out);
    mf_tensor_release(x);
    return st;
}

/* Down to fewer dims, to size-1 dims, to a scalar and to the same shape;
 * the gradient is the output's broadcast back. */
Test(cuda_reduce, sum_to_shape_and_its_gradient_match_the_cpu) {
    t_need_cuda();
    const shape_ctx cases[] = {{3, {4, 6, 5}}, {2, {6, 5}}, {2, {6, 1}}, {3, {4, 1, 5}},
                               {3, {1, 6, 1}}, {1, {5}},    {1, {1}},    {0, {0}}};
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(320 + k, 3, (int64_t[]){5, 6, 4}, dts[k], -2, 2);
        bool g[1] = {true};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            t_cuda_compare("sum_to_shape", 1, &x, g, op_sum_to_shape, &cases[i], 1);
        mf_tensor_release(x);
    }
}

/* all_finite on the device, dense and strided, over a tensor large enough
 * for the split reduction, with one inf, -inf or NaN in the middle. */
Test(cuda_reduce, all_finite_finds_one_inf_or_nan_in_the_middle_of_a_large_tensor) {
    t_need_cuda();
    const mf_dtype dts[3] = {MF_F32, MF_F64, MF_BF16};
    const double bad[4] = {0.0, INFINITY, NAN, -INFINITY}; /* 0: none; -inf in f32 only */
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < (k ? 3 : 4); b++) {
            int64_t n = 1 << 15;
            mf_tensor *x = t_uniform(330 + k, 1, &n, dts[k], -1e4, 1e4);
            if (b)
                mf_tensor_set_flat(x, n / 2 + 3, bad[b]);
            mf_tensor *dx = t_on(x, T_CUDA, false), *dv, *cv;
            MF_OK_OR_FAIL(mf_reshape(dx, 2, (int64_t[]){128, 256}, &cv));
            MF_OK_OR_FAIL(mf_transpose(cv, 0, 1, &dv));
            bool want = b == 0, cpu, dense, strided;
            MF_OK_OR_FAIL(mf_all_finite(x, &cpu));
            MF_OK_OR_FAIL(mf_all_finite(dx, &dense));
            MF_OK_OR_FAIL(mf_all_finite(dv, &strided));
            cr_assert(cpu == want && dense == want && strided == want,
                      "%s with %g: all_finite gave cpu %d, cuda %d, cuda strided %d (want %d)", mf_dtype_name(dts[k]),
                      bad[b], cpu, dense, strided, want);
            mf_tensor *all[] = {x, dx, cv, dv};
            t_release_all(all, 4);
        }
}
