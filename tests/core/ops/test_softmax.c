/* softmax / log_softmax: torch golden values, finite-difference gradients,
 * the fast f32 path against f64, stability and bad input. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FIX "loss.safetensors"

typedef mf_status (*sm_fn)(const mf_tensor *, int, mf_tensor **);

/* Forward and the gradient of sum(out * w) against the torch fixture. */
static void check_golden(const char *prefix, sm_fn f, int dim) {
    char name[128];
    snprintf(name, sizeof name, "%s.x", prefix);
    mf_tensor *x = t_param(t_fixture(FIX, name));
    snprintf(name, sizeof name, "%s.out", prefix);
    mf_tensor *want = t_fixture(FIX, name);
    snprintf(name, sizeof name, "%s.w", prefix);
    mf_tensor *w = t_fixture(FIX, name);
    snprintf(name, sizeof name, "%s.grad_x", prefix);
    mf_tensor *gwant = t_fixture(FIX, name);
    mf_tensor *y;
    MF_OK_OR_FAIL(f(x, dim, &y));
    t_assert_close(y, want, 1e-12, 1e-10, prefix);
    MF_OK_OR_FAIL(mf_backward(y, w, false));
    t_assert_close(x->grad, gwant, 1e-12, 1e-10, prefix);
    mf_tensor_release(x);
    mf_tensor_release(want);
    mf_tensor_release(w);
    mf_tensor_release(gwant);
    mf_tensor_release(y);
}

Test(softmax, softmax_matches_torch_along_a_middle_and_the_last_dim) {
    check_golden("softmax.d1", mf_softmax, 1);
    check_golden("softmax.d2", mf_softmax, -1);
}

Test(softmax, log_softmax_matches_torch_along_a_middle_and_the_last_dim) {
    check_golden("log_softmax.d1", mf_log_softmax, 1);
    check_golden("log_softmax.d2", mf_log_softmax, -1);
}

typedef struct {
    sm_fn f;
    int dim;
} sm_ctx;

static mf_status call_sm(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    sm_ctx *c = ctx;
    return c->f(in[0], c->dim, out);
}

Test(softmax, grads_match_finite_difference_along_every_dim) {
    mf_tensor *x = t_param(t_uniform(11, 3, (int64_t[]){3, 4, 5}, MF_F64, -3, 3));
    for (int dim = -1; dim < 3; dim++) {
        sm_ctx c1 = {mf_softmax, dim}, c2 = {mf_log_softmax, dim};
        t_gradcheck("softmax", call_sm, &c1, 1, &x, 1e-6, 1e-8, 1e-6);
        t_gradcheck("log_softmax", call_sm, &c2, 1, &x, 1e-6, 1e-8, 1e-6);
    }
    mf_tensor_release(x);
}

Test(softmax, grads_match_finite_difference_on_a_transposed_view) {
    mf_tensor *x = t_param(t_uniform(12, 2, (int64_t[]){4, 3}, MF_F64, -2, 2));
    sm_ctx c = {mf_softmax, 1};
    /* a non-contiguous input: the transpose of x */
    mf_tensor *xt;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 1, &xt));
    mf_tensor *y, *ref, *xtc;
    MF_OK_OR_FAIL(mf_softmax(xt, 1, &y));
    MF_OK_OR_FAIL(mf_contiguous(xt, &xtc));
    MF_OK_OR_FAIL(mf_softmax(xtc, 1, &ref));
    t_assert_close(y, ref, 0, 0, "softmax of a view");
    t_gradcheck("softmax", call_sm, &c, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(xt);
    mf_tensor_release(xtc);
    mf_tensor_release(y);
    mf_tensor_release(ref);
    mf_tensor_release(x);
}

/* f32 (fast exp) against f64, on a contiguous-row case and on a blocked
 * column case wider than one block of columns. */
Test(softmax, f32_kernels_match_f64_forward_and_backward) {
    int64_t shapes[2][3] = {{7, 1000, 1}, {3, 40, 300}};
    for (int s = 0; s < 2; s++) {
        for (int lg = 0; lg < 2; lg++) {
            sm_fn f = lg ? mf_log_softmax : mf_softmax;
            mf_tensor *x64 = t_param(t_uniform(5, 3, shapes[s], MF_F64, -20, 20));
            mf_tensor *x32 = t_param(t_uniform(5, 3, shapes[s], MF_F32, -20, 20));
            mf_tensor *g64 = t_uniform(6, 3, shapes[s], MF_F64, -1, 1);
            mf_tensor *g32 = t_uniform(6, 3, shapes[s], MF_F32, -1, 1);
            mf_tensor *y64, *y32, *y32d, *gx32d;
            MF_OK_OR_FAIL(f(x64, 1, &y64));
            MF_OK_OR_FAIL(f(x32, 1, &y32));
            MF_OK_OR_FAIL(mf_to_dtype(y32, MF_F64, &y32d));
            t_assert_close(y32d, y64, lg ? 2e-5 : 1e-7, 1e-5, "f32 forward");
            MF_OK_OR_FAIL(mf_backward(y64, g64, false));
            MF_OK_OR_FAIL(mf_backward(y32, g32, false));
            MF_OK_OR_FAIL(mf_to_dtype(x32->grad, MF_F64, &gx32d));
            t_assert_close(gx32d, x64->grad, 1e-6, 1e-4, "f32 backward");
            mf_tensor *all[] = {x64, x32, g64, g32, y64, y32, y32d, gx32d};
            for (size_t i = 0; i < sizeof all / sizeof *all; i++)
                mf_tensor_release(all[i]);
        }
    }
}

