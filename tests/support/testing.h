/* Test support: deterministic test tensors, closeness checks and the
 * finite-difference gradient checker every op test uses. */
#ifndef MF_TEST_SUPPORT_H
#define MF_TEST_SUPPORT_H

#include <criterion/criterion.h>
#include <stdbool.h>

#include "medfm/medfm.h"

/* Fails the current test with the library's message unless st == MF_OK. */
#define MF_OK_OR_FAIL(expr)                                                                       \
    do {                                                                                          \
        mf_status st_ = (expr);                                                                   \
        cr_assert_eq(st_, MF_OK, "%s failed: %s (%s)", #expr, mf_last_error(), mf_status_name(st_)); \
    } while (0)

/* A CPU tensor filled with uniform values in [lo, hi) from a small
 * deterministic generator (independent of the library's RNG). */
mf_tensor *t_uniform(uint64_t seed, int ndim, const int64_t *shape, mf_dtype dt, double lo, double hi);
/* A CPU tensor from a list of doubles. */
mf_tensor *t_from(int ndim, const int64_t *shape, mf_dtype dt, const double *values);
/* Marks a leaf as requiring gradients and returns it. */
mf_tensor *t_param(mf_tensor *t);
/* Releases ts[0 .. n) (NULLs allowed). */
void t_release_all(mf_tensor **ts, size_t n);
/* Largest |a - b| / (atol + rtol |b|) over elements; > 1 means "not close". */
double t_close_ratio(const mf_tensor *a, const mf_tensor *b, double atol, double rtol);
/* Asserts same shape and closeness, printing the worst element. */
void t_assert_close(const mf_tensor *a, const mf_tensor *b, double atol, double rtol, const char *what);

typedef mf_status (*t_fn)(void *ctx, mf_tensor *const *inputs, mf_tensor **out);

/* Finite-difference gradient check. `inputs` are f64 CPU leaves; those with
 * requires_grad are checked. The scalar checked is sum(out * w) for a fixed
 * random w, so every output element matters. Central differences with step
 * `eps`; passes when |analytic - numeric| <= atol + rtol |numeric| for all
 * elements. Fails the test with the worst element otherwise. */
void t_gradcheck(const char *what, t_fn fn, void *ctx, int n, mf_tensor *const *inputs, double eps, double atol,
                 double rtol);

/* Path of a fixture file in tests/fixtures. */
const char *t_fixture_path(const char *name);

#endif
