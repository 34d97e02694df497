/* Shape ops: views share storage, copies happen only when strides force
 * them, and each backward undoes its forward. */
#include "tests/support/testing.h"

static mf_status permute_fn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    (void)ctx;
    return mf_permute(in[0], (int[]){2, 0, 1}, out);
}

static mf_status slice_fn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    (void)ctx;
    return mf_slice(in[0], 1, 1, -1, 2, out);
}

static mf_status expand_fn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    (void)ctx;
    return mf_expand(in[0], 3, (int64_t[]){2, 3, 4}, out);
}

/* reshape of a transposed (non-contiguous) tensor must copy, and its
 * gradient flows back through the copy. */
static mf_status reshape_fn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    (void)ctx;
    mf_tensor *t;
    MF_TRY(mf_transpose(in[0], 0, 1, &t));
    mf_status st = mf_reshape(t, 1, (int64_t[]){-1}, out);
    mf_tensor_release(t);
    return st;
}

static mf_status squeeze_fn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    (void)ctx;
    mf_tensor *u, *s;
    MF_TRY(mf_unsqueeze(in[0], 1, &u));
    mf_status st = mf_squeeze(u, 1, &s);
    mf_tensor_release(u);
    if (st == MF_OK) {
        st = mf_mul(s, s, out);
        mf_tensor_release(s);
    }
    return st;
}

Test(view, every_view_op_passes_the_gradient_check) {
    mf_tensor *x = t_param(t_uniform(1, 3, (int64_t[]){2, 5, 3}, MF_F64, -1, 1));
    t_gradcheck("permute", permute_fn, NULL, 1, &x, 1e-6, 1e-8, 1e-6);
    t_gradcheck("slice", slice_fn, NULL, 1, &x, 1e-6, 1e-8, 1e-6);
    t_gradcheck("squeeze", squeeze_fn, NULL, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor *m = t_param(t_uniform(2, 2, (int64_t[]){3, 4}, MF_F64, -1, 1));
    t_gradcheck("reshape", reshape_fn, NULL, 1, &m, 1e-6, 1e-8, 1e-6);
    mf_tensor *b = t_param(t_uniform(3, 2, (int64_t[]){3, 1}, MF_F64, -1, 1));
    t_gradcheck("expand", expand_fn, NULL, 1, &b, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
    mf_tensor_release(m);
    mf_tensor_release(b);
}

Test(view, transpose_and_slice_share_storage) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, 0, 1);
    mf_tensor *t, *s;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 1, &t));
    MF_OK_OR_FAIL(mf_slice(x, 1, 1, 3, 1, &s));
    cr_assert_eq(t->storage, x->storage);
    cr_assert_eq(s->storage, x->storage);
    cr_assert(!mf_tensor_is_contiguous(t));
    cr_assert_eq(mf_tensor_get_flat(t, 1), mf_tensor_get_flat(x, 4));
    cr_assert_eq(mf_tensor_get_flat(s, 2), mf_tensor_get_flat(x, 5));
    mf_tensor_release(x);
    mf_tensor_release(t);
    mf_tensor_release(s);
}

Test(view, view_of_non_contiguous_tensor_is_refused_but_reshape_copies) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, 0, 1);
    mf_tensor *t, *v = NULL, *r;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 1, &t));
    cr_assert_eq(mf_view(t, 1, (int64_t[]){12}, &v), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "reshape"), "%s", mf_last_error());
    MF_OK_OR_FAIL(mf_reshape(t, 1, (int64_t[]){12}, &r));
    cr_assert_neq(r->storage, x->storage);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(mf_tensor_get_flat(r, i), mf_tensor_get_flat(t, i));
    mf_tensor_release(x);
    mf_tensor_release(t);
    mf_tensor_release(r);
}

Test(view, bad_shapes_and_dims_are_errors) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, 0, 1);
    mf_tensor *o = NULL;
    cr_assert_eq(mf_reshape(x, 2, (int64_t[]){5, -1}, &o), MF_ERR_SHAPE);
    cr_assert_eq(mf_reshape(x, 2, (int64_t[]){-1, -1}, &o), MF_ERR_SHAPE);
    cr_assert_eq(mf_transpose(x, 0, 2, &o), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "transpose"));
    cr_assert_eq(mf_permute(x, (int[]){0, 0}, &o), MF_ERR_SHAPE);
    cr_assert_eq(mf_squeeze(x, 0, &o), MF_ERR_SHAPE);
    cr_assert_eq(mf_expand(x, 2, (int64_t[]){3, 5}, &o), MF_ERR_SHAPE);
    cr_assert_eq(mf_slice(x, 0, 0, 2, 0, &o), MF_ERR_INVALID);
    cr_assert_null(o);
    mf_tensor_release(x);
}

Test(view, rank_above_eight_is_rejected) {
    mf_tensor *t = NULL;
    int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    cr_assert_eq(mf_tensor_empty(9, shape, MF_F32, MF_DEVICE_CPU, &t), MF_ERR_SHAPE);
    cr_assert_null(t);
}
