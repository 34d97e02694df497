/* The dynamic loss scaler: scaling, exact unscaling, inf/NaN detection,
 * skipped steps that leave parameters alone and back the scale off, growth
 * after the interval, and settings checks. */
#include <math.h>
#include <string.h>

#include "tests/support/testing.h"

/* A parameter with a gradient holding `vals`. */
static mf_tensor *param_with_grad(const double *vals, int n) {
    mf_tensor *p = t_param(t_from(1, (int64_t[]){n}, MF_F32, (double[]){1, 2, 3, 4}));
    p->grad = t_from(1, (int64_t[]){n}, MF_F32, vals);
    return p;
}

Test(loss_scaler, scales_the_loss_and_unscales_gradients_exactly) {
    mf_loss_scaler s = mf_loss_scaler_dynamic(1024);
    mf_tensor *loss = t_from(0, NULL, MF_F32, (double[]){0.75}), *sl;
    MF_OK_OR_FAIL(mf_loss_scaler_scale(&s, loss, &sl));
    cr_expect_eq(mf_tensor_get_flat(sl, 0), 768.0);
    mf_tensor *p = param_with_grad((double[]){1024, -2048, 512, 0}, 4);
    bool finite;
    MF_OK_OR_FAIL(mf_loss_scaler_unscale(&s, &p, 1, &finite));
    cr_expect(finite);
    double want[] = {1, -2, 0.5, 0};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(mf_tensor_get_flat(p->grad, i), want[i]);
    mf_tensor_release(loss);
    mf_tensor_release(sl);
    mf_tensor_release(p);
}

Test(loss_scaler, an_inf_or_nan_gradient_skips_the_step_halves_the_scale_and_keeps_the_parameters) {
    double bad[][4] = {{1, INFINITY, 0, 0}, {NAN, 0, 0, 0}};
    for (int k = 0; k < 2; k++) {
        mf_tensor *p = param_with_grad(bad[k], 4);
        mf_optimizer *opt;
        mf_sgd_options o = mf_sgd_defaults(0.1);
        MF_OK_OR_FAIL(mf_sgd_new(&p, 1, &o, &opt));
        mf_loss_scaler s = mf_loss_scaler_dynamic(65536);
        bool stepped = true;
        MF_OK_OR_FAIL(mf_loss_scaler_step(&s, opt, &p, 1, &stepped));
        cr_expect(!stepped);
        cr_expect_eq(s.scale, 32768.0);
        cr_expect_eq(s.skipped, 1);
        for (int i = 0; i < 4; i++)
            cr_expect_eq(mf_tensor_get_flat(p, i), (double)(i + 1), "parameter %d moved", i);
        /* the next clean step goes through */
        mf_tensor_clear(&p->grad);
        p->grad = t_from(1, (int64_t[]){4}, MF_F32, (double[]){32768, 0, 0, 0});
        MF_OK_OR_FAIL(mf_loss_scaler_step(&s, opt, &p, 1, &stepped));
        cr_expect(stepped);
        cr_expect_float_eq(mf_tensor_get_flat(p, 0), 1 - 0.1, 1e-6);
        mf_optimizer_free(opt);
        mf_tensor_release(p);
    }
}

Test(loss_scaler, the_scale_doubles_after_the_interval_of_clean_steps) {
    mf_loss_scaler s = mf_loss_scaler_dynamic(8);
    s.interval = 3;
    bool go;
    mf_loss_scaler_update(&s, true, &go);
    mf_loss_scaler_update(&s, true, &go);
    cr_expect_eq(s.scale, 8.0);
    mf_loss_scaler_update(&s, true, &go);
    cr_expect_eq(s.scale, 16.0);
    cr_expect_eq(s.good_steps, 0);
    mf_loss_scaler_update(&s, true, &go);
    mf_loss_scaler_update(&s, false, &go); /* an overflow restarts the count */
    cr_expect(!go);
    cr_expect_eq(s.scale, 8.0);
    cr_expect_eq(s.good_steps, 0);
}

Test(loss_scaler, a_fixed_scale_never_changes_but_still_skips_overflows) {
    mf_loss_scaler s = mf_loss_scaler_fixed(128);
    s.interval = 1;
    bool go;
    mf_loss_scaler_update(&s, true, &go);
    mf_loss_scaler_update(&s, false, &go);
    cr_expect(!go);
    cr_expect_eq(s.scale, 128.0);
}

Test(loss_scaler, bad_settings_are_rejected) {
    mf_loss_scaler s = mf_loss_scaler_dynamic(0);
    cr_expect_eq(mf_loss_scaler_check(&s), MF_ERR_INVALID);
    s = mf_loss_scaler_dynamic(1);
    s.backoff = 1.5;
    cr_expect_eq(mf_loss_scaler_check(&s), MF_ERR_INVALID);
    cr_expect(strstr(mf_last_error(), "backoff"), "%s", mf_last_error());
    s = mf_loss_scaler_dynamic(1);
    s.interval = 0;
    cr_expect_eq(mf_loss_scaler_check(&s), MF_ERR_INVALID);
    s = mf_loss_scaler_dynamic(65536);
    MF_OK_OR_FAIL(mf_loss_scaler_check(&s));
}
