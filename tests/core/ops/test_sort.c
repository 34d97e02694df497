/* Sort family: cumsum, stable sort and topk against float64 torch fixtures
 * (tools/fixtures/gen_sort.py), finite-difference gradients, bad input. */
#include <math.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FX "sort.safetensors"

static void expect_fixture(const mf_tensor *got, const char *name) {
    mf_tensor *want = t_fixture(FX, name);
    t_assert_close(got, want, 1e-13, 1e-13, name);
    mf_tensor_release(want);
}

static mf_tensor *transposed(const mf_tensor *x) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 1, &t));
    cr_assert(!mf_tensor_is_contiguous(t));
    return t;
}

/* ----------------------------------------------------------------- values */

Test(sort, cumsum_matches_torch_along_rows_and_down_a_strided_view) {
    mf_tensor *x = t_fixture(FX, "x"), *xt = transposed(x), *a, *b;
    MF_OK_OR_FAIL(mf_cumsum(x, 1, &a));
    MF_OK_OR_FAIL(mf_cumsum(xt, 0, &b));
    expect_fixture(a, "cumsum_d1");
    expect_fixture(b, "cumsum_t_d0");
    t_release_all((mf_tensor *[]){x, xt, a, b}, 4);
}

Test(sort, cumsum_of_integers_stays_integer) {
    mf_tensor *x = t_from(1, (int64_t[]){4}, MF_I64, (double[]){1, 2, 3, 4}), *y;
    MF_OK_OR_FAIL(mf_cumsum(x, 0, &y));
    cr_assert_eq(y->dtype, MF_I64);
    cr_assert_eq(mf_tensor_get_flat(y, 3), 10);
    t_release_all((mf_tensor *[]){x, y}, 2);
}

Test(sort, sort_is_stable_on_ties_in_both_directions_like_torch) {
    mf_tensor *x = t_fixture(FX, "xi"), *av, *ai, *dv, *di;
    MF_OK_OR_FAIL(mf_sort(x, 1, false, &av, &ai));
    MF_OK_OR_FAIL(mf_sort(x, -1, true, &dv, &di));
    cr_assert_eq(ai->dtype, MF_I64);
    expect_fixture(av, "sort_ties_asc_values");
    expect_fixture(ai, "sort_ties_asc_indices");
    expect_fixture(dv, "sort_ties_desc_values");
    expect_fixture(di, "sort_ties_desc_indices");
    t_release_all((mf_tensor *[]){x, av, ai, dv, di}, 5);
}

Test(sort, sort_down_a_strided_view_matches_torch) {
    mf_tensor *x = t_fixture(FX, "x"), *xt = transposed(x), *v, *i;
    MF_OK_OR_FAIL(mf_sort(xt, 0, false, &v, &i));
    expect_fixture(v, "sort_t_d0_values");
    expect_fixture(i, "sort_t_d0_indices");
    t_release_all((mf_tensor *[]){x, xt, v, i}, 4);
}

Test(sort, sort_puts_nan_last_ascending_and_first_descending) {
    mf_tensor *x = t_from(1, (int64_t[]){4}, MF_F32, (double[]){2, NAN, -1, 5}), *a, *d;
    MF_OK_OR_FAIL(mf_sort(x, 0, false, &a, NULL));
    MF_OK_OR_FAIL(mf_sort(x, 0, true, &d, NULL));
    cr_assert(mf_tensor_get_flat(a, 0) == -1 && isnan(mf_tensor_get_flat(a, 3)));
    cr_assert(isnan(mf_tensor_get_flat(d, 0)) && mf_tensor_get_flat(d, 1) == 5);
    t_release_all((mf_tensor *[]){x, a, d}, 3);
}

Test(sort, topk_returns_sorted_largest_and_smallest_like_torch) {
    mf_tensor *x = t_fixture(FX, "x"), *lv, *li, *sv, *si;
    MF_OK_OR_FAIL(mf_topk(x, 3, 1, true, &lv, &li));
    MF_OK_OR_FAIL(mf_topk(x, 2, 0, false, &sv, &si));
    cr_assert(lv->shape[0] == 4 && lv->shape[1] == 3);
    expect_fixture(lv, "topk3_largest_values");
    expect_fixture(li, "topk3_largest_indices");
    expect_fixture(sv, "topk2_smallest_d0_values");
    expect_fixture(si, "topk2_smallest_d0_indices");
    t_release_all((mf_tensor *[]){x, lv, li, sv, si}, 5);
}

