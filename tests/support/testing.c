/* Test helpers: tensors, closeness and the finite-difference checker. */
#include "tests/support/testing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

mf_tensor *t_uniform(uint64_t seed, int ndim, const int64_t *shape, mf_dtype dt, double lo, double hi) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_empty(ndim, shape, dt, MF_DEVICE_CPU, &t));
    uint64_t s = seed * 0x632be59bd9b4e019ull + 1;
    for (int64_t i = 0; i < mf_tensor_numel(t); i++) {
        double u = (double)(splitmix(&s) >> 11) / 9007199254740992.0;
        mf_tensor_set_flat(t, i, lo + (hi - lo) * u);
    }
    return t;
}

mf_tensor *t_from(int ndim, const int64_t *shape, mf_dtype dt, const double *values) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_empty(ndim, shape, dt, MF_DEVICE_CPU, &t));
    for (int64_t i = 0; i < mf_tensor_numel(t); i++)
        mf_tensor_set_flat(t, i, values[i]);
    return t;
}

mf_tensor *t_param(mf_tensor *t) {
    MF_OK_OR_FAIL(mf_tensor_set_requires_grad(t, true));
    return t;
}

double t_close_ratio(const mf_tensor *a, const mf_tensor *b, double atol, double rtol) {
    double worst = 0;
    for (int64_t i = 0; i < mf_tensor_numel(a); i++) {
        double x = mf_tensor_get_flat(a, i), y = mf_tensor_get_flat(b, i);
        double r = x == y ? 0.0 : fabs(x - y) / (atol + rtol * fabs(y));
        if (isnan(x) != isnan(y))
            r = INFINITY;
        if (r > worst)
            worst = r;
    }
    return worst;
}

void t_release_all(mf_tensor **ts, size_t n) {
    for (size_t i = 0; i < n; i++)
        mf_tensor_release(ts[i]);
}

void t_assert_close(const mf_tensor *a, const mf_tensor *b, double atol, double rtol, const char *what) {
    cr_assert(mf_tensor_same_shape(a, b), "%s: shape %s vs expected %s", what, MF_SHAPE(a), MF_SHAPE(b));
    int64_t worst_i = -1;
    double worst = 0;
    for (int64_t i = 0; i < mf_tensor_numel(a); i++) {
        double x = mf_tensor_get_flat(a, i), y = mf_tensor_get_flat(b, i);
        double r = x == y ? 0.0 : fabs(x - y) / (atol + rtol * fabs(y));
        if (isnan(x) != isnan(y) || isnan(r))
            r = INFINITY;
        if (r > worst) {
            worst = r;
            worst_i = i;
        }
    }
    cr_assert(worst <= 1.0, "%s: element %lld is %.10g, expected %.10g (atol %g, rtol %g)", what,
              (long long)worst_i, mf_tensor_get_flat(a, worst_i), mf_tensor_get_flat(b, worst_i), atol, rtol);
}

static double weighted_sum(t_fn fn, void *ctx, int n, mf_tensor *const *inputs, const mf_tensor *w) {
    mf_tensor *out;
    MF_OK_OR_FAIL(fn(ctx, inputs, &out));
    double s = 0;
    for (int64_t i = 0; i < mf_tensor_numel(out); i++)
        s += mf_tensor_get_flat(out, i) * mf_tensor_get_flat(w, i);
    mf_tensor_release(out);
    return s;
}

void t_gradcheck(const char *what, t_fn fn, void *ctx, int n, mf_tensor *const *inputs, double eps, double atol,
                 double rtol) {
    for (int i = 0; i < n; i++) {
        cr_assert(inputs[i]->dtype == MF_F64 || !inputs[i]->requires_grad, "%s: gradcheck input %d must be f64",
                  what, i);
        mf_tensor_zero_grad(inputs[i]);
    }
    /* Analytic: backward of out with gradient w. */
    mf_tensor *out;
    MF_OK_OR_FAIL(fn(ctx, inputs, &out));
    cr_assert(out->requires_grad, "%s: output does not require grad", what);
    mf_tensor *w = t_uniform(0xfeed, out->ndim, out->shape, out->dtype, -1.0, 1.0);
    MF_OK_OR_FAIL(mf_backward(out, w, false));
    mf_tensor_release(out);

    bool prev = mf_grad_set_enabled(false);
    for (int i = 0; i < n; i++) {
        mf_tensor *x = inputs[i];
        if (!x->requires_grad)
            continue;
        cr_assert(x->grad != NULL, "%s: input %d received no gradient", what, i);
        for (int64_t k = 0; k < mf_tensor_numel(x); k++) {
            double v = mf_tensor_get_flat(x, k);
            mf_tensor_set_flat(x, k, v + eps);
            double fp = weighted_sum(fn, ctx, n, inputs, w);
            mf_tensor_set_flat(x, k, v - eps);
            double fm = weighted_sum(fn, ctx, n, inputs, w);
            mf_tensor_set_flat(x, k, v);
            double num = (fp - fm) / (2 * eps);
            double ana = mf_tensor_get_flat(x->grad, k);
            cr_assert(fabs(ana - num) <= atol + rtol * fabs(num),
                      "%s: d/d input%d[%lld]: analytic %.10g vs numeric %.10g", what, i, (long long)k, ana, num);
        }
    }
    mf_grad_set_enabled(prev);
    mf_tensor_release(w);
}

const char *t_fixture_path(const char *name) {
    static _Thread_local char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", MEDFM_TEST_DATA_DIR, name);
    return buf;
}
