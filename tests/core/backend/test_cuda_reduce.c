/* CUDA sum against the CPU backend: every dim mask of a strided 4-D view,
 * the large reductions that take the block and split-block paths, and the
 * mean gradient through autograd. */
#include <math.h>

#include "tests/core/backend/cuda_testing.h"

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
