/* The module base: hierarchical names in torch's order, parameters as
 * leaves requiring gradients, lookups, train/eval propagation, ownership. */
#include <string.h>

#include "tests/core/nn/nn_expect.h"

static const mf_module_vtable box_vt = {"Box", NULL, NULL};

/* A module with one parameter "w" (2, 3), one buffer "count" and no forward. */
static mf_module *box(void) {
    mf_module *m;
    MF_OK_OR_FAIL(mf_module_alloc(sizeof(mf_module), &box_vt, &m));
    mf_tensor *w, *c;
    MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){2, 3}, MF_F32, MF_DEVICE_CPU, &w));
    MF_OK_OR_FAIL(mf_module_add_param(m, "w", w, NULL));
    MF_OK_OR_FAIL(mf_tensor_zeros(0, NULL, MF_I64, MF_DEVICE_CPU, &c));
    MF_OK_OR_FAIL(mf_module_add_buffer(m, "count", c, NULL));
    return m;
}

/* root{w, count, a: box, b: Sequential[box, box]} */
static mf_module *tree(void) {
    mf_module *root = box(), *seq;
    MF_OK_OR_FAIL(mf_module_add_child(root, "a", box(), NULL));
    MF_OK_OR_FAIL(mf_nn_sequential_new(&seq));
    MF_OK_OR_FAIL(mf_nn_sequential_append(seq, box()));
    MF_OK_OR_FAIL(mf_nn_sequential_append(seq, box()));
    MF_OK_OR_FAIL(mf_module_add_child(root, "b", seq, NULL));
    return root;
}

Test(nn_module, state_lists_own_members_before_children_with_dotted_names) {
    mf_module *m = tree();
    t_expect want[] = {{"w", 2, {2, 3}},       {"count", 0, {0}},       {"a.w", 2, {2, 3}}, {"a.count", 0, {0}},
                       {"b.0.w", 2, {2, 3}},   {"b.0.count", 0, {0}},   {"b.1.w", 2, {2, 3}}, {"b.1.count", 0, {0}}};
    t_expect_state(m, 8, want);
    mf_module_free(m);
}

Test(nn_module, named_parameters_hold_only_parameters_and_they_require_grad) {
    mf_module *m = tree();
    mf_named_tensors l;
    MF_OK_OR_FAIL(mf_module_named_parameters(m, &l));
    cr_assert_eq(l.n, 4);
    const char *want[] = {"w", "a.w", "b.0.w", "b.1.w"};
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(l.items[i].name, want[i]);
        cr_assert(l.items[i].tensor->requires_grad);
        cr_assert_null(l.items[i].tensor->grad_fn);
    }
    mf_named_tensors_free(&l);
    MF_OK_OR_FAIL(mf_module_named_buffers(m, &l));
    cr_assert_eq(l.n, 4);
    cr_assert_str_eq(l.items[3].name, "b.1.count");
    cr_assert_eq(l.items[3].tensor->dtype, MF_I64);
    mf_named_tensors_free(&l);
    cr_assert_eq(mf_module_num_params(m), 24);
    mf_module_free(m);
}

Test(nn_module, find_resolves_dotted_names_and_reports_missing_ones) {
    mf_module *m = tree();
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_module_find(m, "b.1.w", &t));
    mf_module *c;
    MF_OK_OR_FAIL(mf_module_find_child(m, "b.1", &c));
    cr_assert_eq(t, mf_module_param(c, 0));
    MF_OK_OR_FAIL(mf_module_find(m, "count", &t));
    cr_assert_eq(t->dtype, MF_I64);
    cr_assert_eq(mf_module_find(m, "b.2.w", &t), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "'2'"), "%s", mf_last_error());
    cr_assert_null(t);
    cr_assert_eq(mf_module_find(m, "a.nope", &t), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "a.nope"), "%s", mf_last_error());
    mf_module_free(m);
}

