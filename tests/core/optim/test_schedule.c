/* Learning-rate schedules against hand-computed values. */
#include <math.h>

#include "tests/support/testing.h"

Test(schedule, constant_keeps_the_base_lr) {
    mf_lr_schedule s = {.kind = MF_LR_CONSTANT};
    cr_assert_eq(mf_lr_at(&s, 0.3, 0, 10), 0.3);
    cr_assert_eq(mf_lr_at(&s, 0.3, 99, 10), 0.3);
}

Test(schedule, step_multiplies_by_gamma_every_step_size_steps) {
    mf_lr_schedule s = {.kind = MF_LR_STEP, .step_size = 3, .gamma = 0.1};
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 2, 100), 1.0, 1e-15);
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 3, 100), 0.1, 1e-15);
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 7, 100), 0.01, 1e-15);
}

Test(schedule, halving_halves_times_times_at_even_points) {
    /* LVM-Med: lr 2e-3 halved four times over 100 epochs -> at 20, 40, 60, 80. */
    mf_lr_schedule s = {.kind = MF_LR_HALVING, .times = 4};
    double want[][2] = {{0, 2e-3}, {19, 2e-3}, {20, 1e-3}, {39, 1e-3}, {40, 5e-4},
                        {60, 2.5e-4}, {80, 1.25e-4}, {99, 1.25e-4}, {100, 1.25e-4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(mf_lr_at(&s, 2e-3, (int64_t)want[i][0], 100), want[i][1], "step %g", want[i][0]);
    s.times = 0;
    cr_assert_eq(mf_lr_at(&s, 2e-3, 99, 100), 2e-3);
}

Test(schedule, cosine_warms_up_linearly_then_decays_to_min_lr) {
    mf_lr_schedule s = {.kind = MF_LR_COSINE, .warmup_steps = 10, .min_lr = 0.1};
    cr_assert_eq(mf_lr_at(&s, 1.0, 0, 110), 0.0);
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 5, 110), 0.5, 1e-15);
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 10, 110), 1.0, 1e-15);
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 60, 110), 0.55, 1e-15); /* halfway: mean of base and min */
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 35, 110), 0.1 + 0.9 * 0.5 * (1 + cos(M_PI / 4)), 1e-15);
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 110, 110), 0.1, 1e-15);
    cr_assert_float_eq(mf_lr_at(&s, 1.0, 500, 110), 0.1, 1e-15);
}

Test(schedule, poly_follows_the_nnunet_formula) {
    mf_lr_schedule s = {.kind = MF_LR_POLY, .power = 0.9};
    cr_assert_eq(mf_lr_at(&s, 1e-2, 0, 1000), 1e-2);
    cr_assert_float_eq(mf_lr_at(&s, 1e-2, 500, 1000), 1e-2 * pow(0.5, 0.9), 1e-17);
    cr_assert_eq(mf_lr_at(&s, 1e-2, 1000, 1000), 0.0);
}

Test(schedule, exponential_multiplies_by_gamma_each_step) {
    mf_lr_schedule s = {.kind = MF_LR_EXPONENTIAL, .gamma = 0.5};
    cr_assert_eq(mf_lr_at(&s, 1.0, 3, 100), 0.125);
}

Test(schedule, names_parse_and_unknown_names_list_the_known_ones) {
    mf_lr_kind k;
    MF_OK_OR_FAIL(mf_lr_kind_parse("halving", &k));
    cr_assert_eq(k, MF_LR_HALVING);
    cr_assert_str_eq(mf_lr_kind_name(MF_LR_COSINE), "cosine");
    cr_assert_eq(mf_lr_kind_parse("linear", &k), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "'linear'") && strstr(mf_last_error(), "poly"), "%s", mf_last_error());
}

Test(schedule, invalid_fields_are_rejected_naming_the_field) {
    mf_lr_schedule s = {.kind = MF_LR_STEP, .step_size = 0, .gamma = 0.1};
    cr_assert_eq(mf_lr_schedule_check(&s, 10), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "step_size"), "%s", mf_last_error());
    s = (mf_lr_schedule){.kind = MF_LR_HALVING, .times = 4};
    cr_assert_eq(mf_lr_schedule_check(&s, 0), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "total"), "%s", mf_last_error());
}

Test(schedule, apply_scales_each_group_from_its_base_lr) {
    mf_tensor *a = t_param(t_uniform(1, 1, (int64_t[]){2}, MF_F32, -1, 1));
    mf_tensor *b = t_param(t_uniform(2, 1, (int64_t[]){2}, MF_F32, -1, 1));
    mf_adam_options o = mf_adam_defaults(2e-3);
    mf_optimizer *opt;
    MF_OK_OR_FAIL(mf_adam_new(&a, 1, &o, &opt));
    MF_OK_OR_FAIL(mf_optim_add_group(opt, &b, 1, 1e-4, 0, NULL));
    mf_lr_schedule s = {.kind = MF_LR_HALVING, .times = 4};
    MF_OK_OR_FAIL(mf_optim_apply_schedule(opt, &s, 45, 100));
    cr_assert_eq(mf_optim_lr(opt, 0), 5e-4);
    cr_assert_eq(mf_optim_lr(opt, 1), 2.5e-5);
    cr_assert_eq(mf_optim_base_lr(opt, 0), 2e-3);
    MF_OK_OR_FAIL(mf_optim_set_lr(opt, -1, 0.5));
    cr_assert_eq(mf_optim_lr(opt, 1), 0.5);
    cr_assert_eq(mf_optim_set_lr(opt, 2, 0.5), MF_ERR_INVALID);
    mf_optimizer_free(opt);
    mf_tensor_release(a);
    mf_tensor_release(b);
}
