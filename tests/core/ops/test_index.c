/* Index ops: concat/stack/split/chunk, index_select, gather, scatter_add and
 * masked_fill — values (hand-computed and torch float64 fixtures),
 * finite-difference gradients, and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FIX "index.safetensors"

static mf_tensor *idx(int ndim, const int64_t *shape, const int64_t *v) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_from_data(ndim, shape, MF_I64, v, &t));
    return t;
}

/* ---------------------------------------------------------- concat/stack */

Test(index, concat_joins_along_the_middle_dim) {
    mf_tensor *a = t_from(2, (int64_t[]){2, 1}, MF_F32, (double[]){1, 2});
    mf_tensor *b = t_from(2, (int64_t[]){2, 2}, MF_F32, (double[]){3, 4, 5, 6});
    mf_tensor *y, *xs[2] = {a, b};
    MF_OK_OR_FAIL(mf_concat(2, xs, -1, &y));
    mf_tensor *want = t_from(2, (int64_t[]){2, 3}, MF_F32, (double[]){1, 3, 4, 2, 5, 6});
    t_assert_close(y, want, 0, 0, "concat");
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(y);
    mf_tensor_release(want);
}

Test(index, concat_reads_non_contiguous_inputs) {
    mf_tensor *a = t_from(2, (int64_t[]){2, 3}, MF_F64, (double[]){1, 2, 3, 4, 5, 6});
    mf_tensor *at, *y;
    MF_OK_OR_FAIL(mf_transpose(a, 0, 1, &at)); /* [3, 2] */
    mf_tensor *xs[2] = {at, at};
    MF_OK_OR_FAIL(mf_concat(2, xs, 0, &y));
    mf_tensor *want = t_from(2, (int64_t[]){6, 2}, MF_F64, (double[]){1, 4, 2, 5, 3, 6, 1, 4, 2, 5, 3, 6});
    t_assert_close(y, want, 0, 0, "concat of transposes");
    mf_tensor_release(a);
    mf_tensor_release(at);
    mf_tensor_release(y);
    mf_tensor_release(want);
}

Test(index, stack_adds_a_new_dim) {
    mf_tensor *a = t_from(1, (int64_t[]){2}, MF_F32, (double[]){1, 2});
    mf_tensor *b = t_from(1, (int64_t[]){2}, MF_F32, (double[]){3, 4});
    mf_tensor *y, *xs[2] = {a, b};
    MF_OK_OR_FAIL(mf_stack(2, xs, 1, &y));
    mf_tensor *want = t_from(2, (int64_t[]){2, 2}, MF_F32, (double[]){1, 3, 2, 4});
    t_assert_close(y, want, 0, 0, "stack");
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(y);
    mf_tensor_release(want);
}

static mf_status call_concat(void *ctx, mf_tensor *const *in, mf_tensor **out) { return mf_concat(3, in, 1, out); }
static mf_status call_stack(void *ctx, mf_tensor *const *in, mf_tensor **out) { return mf_stack(3, in, -1, out); }

Test(index, concat_and_stack_grads_match_finite_difference) {
    mf_tensor *a = t_param(t_uniform(1, 3, (int64_t[]){2, 1, 3}, MF_F64, -1, 1));
    mf_tensor *b = t_uniform(2, 3, (int64_t[]){2, 2, 3}, MF_F64, -1, 1); /* no grad: slot stays NULL */
    mf_tensor *c = t_param(t_uniform(3, 3, (int64_t[]){2, 3, 3}, MF_F64, -1, 1));
    mf_tensor *in[3] = {a, b, c};
    t_gradcheck("concat", call_concat, NULL, 3, in, 1e-6, 1e-8, 1e-6);
    mf_tensor *s0 = t_param(t_uniform(4, 2, (int64_t[]){2, 3}, MF_F64, -1, 1));
    mf_tensor *s1 = t_param(t_uniform(5, 2, (int64_t[]){2, 3}, MF_F64, -1, 1));
    mf_tensor *s2 = t_param(t_uniform(6, 2, (int64_t[]){2, 3}, MF_F64, -1, 1));
    mf_tensor *sin_[3] = {s0, s1, s2};
    t_gradcheck("stack", call_stack, NULL, 3, sin_, 1e-6, 1e-8, 1e-6);
    for (int i = 0; i < 3; i++) {
        mf_tensor_release(in[i]);
        mf_tensor_release(sin_[i]);
    }
}