Test(sort, topk_of_zero_elements_gives_an_empty_dim) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 5}, MF_F32, 0, 1), *v, *i;
    MF_OK_OR_FAIL(mf_topk(x, 0, 1, true, &v, &i));
    cr_assert(v->shape[0] == 3 && v->shape[1] == 0 && mf_tensor_numel(i) == 0);
    t_release_all((mf_tensor *[]){x, v, i}, 3);
}

/* -------------------------------------------------------------- gradients */

typedef struct {
    int which;
    bool transpose;
} sort_case;

static mf_status sort_fn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    const sort_case *c = ctx;
    mf_tensor *x = in[0], *t = NULL, *idx = NULL;
    if (c->transpose) {
        MF_TRY(mf_transpose(in[0], 0, 1, &t));
        x = t;
    }
    mf_status st = MF_OK;
    switch (c->which) {
    case 0: st = mf_cumsum(x, 1, out); break;
    case 1: st = mf_cumsum(x, 0, out); break;
    case 2: st = mf_sort(x, 1, false, out, &idx); break;
    case 3: st = mf_sort(x, 0, true, out, NULL); break;
    case 4: st = mf_topk(x, 2, 1, true, out, &idx); break;
    case 5: st = mf_topk(x, 3, 0, false, out, NULL); break;
    }
    mf_tensor_release(t);
    mf_tensor_release(idx);
    return st;
}

Test(sort, grads_match_finite_difference_for_cumsum_sort_and_topk) {
    const char *names[] = {"cumsum_d1", "cumsum_d0", "sort_asc", "sort_desc", "topk_largest", "topk_smallest"};
    for (int which = 0; which < 6; which++)
        for (int tr = 0; tr < 2; tr++) {
            sort_case c = {.which = which, .transpose = tr};
            /* uniform doubles: no ties, so the order is stable under the step */
            mf_tensor *x = t_param(t_uniform(80 + which, 2, (int64_t[]){4, 5}, MF_F64, -2, 2));
            t_gradcheck(names[which], sort_fn, &c, 1, &x, 1e-6, 1e-8, 1e-6);
            mf_tensor_release(x);
        }
}

Test(sort, topk_sends_the_gradient_only_to_the_chosen_elements) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){5}, MF_F64, (double[]){3, 9, 1, 7, 5})), *v, *s;
    MF_OK_OR_FAIL(mf_topk(x, 2, 0, true, &v, NULL));
    MF_OK_OR_FAIL(mf_sum(v, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    mf_tensor *want = t_from(1, (int64_t[]){5}, MF_F64, (double[]){0, 1, 0, 1, 0});
    t_assert_close(x->grad, want, 0, 0, "topk grad");
    t_release_all((mf_tensor *[]){x, v, s, want}, 4);
}

/* -------------------------------------------------------------- bad input */

static void expect_error(mf_status st, mf_status want, const char *op) {
    cr_assert_eq(st, want, "%s: got %s", op, mf_status_name(st));
    cr_assert(strstr(mf_last_error(), op), "message does not name %s: %s", op, mf_last_error());
}

Test(sort, out_of_range_dims_give_shape_errors_naming_the_op) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, 0, 1), *v = NULL, *i = NULL;
    expect_error(mf_cumsum(x, 2, &v), MF_ERR_SHAPE, "cumsum");
    expect_error(mf_sort(x, -3, false, &v, &i), MF_ERR_SHAPE, "sort");
    expect_error(mf_topk(x, 1, 4, true, &v, &i), MF_ERR_SHAPE, "topk");
    cr_assert_null(v);
    cr_assert_null(i);
    mf_tensor_release(x);
}

Test(sort, topk_with_k_larger_than_the_dim_is_invalid_and_says_so) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, 0, 1), *v = NULL, *i = NULL;
    expect_error(mf_topk(x, 4, 1, true, &v, &i), MF_ERR_INVALID, "topk");
    cr_assert(strstr(mf_last_error(), "k = 4") && strstr(mf_last_error(), "[2, 3]"), "%s", mf_last_error());
    expect_error(mf_topk(x, -1, 1, true, &v, &i), MF_ERR_INVALID, "topk");
    cr_assert_null(v);
    mf_tensor_release(x);
}

