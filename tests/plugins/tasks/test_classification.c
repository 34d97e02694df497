/* The classification task's optional `loss:` sub-plugin: it receives the
 * task's logits and labels (a scaled cross-entropy plugin gives exactly the
 * scaled built-in loss, in training and evaluation), and a bad section is a
 * config error naming the plugin or key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "medfm/ops.h"
#include "medfm/runner.h"
#include "tests/support/testing.h"

#define SCALED_CE MEDFM_BUILD_DIR "/test-plugins/scaled_ce.so"

static const char *base = "name: t\n"
                          "plugins: [" SCALED_CE "]\n"
                          "encoder: {plugin: simple_cnn, width: 4, depth: 2}\n"
                          "train: {steps: 1}\n";

static mf_experiment *load(const char *task_yaml, mf_diag *diag) {
    char text[2048];
    snprintf(text, sizeof text, "%stask: %s\n", base, task_yaml);
    mf_cfg *cfg;
    MF_OK_OR_FAIL(mf_cfg_parse_string(text, "cls.yaml", &cfg));
    mf_experiment *e = NULL;
    mf_experiment_from_cfg(cfg, ".", diag, &e);
    cr_assert(e, "%s", mf_last_error());
    return e;
}

/* Training loss and evaluation "loss" metric of a fresh task (seed 0) on a
 * fixed batch. */
static void losses(const char *task_yaml, double *train, double *eval) {
    mf_experiment *e = load(task_yaml, NULL);
    mf_rng rng;
    mf_rng_init(&rng, 7);
    mf_task *t;
    MF_OK_OR_FAIL(mf_experiment_build_task(e, 0, &rng, &t));
    int64_t xs[4] = {6, 1, 12, 12}, ys[1] = {6};
    int64_t labels[6] = {0, 1, 2, 0, 1, 2};
    mf_batch b = {0};
    mf_tensor *x, *y, *loss;
    mf_rng data_rng;
    mf_rng_init(&data_rng, 1);
    MF_OK_OR_FAIL(mf_tensor_empty(4, xs, MF_F32, MF_DEVICE_CPU, &x));
    MF_OK_OR_FAIL(mf_rand_normal_(x, &data_rng, 0.0, 1.0));
    MF_OK_OR_FAIL(mf_tensor_from_data(1, ys, MF_I64, labels, &y));
    MF_OK_OR_FAIL(mf_batch_put(&b, "image", x));
    MF_OK_OR_FAIL(mf_batch_put(&b, "label", y));
    b.size = 6;
    mf_metrics logs = {0}, m = {0};
    MF_OK_OR_FAIL(t->train_step(t, &b, &loss, &logs));
    MF_OK_OR_FAIL(mf_tensor_item(loss, train));
    mf_tensor_release(loss);
    MF_OK_OR_FAIL(t->eval_begin(t));
    MF_OK_OR_FAIL(t->eval_batch(t, &b));
    MF_OK_OR_FAIL(t->eval_end(t, &m));
    *eval = mf_metrics_get(&m, "loss");
    mf_batch_clear(&b);
    t->destroy(t);
    mf_experiment_free(e);
}

Test(classification, a_loss_plugin_receives_the_logits_and_labels) {
    double train0, eval0, train3, eval3;
    losses("{plugin: classification, num_classes: 3}", &train0, &eval0);
    losses("{plugin: classification, num_classes: 3, loss: {plugin: scaled_ce, scale: 3.0}}", &train3, &eval3);
    cr_assert(train0 > 0 && isfinite(train0));
    cr_assert_float_eq(train3, 3 * train0, 1e-5 * train0, "train loss %g vs built-in %g", train3, train0);
    cr_assert_float_eq(eval3, 3 * eval0, 1e-5 * eval0, "eval loss %g vs built-in %g", eval3, eval0);
}

static void expect_problem(const char *task_yaml, const char *a, const char *b) {
    mf_diag d = {0};
    mf_experiment *e = load(task_yaml, &d);
    if (d.n == 0)
        mf_experiment_check(e, &d);
    bool found = false;
    for (int i = 0; i < d.n; i++)
        found |= strstr(d.msgs[i], a) && strstr(d.msgs[i], b);
    cr_assert(found, "expected a problem with '%s' and '%s', got: %s", a, b, d.n ? d.msgs[0] : "none");
    mf_diag_free(&d);
    mf_experiment_free(e);
}

Test(classification, an_unknown_loss_plugin_is_a_config_error_with_a_suggestion) {
    expect_problem("{plugin: classification, loss: {plugin: scaled_cee}}", "scaled_cee", "scaled_ce");
}

Test(classification, an_unknown_key_in_the_loss_section_names_where_it_is) {
    expect_problem("{plugin: classification, loss: {plugin: scaled_ce, scael: 2}}", "cls.yaml:", "scael");
}

Test(classification, a_create_failing_after_the_model_is_built_leaves_the_encoder_to_the_runner) {
    /* the loss plugin is looked up after the model root took the encoder:
     * the task hands it back, the runner destroys it (no leak or double
     * free under the sanitizer build) */
    mf_experiment *e = load("{plugin: classification, loss: {plugin: scaled_cee}}", NULL);
    mf_rng rng;
    mf_rng_init(&rng, 7);
    mf_task *t = NULL;
    cr_assert_neq(mf_experiment_build_task(e, 0, &rng, &t), MF_OK);
    cr_assert_null(t);
    cr_assert(strstr(mf_last_error(), "scaled_cee"), "%s", mf_last_error());
    mf_experiment_free(e);
}