Test(index, concat_of_mismatched_shapes_is_a_shape_error_naming_both) {
    mf_tensor *a = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, 0, 1);
    mf_tensor *b = t_uniform(2, 2, (int64_t[]){3, 4}, MF_F32, 0, 1);
    mf_tensor *y = NULL, *xs[2] = {a, b};
    cr_assert_eq(mf_concat(2, xs, 1, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "concat") && strstr(mf_last_error(), "[3, 4]") &&
                  strstr(mf_last_error(), "[2, 3]"),
              "%s", mf_last_error());
    cr_assert_null(y);
    cr_assert_eq(mf_concat(2, xs, 2, &y), MF_ERR_SHAPE); /* dim out of range */
    cr_assert_eq(mf_concat(0, xs, 0, &y), MF_ERR_INVALID);
    mf_tensor *c = t_uniform(3, 2, (int64_t[]){2, 3}, MF_F64, 0, 1);
    mf_tensor *ac[2] = {a, c};
    cr_assert_eq(mf_concat(2, ac, 0, &y), MF_ERR_DTYPE);
    cr_assert_eq(mf_stack(2, xs, 0, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "stack"), "%s", mf_last_error());
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(c);
}

/* ----------------------------------------------------------- split/chunk */

Test(index, split_gives_views_of_the_given_sizes) {
    mf_tensor *x = t_from(2, (int64_t[]){2, 5}, MF_F32, (double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    mf_tensor *p[3];
    MF_OK_OR_FAIL(mf_split(x, 3, (int64_t[]){2, 0, 3}, 1, p));
    cr_assert_eq(p[0]->shape[1], 2);
    cr_assert_eq(p[1]->shape[1], 0);
    cr_assert_eq(p[2]->shape[1], 3);
    cr_assert_eq(p[2]->storage, x->storage, "pieces are views");
    mf_tensor *want = t_from(2, (int64_t[]){2, 3}, MF_F32, (double[]){2, 3, 4, 7, 8, 9});
    t_assert_close(p[2], want, 0, 0, "split piece 2");
    for (int i = 0; i < 3; i++)
        mf_tensor_release(p[i]);
    mf_tensor_release(x);
    mf_tensor_release(want);
}

Test(index, split_sizes_that_do_not_add_up_are_rejected) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 5}, MF_F32, 0, 1);
    mf_tensor *p[2] = {NULL, NULL};
    cr_assert_eq(mf_split(x, 2, (int64_t[]){2, 2}, 1, p), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "split") && strstr(mf_last_error(), "[2, 5]"), "%s", mf_last_error());
    cr_assert_eq(mf_split(x, 2, (int64_t[]){6, -1}, 1, p), MF_ERR_INVALID);
    cr_assert_null(p[0]);
    mf_tensor_release(x);
}

Test(index, chunk_follows_torch_piece_counts) {
    /* torch.chunk: size 5 in 3 -> [2, 2, 1]; size 6 in 4 -> [2, 2, 2] (3 pieces);
     * size 2 in 5 -> [1, 1] */
    struct {
        int64_t size;
        int n, pieces;
        int64_t sizes[5];
    } cases[] = {{5, 3, 3, {2, 2, 1}}, {6, 4, 3, {2, 2, 2}}, {2, 5, 2, {1, 1}}, {7, 1, 1, {7}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, cases[c].size}, MF_F32, 0, 1);
        mf_tensor *p[8];
        int got;
        MF_OK_OR_FAIL(mf_chunk(x, cases[c].n, 1, p, &got));
        cr_assert_eq(got, cases[c].pieces, "case %zu: %d pieces", c, got);
        for (int i = 0; i < got; i++) {
            cr_assert_eq(p[i]->shape[1], cases[c].sizes[i], "case %zu piece %d", c, i);
            mf_tensor_release(p[i]);
        }
        mf_tensor_release(x);
    }
}

static mf_status call_chunk_mix(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    mf_tensor *p[3];
    int n;
    MF_TRY(mf_chunk(in[0], 3, 0, p, &n));
    /* p2 * 2 + p0[:1] so pieces get different weights */
    mf_tensor *s = NULL, *t = NULL;
    mf_status st = mf_mul_scalar(p[2], 2.0, &s);
    if (st == MF_OK)
        st = mf_slice(p[0], 0, 0, 1, 1, &t);
    if (st == MF_OK)
        st = mf_add(s, t, out);
    mf_tensor_release(s);
    mf_tensor_release(t);
    for (int i = 0; i < n; i++)
        mf_tensor_release(p[i]);
    return st;
}

