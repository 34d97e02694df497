/* Golden-value check shared by the pool and norm op tests: run an op on a
 * fixture input (in f64 or f32), compare its output and, after a backward
 * with the fixture's upstream gradient, the input gradient against
 * PyTorch's float64 values (tools/fixtures/gen_*.py). */
#ifndef MF_TEST_GOLDEN_H
#define MF_TEST_GOLDEN_H

#include <stdio.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

static inline mf_tensor *t_golden_load(const char *file, const char *case_name, const char *field, mf_dtype dt) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", case_name, field);
    mf_tensor *t = t_fixture(file, key);
    if (t->dtype == dt)
        return t;
    mf_tensor *c;
    MF_OK_OR_FAIL(mf_tensor_empty(t->ndim, t->shape, dt, MF_DEVICE_CPU, &c));
    MF_OK_OR_FAIL(mf_tensor_copy_(c, t));
    mf_tensor_release(t);
    return c;
}

/* Output and input gradient of fn(ctx, {x}) against <case>.y and <case>.gx. */
static inline void t_golden(const char *file, const char *case_name, t_fn fn, void *ctx, mf_dtype dt) {
    double atol = dt == MF_F64 ? 1e-12 : 1e-5, rtol = dt == MF_F64 ? 1e-10 : 1e-4;
    mf_tensor *x = t_param(t_golden_load(file, case_name, "x", dt));
    mf_tensor *y = NULL;
    MF_OK_OR_FAIL(fn(ctx, &x, &y));
    mf_tensor *want = t_golden_load(file, case_name, "y", MF_F64);
    char what[160];
    snprintf(what, sizeof what, "%s forward (%s)", case_name, mf_dtype_name(dt));
    t_assert_close(y, want, atol, rtol, what);
    mf_tensor *g = t_golden_load(file, case_name, "g", dt);
    MF_OK_OR_FAIL(mf_backward(y, g, false));
    mf_tensor *gx = t_golden_load(file, case_name, "gx", MF_F64);
    snprintf(what, sizeof what, "%s backward (%s)", case_name, mf_dtype_name(dt));
    cr_assert_not_null(x->grad, "%s: no gradient", what);
    t_assert_close(x->grad, gx, atol, rtol, what);
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(want);
    mf_tensor_release(g);
    mf_tensor_release(gx);
}

/* Finite-difference check of fn on the fixture input of a case (f64). */
static inline void t_golden_gradcheck(const char *file, const char *case_name, t_fn fn, void *ctx) {
    mf_tensor *x = t_param(t_golden_load(file, case_name, "x", MF_F64));
    t_gradcheck(case_name, fn, ctx, 1, &x, 1e-6, 1e-8, 1e-5);
    mf_tensor_release(x);
}

#endif