Test(softmax, huge_logits_stay_finite) {
    mf_tensor *x = t_from(1, (int64_t[]){3}, MF_F32, (double[]){1000, 1001, -1000});
    mf_tensor *y, *ly;
    MF_OK_OR_FAIL(mf_softmax(x, 0, &y));
    MF_OK_OR_FAIL(mf_log_softmax(x, 0, &ly));
    mf_tensor *want = t_from(1, (int64_t[]){3}, MF_F32, (double[]){0.2689414213699951, 0.7310585786300049, 0});
    mf_tensor *lwant = t_from(1, (int64_t[]){3}, MF_F32, (double[]){-1.3132616875182228, -0.3132616875182228, -2001.3132616875182});
    t_assert_close(y, want, 1e-7, 1e-6, "softmax");
    t_assert_close(ly, lwant, 1e-5, 1e-6, "log_softmax");
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(ly);
    mf_tensor_release(want);
    mf_tensor_release(lwant);
}

Test(softmax, masked_entries_get_zero_and_a_fully_masked_row_is_nan_as_in_torch) {
    mf_tensor *x = t_from(2, (int64_t[]){2, 2}, MF_F64, (double[]){0, -INFINITY, -INFINITY, -INFINITY});
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_softmax(x, 1, &y));
    cr_assert_eq(mf_tensor_get_flat(y, 0), 1.0);
    cr_assert_eq(mf_tensor_get_flat(y, 1), 0.0);
    cr_assert(isnan(mf_tensor_get_flat(y, 2)) && isnan(mf_tensor_get_flat(y, 3)));
    mf_tensor_release(x);
    mf_tensor_release(y);
}

Test(softmax, dim_out_of_range_is_a_shape_error_naming_the_op) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, 0, 1);
    mf_tensor *y = NULL;
    cr_assert_eq(mf_softmax(x, 2, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "softmax"), "%s", mf_last_error());
    cr_assert_eq(mf_log_softmax(x, -3, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "log_softmax"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(softmax, integer_input_is_a_dtype_error) {
    mf_tensor *x = t_from(1, (int64_t[]){2}, MF_I64, (double[]){1, 2});
    mf_tensor *y = NULL;
    cr_assert_eq(mf_softmax(x, 0, &y), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "softmax") && strstr(mf_last_error(), "i64"), "%s", mf_last_error());
    mf_tensor_release(x);
}

Test(softmax, f32_vector_paths_handle_minus_inf_like_f64) {
    double v[2 * 16 * 9];
    for (int i = 0; i < 2 * 16 * 9; i++)
        v[i] = (i % 5 == 0) ? -INFINITY : sin(i * 0.7) * 3;
    int64_t shapes[2][3] = {{2 * 9, 16, 1}, {2, 16, 9}}; /* rows; blocked columns */
    for (int s = 0; s < 2; s++) {
        for (int lg = 0; lg < 2; lg++) {
            sm_fn f = lg ? mf_log_softmax : mf_softmax;
            mf_tensor *x32 = t_from(3, shapes[s], MF_F32, v), *x64 = t_from(3, shapes[s], MF_F64, v);
            mf_tensor *y32, *y64, *yd;
            MF_OK_OR_FAIL(f(x32, 1, &y32));
            MF_OK_OR_FAIL(f(x64, 1, &y64));
            MF_OK_OR_FAIL(mf_to_dtype(y32, MF_F64, &yd));
            for (int64_t i = 0; i < mf_tensor_numel(yd); i++) {
                double a = mf_tensor_get_flat(yd, i), b = mf_tensor_get_flat(y64, i);
                cr_assert(a == b || fabs(a - b) <= 1e-5 * (1 + fabs(b)), "[%lld] %g vs %g", (long long)i, a, b);
            }
            mf_tensor *all[] = {x32, x64, y32, y64, yd};
            for (size_t i = 0; i < sizeof all / sizeof *all; i++)
                mf_tensor_release(all[i]);
        }
    }
}