Test(index, chunk_grad_matches_finite_difference) {
    mf_tensor *x = t_param(t_uniform(1, 2, (int64_t[]){5, 3}, MF_F64, -1, 1));
    t_gradcheck("chunk", call_chunk_mix, NULL, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
}

static mf_status call_split_swap(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    mf_tensor *p[2];
    MF_TRY(mf_split(in[0], 2, (int64_t[]){1, 3}, -1, p));
    mf_tensor *q[2] = {p[1], p[0]};
    mf_status st = mf_concat(2, q, -1, out); /* pieces swapped: each gradient lands in its own slice */
    mf_tensor_release(p[0]);
    mf_tensor_release(p[1]);
    return st;
}

Test(index, split_grad_matches_finite_difference) {
    mf_tensor *x = t_param(t_uniform(1, 2, (int64_t[]){3, 4}, MF_F64, -1, 1));
    t_gradcheck("split", call_split_swap, NULL, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
}

/* ---------------------------------------------------------- index_select */

Test(index, index_select_matches_torch) {
    mf_tensor *x = t_fixture(FIX, "x"), *i = t_fixture(FIX, "isel_index"), *want = t_fixture(FIX, "isel_dim1");
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_index_select(x, 1, i, &y));
    t_assert_close(y, want, 0, 0, "index_select");
    mf_tensor_release(y);
    /* f32 and a non-contiguous input give the same values */
    mf_tensor *xf, *xt, *yt;
    MF_OK_OR_FAIL(mf_to_dtype(x, MF_F32, &xf));
    MF_OK_OR_FAIL(mf_transpose(xf, 0, 2, &xt)); /* [4, 5, 3] */
    MF_OK_OR_FAIL(mf_index_select(xt, 1, i, &yt));
    mf_tensor *wt, *wf;
    MF_OK_OR_FAIL(mf_transpose(want, 0, 2, &wt));
    MF_OK_OR_FAIL(mf_to_dtype(wt, MF_F32, &wf));
    t_assert_close(yt, wf, 0, 0, "index_select transposed f32");
    mf_tensor_release(xf);
    mf_tensor_release(xt);
    mf_tensor_release(yt);
    mf_tensor_release(wt);
    mf_tensor_release(wf);
    mf_tensor_release(x);
    mf_tensor_release(i);
    mf_tensor_release(want);
}

Test(index, index_select_works_on_integer_tensors) {
    mf_tensor *x = idx(1, (int64_t[]){4}, (int64_t[]){10, 11, 12, 13});
    mf_tensor *i = idx(1, (int64_t[]){3}, (int64_t[]){3, 3, 0});
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_index_select(x, 0, i, &y));
    cr_assert_eq(y->dtype, MF_I64);
    cr_assert_eq(mf_tensor_get_flat(y, 0), 13);
    cr_assert_eq(mf_tensor_get_flat(y, 1), 13);
    cr_assert_eq(mf_tensor_get_flat(y, 2), 10);
    mf_tensor_release(x);
    mf_tensor_release(i);
    mf_tensor_release(y);
}

static mf_status call_isel(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_index_select(in[0], 1, ctx, out);
}

Test(index, index_select_grad_accumulates_repeated_indices) {
    mf_tensor *x = t_param(t_uniform(1, 3, (int64_t[]){2, 4, 3}, MF_F64, -1, 1));
    mf_tensor *i = idx(1, (int64_t[]){5}, (int64_t[]){3, 0, 3, 3, 1});
    t_gradcheck("index_select", call_isel, i, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
    mf_tensor_release(i);
}

/* ---------------------------------------------------------------- gather */

Test(index, gather_matches_torch) {
    mf_tensor *x = t_fixture(FIX, "x"), *i = t_fixture(FIX, "gather_index"), *want = t_fixture(FIX, "gather_dim1");
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_gather(x, 1, i, &y));
    t_assert_close(y, want, 0, 0, "gather");
    mf_tensor_release(x);
    mf_tensor_release(i);
    mf_tensor_release(want);
    mf_tensor_release(y);
}

