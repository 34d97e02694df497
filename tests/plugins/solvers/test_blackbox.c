/* The blackbox gradient estimator: the hand-computed gradient (sign and
 * magnitude), the quadratic rule, and descent on costs reaching a target. */
#include "tests/plugins/solvers/estimator_support.h"

Test(blackbox, gradient_of_a_hand_case_is_x_target_minus_x_over_lambda) {
    ts_env e = ts_env_new("blackbox", NULL);
    ts_check_hand_case(&e);
    ts_env_free(&e);
}

Test(blackbox, quadratic_gradient_is_the_outer_product_difference_over_lambda) {
    ts_env e = ts_env_new("blackbox", NULL);
    ts_check_quadratic_rule(&e);
    ts_env_free(&e);
}

Test(blackbox, descent_on_unary_costs_moves_lap_solutions_to_the_target) {
    ts_env e = ts_env_new("blackbox", NULL);
    ts_check_descent(&e, e.lap, false);
    ts_env_free(&e);
}

Test(blackbox, descent_on_unary_and_quadratic_costs_moves_gm_solutions_to_the_target) {
    ts_env e = ts_env_new("blackbox", NULL);
    ts_check_descent(&e, e.gm, true);
    ts_env_free(&e);
}

Test(blackbox, lambda_must_be_positive) {
    mf_registry *r = ts_registry("blackbox");
    const mf_plugin_info *info;
    MF_OK_OR_FAIL(mf_registry_get(r, MF_KIND_GRAD_ESTIMATOR, "blackbox", &info));
    mf_cfg *cfg;
    MF_OK_OR_FAIL(mf_cfg_parse_string("lambda: 0\n", "test", &cfg));
    mf_grad_estimator *g;
    cr_assert_eq(((const mf_grad_estimator_vtable *)info->vtable)->create(cfg, &g), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "blackbox") && strstr(mf_last_error(), "lambda"));
    mf_cfg_free(cfg);
    mf_registry_free(r);
}