Test(nn_module, train_and_eval_reach_every_descendant) {
    mf_module *m = tree(), *c;
    cr_assert(m->training);
    mf_module_train(m, false);
    MF_OK_OR_FAIL(mf_module_find_child(m, "b.1", &c));
    cr_assert(!m->training && !c->training);
    mf_module_train(m, true);
    cr_assert(c->training);
    mf_module_free(m);
}

Test(nn_module, duplicate_and_dotted_names_are_rejected_and_the_tensor_released) {
    mf_module *m = box();
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_zeros(1, (int64_t[]){2}, MF_F32, MF_DEVICE_CPU, &t));
    cr_assert_eq(mf_module_add_param(m, "w", t, NULL), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "'w' already registered"), "%s", mf_last_error());
    MF_OK_OR_FAIL(mf_tensor_zeros(1, (int64_t[]){2}, MF_F32, MF_DEVICE_CPU, &t));
    cr_assert_eq(mf_module_add_buffer(m, "a.b", t, NULL), MF_ERR_INVALID);
    cr_assert_eq(mf_module_add_child(m, "count", box(), NULL), MF_ERR_INVALID);
    mf_module_free(m); /* LeakSanitizer checks the rejected members were freed */
}

Test(nn_module, integer_parameters_are_rejected) {
    mf_module *m = box();
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_zeros(1, (int64_t[]){2}, MF_I64, MF_DEVICE_CPU, &t));
    cr_assert_eq(mf_module_add_param(m, "idx", t, NULL), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "i64"), "%s", mf_last_error());
    mf_module_free(m);
}

Test(nn_module, forward_of_a_container_without_one_is_an_error) {
    mf_module *m = box();
    mf_tensor *x = t_uniform(1, 1, (int64_t[]){3}, MF_F32, 0, 1), *y = NULL;
    cr_assert_eq(mf_module_forward(m, x, &y), MF_ERR_UNSUPPORTED);
    cr_assert(strstr(mf_last_error(), "Box"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
    mf_module_free(m);
}

Test(nn_module, zero_grad_clears_every_parameter_gradient) {
    mf_module *m = tree();
    mf_named_tensors l;
    MF_OK_OR_FAIL(mf_module_named_parameters(m, &l));
    for (int64_t i = 0; i < l.n; i++)
        MF_OK_OR_FAIL(mf_tensor_zeros_like(l.items[i].tensor, &l.items[i].tensor->grad));
    mf_module_zero_grad(m);
    for (int64_t i = 0; i < l.n; i++)
        cr_assert_null(l.items[i].tensor->grad, "%s", l.items[i].name);
    mf_named_tensors_free(&l);
    mf_module_free(m);
}

Test(nn_module, sequential_runs_children_in_order_and_names_the_failing_one) {
    mf_module *seq, *a, *b;
    MF_OK_OR_FAIL(mf_nn_sequential_new(&seq));
    MF_OK_OR_FAIL(mf_nn_activation_new(MF_ACT_RELU, &a));
    MF_OK_OR_FAIL(mf_nn_activation_new(MF_ACT_SIGMOID, &b));
    MF_OK_OR_FAIL(mf_nn_sequential_append(seq, a));
    MF_OK_OR_FAIL(mf_nn_sequential_append(seq, b));
    mf_tensor *x = t_from(1, (int64_t[]){2}, MF_F32, (double[]){-3, 0}), *y;
    MF_OK_OR_FAIL(mf_module_forward(seq, x, &y));
    mf_tensor *want = t_from(1, (int64_t[]){2}, MF_F32, (double[]){0.5, 0.5});
    t_assert_close(y, want, 1e-7, 0, "relu then sigmoid");
    mf_tensor_release(y);
    MF_OK_OR_FAIL(mf_nn_sequential_append(seq, box()));
    cr_assert_eq(mf_module_forward(seq, x, &y), MF_ERR_UNSUPPORTED);
    cr_assert(strstr(mf_last_error(), "child 2"), "%s", mf_last_error());
    mf_tensor_release(x);
    mf_tensor_release(want);
    mf_module_free(seq);
}