Test(index, gather_with_an_index_smaller_than_the_input_in_other_dims) {
    mf_tensor *x = t_from(2, (int64_t[]){3, 3}, MF_F32, (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    mf_tensor *i = idx(2, (int64_t[]){2, 1}, (int64_t[]){2, 0});
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_gather(x, 1, i, &y));
    mf_tensor *want = t_from(2, (int64_t[]){2, 1}, MF_F32, (double[]){3, 4});
    t_assert_close(y, want, 0, 0, "gather");
    mf_tensor_release(x);
    mf_tensor_release(i);
    mf_tensor_release(y);
    mf_tensor_release(want);
}

static mf_status call_gather(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_gather(in[0], -2, ctx, out);
}

Test(index, gather_grad_matches_finite_difference) {
    mf_tensor *x = t_param(t_fixture(FIX, "x"));
    mf_tensor *i = t_fixture(FIX, "gather_index");
    t_gradcheck("gather", call_gather, i, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
    mf_tensor_release(i);
}

/* ----------------------------------------------------------- scatter_add */

Test(index, scatter_add_matches_torch) {
    mf_tensor *x = t_fixture(FIX, "x"), *i = t_fixture(FIX, "scatter_index"), *s = t_fixture(FIX, "scatter_src");
    mf_tensor *want = t_fixture(FIX, "scatter_add_dim1");
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_scatter_add(x, 1, i, s, &y));
    t_assert_close(y, want, 1e-15, 1e-14, "scatter_add");
    cr_assert_neq(y->storage, x->storage, "out of place");
    mf_tensor_release(x);
    mf_tensor_release(i);
    mf_tensor_release(s);
    mf_tensor_release(want);
    mf_tensor_release(y);
}

static mf_status call_scatter(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_scatter_add(in[0], 1, ctx, in[1], out);
}

Test(index, scatter_add_grads_match_finite_difference_in_x_and_src) {
    mf_tensor *x = t_param(t_fixture(FIX, "x"));
    mf_tensor *s = t_param(t_fixture(FIX, "scatter_src"));
    mf_tensor *i = t_fixture(FIX, "scatter_index");
    mf_tensor *in[2] = {x, s};
    t_gradcheck("scatter_add", call_scatter, i, 2, in, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
    mf_tensor_release(s);
    mf_tensor_release(i);
}

Test(index, scatter_add_is_identical_on_one_and_two_threads) {
    int64_t n = 40000;
    mf_tensor *x = t_uniform(1, 1, (int64_t[]){64}, MF_F32, -1, 1);
    mf_tensor *s = t_uniform(2, 2, (int64_t[]){1, n}, MF_F32, -1, 1);
    mf_tensor *sv;
    MF_OK_OR_FAIL(mf_reshape(s, 1, (int64_t[]){n}, &sv));
    int64_t *iv = malloc((size_t)n * sizeof *iv);
    for (int64_t k = 0; k < n; k++)
        iv[k] = (k * 7919) % 64;
    mf_tensor *i = idx(1, (int64_t[]){n}, iv);
    free(iv);
    int before = mf_num_threads();
    mf_tensor *y1, *y2;
    mf_set_num_threads(1);
    MF_OK_OR_FAIL(mf_scatter_add(x, 0, i, sv, &y1));
    mf_set_num_threads(2);
    MF_OK_OR_FAIL(mf_scatter_add(x, 0, i, sv, &y2));
    mf_set_num_threads(before);
    t_assert_close(y1, y2, 0, 0, "scatter_add 1 vs 2 threads");
    mf_tensor_release(x);
    mf_tensor_release(s);
    mf_tensor_release(sv);
    mf_tensor_release(i);
    mf_tensor_release(y1);
    mf_tensor_release(y2);
}

/* ------------------------------------------------------------- bad input */

Test(index, out_of_range_index_names_value_dim_and_size) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 5}, MF_F32, 0, 1);
    mf_tensor *i = idx(1, (int64_t[]){3}, (int64_t[]){0, 7, 1});
    mf_tensor *y = NULL;
    cr_assert_eq(mf_index_select(x, 1, i, &y), MF_ERR_INVALID);
    const char *m = mf_last_error();
    cr_assert(strstr(m, "index_select") && strstr(m, "index 7") && strstr(m, "dim 1") && strstr(m, "size 5"), "%s",
              m);
    cr_assert_null(y);
    mf_tensor *neg = idx(2, (int64_t[]){1, 1}, (int64_t[]){-1});
    cr_assert_eq(mf_gather(x, 0, neg, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "gather") && strstr(mf_last_error(), "index -1"), "%s", mf_last_error());
    mf_tensor *s = t_uniform(2, 2, (int64_t[]){1, 1}, MF_F32, 0, 1);
    mf_tensor *big = idx(2, (int64_t[]){1, 1}, (int64_t[]){3});
    cr_assert_eq(mf_scatter_add(x, 0, big, s, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "scatter_add") && strstr(mf_last_error(), "size 3"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
    mf_tensor_release(i);
    mf_tensor_release(neg);
    mf_tensor_release(s);
    mf_tensor_release(big);
}

Test(index, index_dtype_and_shape_errors) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 5}, MF_F32, 0, 1);
    mf_tensor *fi = t_from(1, (int64_t[]){2}, MF_F32, (double[]){0, 1});
    mf_tensor *y = NULL;
    cr_assert_eq(mf_index_select(x, 0, fi, &y), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "index_select") && strstr(mf_last_error(), "f32"), "%s", mf_last_error());
    mf_tensor *i1 = idx(1, (int64_t[]){2}, (int64_t[]){0, 1});
    cr_assert_eq(mf_gather(x, 1, i1, &y), MF_ERR_SHAPE); /* rank differs */
    cr_assert(strstr(mf_last_error(), "gather"), "%s", mf_last_error());
    mf_tensor *i2 = idx(2, (int64_t[]){4, 1}, (int64_t[]){0, 0, 0, 0});
    cr_assert_eq(mf_gather(x, 1, i2, &y), MF_ERR_SHAPE); /* larger than x in dim 0 */
    mf_tensor *s64 = t_uniform(2, 2, (int64_t[]){4, 1}, MF_F64, 0, 1);
    cr_assert_eq(mf_scatter_add(x, 1, i2, s64, &y), MF_ERR_DTYPE);
    cr_assert_eq(mf_index_select(x, 2, i1, &y), MF_ERR_SHAPE);
    cr_assert_null(y);
    mf_tensor_release(x);
    mf_tensor_release(fi);
    mf_tensor_release(i1);
    mf_tensor_release(i2);
    mf_tensor_release(s64);
}