Test(sort, bool_tensors_are_rejected_with_a_dtype_error) {
    mf_tensor *x = t_from(1, (int64_t[]){3}, MF_BOOL, (double[]){1, 0, 1}), *v = NULL;
    expect_error(mf_cumsum(x, 0, &v), MF_ERR_DTYPE, "cumsum");
    expect_error(mf_sort(x, 0, false, &v, NULL), MF_ERR_DTYPE, "sort");
    expect_error(mf_topk(x, 1, 0, true, &v, NULL), MF_ERR_DTYPE, "topk");
    cr_assert_null(v);
    mf_tensor_release(x);
}

Test(sort, topk_equals_the_head_of_the_stable_sort_with_ties_and_nans) {
    /* long lines with many ties and a few NaNs exercise the selection path */
    mf_tensor *x = t_uniform(5, 2, (int64_t[]){3, 200}, MF_F64, 0, 6);
    for (int64_t i = 0; i < 600; i++)
        mf_tensor_set_flat(x, i, i % 37 == 5 ? NAN : floor(mf_tensor_get_flat(x, i)));
    int64_t ks[] = {1, 5, 50, 200};
    for (int dir = 0; dir < 2; dir++) {
        mf_tensor *sv, *si;
        MF_OK_OR_FAIL(mf_sort(x, 1, dir, &sv, &si));
        for (size_t q = 0; q < sizeof ks / sizeof ks[0]; q++) {
            mf_tensor *tv, *ti, *hv, *hi;
            MF_OK_OR_FAIL(mf_topk(x, ks[q], 1, dir, &tv, &ti));
            MF_OK_OR_FAIL(mf_slice(sv, 1, 0, ks[q], 1, &hv));
            MF_OK_OR_FAIL(mf_slice(si, 1, 0, ks[q], 1, &hi));
            for (int64_t i = 0; i < mf_tensor_numel(tv); i++) {
                double a = mf_tensor_get_flat(tv, i), b = mf_tensor_get_flat(hv, i);
                cr_assert(a == b || (isnan(a) && isnan(b)), "k %lld dir %d at %lld: %g vs %g", (long long)ks[q],
                          dir, (long long)i, a, b);
                cr_assert_eq(mf_tensor_get_flat(ti, i), mf_tensor_get_flat(hi, i));
            }
            t_release_all((mf_tensor *[]){tv, ti, hv, hi}, 4);
        }
        t_release_all((mf_tensor *[]){sv, si}, 2);
    }
    mf_tensor_release(x);
}

Test(sort, sort_of_a_long_line_is_ordered_and_stable) {
    mf_tensor *x = t_uniform(9, 1, (int64_t[]){1000}, MF_F32, 0, 50), *v, *i;
    for (int64_t k = 0; k < 1000; k++)
        mf_tensor_set_flat(x, k, floor(mf_tensor_get_flat(x, k)));
    MF_OK_OR_FAIL(mf_sort(x, 0, true, &v, &i));
    for (int64_t k = 1; k < 1000; k++) {
        double a = mf_tensor_get_flat(v, k - 1), b = mf_tensor_get_flat(v, k);
        cr_assert(a > b || (a == b && mf_tensor_get_flat(i, k - 1) < mf_tensor_get_flat(i, k)), "at %lld", (long long)k);
        cr_assert_eq(mf_tensor_get_flat(x, (int64_t)mf_tensor_get_flat(i, k)), b);
    }
    t_release_all((mf_tensor *[]){x, v, i}, 3);
}

Test(sort, f32_sort_and_cumsum_agree_with_f64) {
    mf_tensor *x64 = t_uniform(4, 2, (int64_t[]){5, 33}, MF_F64, -3, 3), *x32;
    MF_OK_OR_FAIL(mf_to_dtype(x64, MF_F32, &x32));
    mf_tensor *a, *ai, *b, *bi, *c, *d;
    MF_OK_OR_FAIL(mf_sort(x32, 1, true, &a, &ai));
    MF_OK_OR_FAIL(mf_sort(x64, 1, true, &b, &bi));
    MF_OK_OR_FAIL(mf_cumsum(x32, 1, &c));
    MF_OK_OR_FAIL(mf_cumsum(x64, 1, &d));
    t_assert_close(a, b, 1e-6, 1e-6, "sort f32");
    t_assert_close(ai, bi, 0, 0, "sort indices f32");
    t_assert_close(c, d, 1e-5, 1e-6, "cumsum f32");
    t_release_all((mf_tensor *[]){x64, x32, a, ai, b, bi, c, d}, 8);
}
