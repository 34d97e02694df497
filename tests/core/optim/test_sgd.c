/* SGD: trajectories against torch.optim.SGD in float64, option checks,
 * parameters without gradients, parameter groups. */
#include "tests/core/optim/trajectory.h"

static mf_status make_nesterov(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_sgd_options o = {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01};
    return mf_sgd_new(p, n, &o, out);
}

static mf_status make_dampening(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_sgd_options o = {.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.05};
    return mf_sgd_new(p, n, &o, out);
}

static mf_status make_plain(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_sgd_options o = mf_sgd_defaults(0.2);
    return mf_sgd_new(p, n, &o, out);
}

Test(sgd, nesterov_momentum_with_weight_decay_matches_torch_float64) {
    traj_run("sgd_nesterov", make_nesterov, MF_F64, 1e-15, 1e-13);
}

Test(sgd, dampened_momentum_matches_torch_float64) {
    traj_run("sgd_dampening", make_dampening, MF_F64, 1e-15, 1e-13);
}

Test(sgd, plain_sgd_matches_torch_float64) { traj_run("sgd_plain", make_plain, MF_F64, 1e-15, 1e-13); }

Test(sgd, float32_parameters_follow_the_float64_trajectory_closely) {
    traj_run("sgd_nesterov", make_nesterov, MF_F32, 1e-6, 1e-5);
}

Test(sgd, nesterov_without_momentum_is_rejected) {
    mf_tensor *p = t_param(t_uniform(1, 1, (int64_t[]){3}, MF_F32, -1, 1));
    mf_sgd_options o = {.lr = 0.1, .nesterov = true};
    mf_optimizer *opt = NULL;
    cr_assert_eq(mf_sgd_new(&p, 1, &o, &opt), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "nesterov"), "%s", mf_last_error());
    cr_assert_null(opt);
    mf_tensor_release(p);
}

Test(sgd, integer_parameters_are_rejected_naming_the_dtype) {
    mf_tensor *p = t_uniform(1, 1, (int64_t[]){3}, MF_I32, 0, 5);
    mf_sgd_options o = mf_sgd_defaults(0.1);
    mf_optimizer *opt = NULL;
    cr_assert_eq(mf_sgd_new(&p, 1, &o, &opt), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "i32"), "%s", mf_last_error());
    mf_tensor_release(p);
}

Test(sgd, the_same_tensor_twice_is_rejected) {
    mf_tensor *p = t_param(t_uniform(1, 1, (int64_t[]){3}, MF_F32, -1, 1));
    mf_tensor *ps[2] = {p, p};
    mf_sgd_options o = mf_sgd_defaults(0.1);
    mf_optimizer *opt = NULL;
    cr_assert_eq(mf_sgd_new(ps, 2, &o, &opt), MF_ERR_INVALID);
    mf_tensor_release(p);
}

Test(sgd, parameters_without_gradient_are_left_alone) {
    mf_tensor *a = t_param(t_from(1, (int64_t[]){2}, MF_F64, (double[]){1, 2}));
    mf_tensor *b = t_param(t_from(1, (int64_t[]){2}, MF_F64, (double[]){3, 4}));
    mf_tensor *ps[2] = {a, b};
    mf_sgd_options o = {.lr = 0.5, .momentum = 0.9};
    mf_optimizer *opt;
    MF_OK_OR_FAIL(mf_sgd_new(ps, 2, &o, &opt));
    a->grad = t_from(1, (int64_t[]){2}, MF_F64, (double[]){1, -1});
    MF_OK_OR_FAIL(mf_optim_step(opt));
    cr_assert_eq(mf_tensor_get_flat(a, 0), 0.5);
    cr_assert_eq(mf_tensor_get_flat(a, 1), 2.5);
    cr_assert_eq(mf_tensor_get_flat(b, 0), 3.0);
    cr_assert_eq(mf_optim_param_steps(opt, 0), 1);
    cr_assert_eq(mf_optim_param_steps(opt, 1), 0);
    mf_optim_zero_grad(opt);
    cr_assert_null(a->grad);
    mf_optimizer_free(opt);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(sgd, parameter_groups_use_their_own_lr_and_weight_decay) {
    mf_tensor *a = t_param(t_from(1, (int64_t[]){1}, MF_F64, (double[]){1}));
    mf_tensor *b = t_param(t_from(1, (int64_t[]){1}, MF_F64, (double[]){1}));
    mf_sgd_options o = mf_sgd_defaults(0.1);
    mf_optimizer *opt;
    MF_OK_OR_FAIL(mf_sgd_new(&a, 1, &o, &opt));
    int g;
    MF_OK_OR_FAIL(mf_optim_add_group(opt, &b, 1, 0.01, 0.5, &g));
    cr_assert_eq(g, 1);
    cr_assert_eq(mf_optim_group_count(opt), 2);
    a->grad = t_from(1, (int64_t[]){1}, MF_F64, (double[]){1});
    b->grad = t_from(1, (int64_t[]){1}, MF_F64, (double[]){1});
    MF_OK_OR_FAIL(mf_optim_step(opt));
    cr_assert_float_eq(mf_tensor_get_flat(a, 0), 1 - 0.1, 1e-15);
    cr_assert_float_eq(mf_tensor_get_flat(b, 0), 1 - 0.01 * (1 + 0.5), 1e-15);
    cr_assert_eq(mf_optim_add_group(opt, &a, 1, 0.1, 0, NULL), MF_ERR_INVALID); /* already in group 0 */
    mf_optimizer_free(opt);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(sgd, a_gradient_of_the_wrong_shape_is_an_error_naming_both_shapes) {
    mf_tensor *a = t_param(t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1));
    mf_sgd_options o = mf_sgd_defaults(0.1);
    mf_optimizer *opt;
    MF_OK_OR_FAIL(mf_sgd_new(&a, 1, &o, &opt));
    a->grad = t_uniform(2, 1, (int64_t[]){6}, MF_F32, -1, 1);
    cr_assert_eq(mf_optim_step(opt), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "[2, 3]") && strstr(mf_last_error(), "[6]"), "%s", mf_last_error());
    mf_optimizer_free(opt);
    mf_tensor_release(a);
}