/* ----------------------------------------------------------- masked_fill */

Test(index, masked_fill_broadcasts_the_mask) {
    mf_tensor *x = t_from(2, (int64_t[]){2, 3}, MF_F32, (double[]){1, 2, 3, 4, 5, 6});
    mf_tensor *m = t_from(1, (int64_t[]){3}, MF_BOOL, (double[]){1, 0, 1});
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_masked_fill(x, m, -INFINITY, &y));
    mf_tensor *want = t_from(2, (int64_t[]){2, 3}, MF_F32, (double[]){-INFINITY, 2, -INFINITY, -INFINITY, 5, -INFINITY});
    for (int k = 0; k < 6; k++)
        cr_assert_eq(mf_tensor_get_flat(y, k), mf_tensor_get_flat(want, k), "element %d", k);
    mf_tensor_release(x);
    mf_tensor_release(m);
    mf_tensor_release(y);
    mf_tensor_release(want);
}

static mf_status call_mfill(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_masked_fill(in[0], ctx, 3.5, out);
}

Test(index, masked_fill_grad_is_zero_where_filled) {
    mf_tensor *x = t_param(t_uniform(1, 2, (int64_t[]){3, 4}, MF_F64, -1, 1));
    mf_tensor *m = t_from(2, (int64_t[]){3, 1}, MF_BOOL, (double[]){0, 1, 0});
    t_gradcheck("masked_fill", call_mfill, m, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
    mf_tensor_release(m);
}

Test(index, masked_fill_needs_a_bool_mask_of_broadcastable_shape) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, 0, 1);
    mf_tensor *mf = t_from(1, (int64_t[]){3}, MF_F32, (double[]){1, 0, 1});
    mf_tensor *mb = t_from(1, (int64_t[]){2}, MF_BOOL, (double[]){1, 0});
    mf_tensor *y = NULL;
    cr_assert_eq(mf_masked_fill(x, mf, 0, &y), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "masked_fill"), "%s", mf_last_error());
    cr_assert_eq(mf_masked_fill(x, mb, 0, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "masked_fill") && strstr(mf_last_error(), "[2, 3]"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
    mf_tensor_release(mf);
    mf_tensor_release(mb);
}
