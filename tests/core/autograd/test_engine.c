/* The backward engine: accumulation, shared subgraphs, explicit output
 * gradients, no-grad scopes, detach, and freed graphs. */
#include <math.h>

#include "tests/support/testing.h"

Test(autograd, gradient_accumulates_over_two_backwards) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){2}, MF_F64, (double[]){1, 2}));
    for (int i = 0; i < 2; i++) {
        mf_tensor *y, *s;
        MF_OK_OR_FAIL(mf_mul(x, x, &y));
        MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &s));
        MF_OK_OR_FAIL(mf_backward(s, NULL, false));
        mf_tensor_release(y);
        mf_tensor_release(s);
    }
    cr_assert_eq(mf_tensor_get_flat(x->grad, 0), 4.0); /* 2 * 2x */
    cr_assert_eq(mf_tensor_get_flat(x->grad, 1), 8.0);
    mf_tensor_release(x);
}

Test(autograd, shared_subexpression_gets_both_contributions) {
    /* z = a*a + a  =>  dz/da = 2a + 1 */
    mf_tensor *a = t_param(t_from(0, NULL, MF_F64, (double[]){3}));
    mf_tensor *sq, *z;
    MF_OK_OR_FAIL(mf_mul(a, a, &sq));
    MF_OK_OR_FAIL(mf_add(sq, a, &z));
    MF_OK_OR_FAIL(mf_backward(z, NULL, false));
    cr_assert_eq(mf_tensor_get_flat(a->grad, 0), 7.0);
    mf_tensor_release(a);
    mf_tensor_release(sq);
    mf_tensor_release(z);
}

Test(autograd, non_scalar_backward_needs_and_uses_an_output_gradient) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){3}, MF_F64, (double[]){1, 2, 3}));
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_mul_scalar(x, 2.0, &y));
    cr_assert_eq(mf_backward(y, NULL, true), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "not a scalar"), "%s", mf_last_error());
    mf_tensor *g = t_from(1, (int64_t[]){3}, MF_F64, (double[]){1, 10, 100});
    MF_OK_OR_FAIL(mf_backward(y, g, false));
    cr_assert_eq(mf_tensor_get_flat(x->grad, 2), 200.0);
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(g);
}

Test(autograd, second_backward_through_freed_graph_is_a_clear_error) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){2}, MF_F64, (double[]){1, 2}));
    mf_tensor *y, *s;
    MF_OK_OR_FAIL(mf_exp(x, &y));
    MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    cr_assert_eq(mf_backward(s, NULL, false), MF_ERR_STATE);
    cr_assert(strstr(mf_last_error(), "already freed") && strstr(mf_last_error(), "retain_graph"), "%s",
              mf_last_error());
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(s);
}

Test(autograd, retain_graph_allows_a_second_backward) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){2}, MF_F64, (double[]){1, 2}));
    mf_tensor *y, *s;
    MF_OK_OR_FAIL(mf_exp(x, &y));
    MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, true));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    cr_assert_float_eq(mf_tensor_get_flat(x->grad, 0), 2 * exp(1.0), 1e-12);
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(s);
}

Test(autograd, no_grad_scope_records_nothing) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){2}, MF_F64, (double[]){1, 2}));
    bool prev = mf_grad_set_enabled(false);
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_mul(x, x, &y));
    mf_grad_set_enabled(prev);
    cr_assert(!y->requires_grad);
    cr_assert_null(y->grad_fn);
    cr_assert_eq(mf_backward(y, NULL, false), MF_ERR_STATE);
    mf_tensor_release(x);
    mf_tensor_release(y);
}

Test(autograd, detach_cuts_the_graph_but_shares_data) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){2}, MF_F64, (double[]){1, 2}));
    mf_tensor *y, *d, *z, *s;
    MF_OK_OR_FAIL(mf_mul_scalar(x, 3.0, &y));
    MF_OK_OR_FAIL(mf_tensor_detach(y, &d));
    cr_assert_eq(d->storage, y->storage);
    cr_assert(!d->requires_grad);
    MF_OK_OR_FAIL(mf_mul(y, d, &z)); /* d/dx (3x * const) = 3 * d */
    MF_OK_OR_FAIL(mf_sum(z, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    cr_assert_eq(mf_tensor_get_flat(x->grad, 1), 18.0);
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(d);
    mf_tensor_release(z);
    mf_tensor_release(s);
}

Test(autograd, requires_grad_only_on_float_leaves) {
    mf_tensor *i = t_from(1, (int64_t[]){2}, MF_I64, (double[]){1, 2});
    cr_assert_eq(mf_tensor_set_requires_grad(i, true), MF_ERR_DTYPE);
    mf_tensor *x = t_param(t_from(1, (int64_t[]){2}, MF_F64, (double[]){1, 2}));
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_neg(x, &y));
    cr_assert_eq(mf_tensor_set_requires_grad(y, false), MF_ERR_STATE);
    mf_tensor_release(i);
    mf_tensor_release(x);
    mf_tensor_release(y);
}

Test(autograd, deep_chain_backward_and_release_do_not_overflow) {
    mf_tensor *x = t_param(t_from(0, NULL, MF_F64, (double[]){1}));
    mf_tensor *y = mf_tensor_retain(x);
    for (int i = 0; i < 200000; i++) {
        mf_tensor *z;
        MF_OK_OR_FAIL(mf_affine(y, 1.0, 0.001, &z));
        mf_tensor_release(y);
        y = z;
    }
    MF_OK_OR_FAIL(mf_backward(y, NULL, false));
    cr_assert_eq(mf_tensor_get_flat(x->grad, 0), 1.0);
    mf_tensor_release(y);
    mf_tensor_release(x);
}

Test(autograd, the_graph_keeps_no_activation_that_no_backward_saved) {
    /* h = a + b saves nothing; r = relu(h) saves only its output; so once
     * the caller drops h its data is freed, though r's graph runs through it. */
    mf_tensor *a = t_param(t_from(1, (int64_t[]){3}, MF_F64, (double[]){1, -2, 3}));
    mf_tensor *b = t_param(t_from(1, (int64_t[]){3}, MF_F64, (double[]){0.5, 0.5, -4}));
    mf_tensor *h, *r, *s;
    MF_OK_OR_FAIL(mf_add(a, b, &h));
    MF_OK_OR_FAIL(mf_relu(h, &r));
    cr_assert_eq(h->refcount, 1, "the graph holds the tensor h");
    cr_assert_eq(h->storage->refcount, 1, "the graph holds h's data");
    cr_assert_gt(r->storage->refcount, 1, "relu keeps its output for its backward");
    mf_tensor_release(h);
    MF_OK_OR_FAIL(mf_sum(r, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    const double want[] = {1, 0, 0}; /* relu'(h) with h = {1.5, -1.5, -1} */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mf_tensor_get_flat(a->grad, i), want[i]);
        cr_assert_eq(mf_tensor_get_flat(b->grad, i), want[i]);
    }
    mf_tensor_release(r);
    mf_tensor_release(s);
    mf_tensor_release(a);
    mf_tensor_release(b);
}
