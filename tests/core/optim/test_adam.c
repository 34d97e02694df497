/* Adam and AdamW: trajectories against torch float64 (bias correction, eps
 * placement, L2 vs decoupled weight decay, AMSGrad) and option checks. */
#include "tests/core/optim/trajectory.h"

static mf_status make_adam(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_adam_options o = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
    return mf_adam_new(p, n, &o, out);
}

static mf_status make_adam_amsgrad(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_adam_options o = mf_adam_defaults(0.02);
    o.amsgrad = true;
    return mf_adam_new(p, n, &o, out);
}

static mf_status make_adamw(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_adam_options o = {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1};
    return mf_adamw_new(p, n, &o, out);
}

static mf_status make_adamw_amsgrad(mf_tensor *const *p, int n, mf_optimizer **out) {
    mf_adam_options o = mf_adamw_defaults(0.01);
    o.weight_decay = 0.05;
    o.amsgrad = true;
    return mf_adamw_new(p, n, &o, out);
}

Test(adam, adam_with_l2_weight_decay_matches_torch_float64) { traj_run("adam", make_adam, MF_F64, 1e-15, 1e-12); }

Test(adam, adam_amsgrad_matches_torch_float64) {
    traj_run("adam_amsgrad", make_adam_amsgrad, MF_F64, 1e-15, 1e-12);
}

Test(adam, adamw_decoupled_weight_decay_matches_torch_float64) {
    traj_run("adamw", make_adamw, MF_F64, 1e-15, 1e-12);
}

Test(adam, adamw_amsgrad_matches_torch_float64) {
    traj_run("adamw_amsgrad", make_adamw_amsgrad, MF_F64, 1e-15, 1e-12);
}

Test(adam, float32_parameters_follow_the_float64_trajectory_closely) {
    traj_run("adamw", make_adamw, MF_F32, 1e-6, 1e-5);
}

Test(adam, first_step_moves_each_weight_by_about_lr) {
    /* Bias correction makes the first update lr * g / (|g| + eps'). */
    mf_tensor *p = t_param(t_from(1, (int64_t[]){3}, MF_F64, (double[]){0, 0, 0}));
    mf_adam_options o = mf_adam_defaults(0.1);
    mf_optimizer *opt;
    MF_OK_OR_FAIL(mf_adam_new(&p, 1, &o, &opt));
    p->grad = t_from(1, (int64_t[]){3}, MF_F64, (double[]){3, -0.001, 100});
    MF_OK_OR_FAIL(mf_optim_step(opt));
    cr_assert_float_eq(mf_tensor_get_flat(p, 0), -0.1, 1e-8);
    cr_assert_float_eq(mf_tensor_get_flat(p, 1), 0.1, 1e-5);
    cr_assert_float_eq(mf_tensor_get_flat(p, 2), -0.1, 1e-8);
    cr_assert_str_eq(mf_optim_name(opt), "adam");
    mf_optimizer_free(opt);
    mf_tensor_release(p);
}

Test(adam, betas_outside_zero_one_are_rejected) {
    mf_tensor *p = t_param(t_uniform(1, 1, (int64_t[]){3}, MF_F32, -1, 1));
    mf_adam_options o = mf_adam_defaults(0.1);
    o.beta2 = 1.0;
    mf_optimizer *opt = NULL;
    cr_assert_eq(mf_adamw_new(&p, 1, &o, &opt), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "adamw") && strstr(mf_last_error(), "betas"), "%s", mf_last_error());
    o = mf_adam_defaults(-1);
    cr_assert_eq(mf_adam_new(&p, 1, &o, &opt), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "lr"), "%s", mf_last_error());
    mf_tensor_release(p);
}

Test(adam, large_parameters_update_identically_for_any_thread_count) {
    int64_t n = 300000;
    mf_tensor *p1 = t_param(t_uniform(1, 1, &n, MF_F32, -1, 1));
    mf_tensor *p2 = t_param(t_uniform(1, 1, &n, MF_F32, -1, 1));
    mf_adam_options o = mf_adamw_defaults(0.01);
    mf_optimizer *a, *b;
    MF_OK_OR_FAIL(mf_adamw_new(&p1, 1, &o, &a));
    MF_OK_OR_FAIL(mf_adamw_new(&p2, 1, &o, &b));
    p1->grad = t_uniform(2, 1, &n, MF_F32, -1, 1);
    p2->grad = t_uniform(2, 1, &n, MF_F32, -1, 1);
    int threads = mf_num_threads();
    mf_set_num_threads(1);
    MF_OK_OR_FAIL(mf_optim_step(a));
    mf_set_num_threads(threads > 1 ? threads : 2);
    MF_OK_OR_FAIL(mf_optim_step(b));
    mf_set_num_threads(threads);
    t_assert_close(p1, p2, 0, 0, "threads");
    mf_optimizer_free(a);
    mf_optimizer_free(b);
    mf_tensor_release(p1);
    mf_tensor_release(p2);
}
