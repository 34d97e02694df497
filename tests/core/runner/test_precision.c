/* train.precision and the loss scaler in the runner: config errors, bf16 and
 * f16 runs that learn as well as f32, a forced overflow that skips steps and
 * backs the scale off, and bit-identical f16 resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medfm/io.h"
#include "medfm/runner.h"
#include "tests/core/runner/run_support.h"
#include "tests/support/run_metrics.h"
#include "tests/support/testing.h"

/* Learns the phantom lesion count (3 classes) in ~0.3 s at f32. */
static const char *learn =
    "name: learn\n"
    "seed: 3\n"
    "data:\n"
    "  train: {source: {type: phantom2d, count: 192, size: 16, num_classes: 3, seed: 1}, workers: 0}\n"
    "  val: {source: {type: phantom2d, count: 96, size: 16, num_classes: 3, seed: 1, offset: 1000}, workers: 0}\n"
    "encoder: {plugin: simple_cnn, width: 8, depth: 3}\n"
    "task: {plugin: classification, num_classes: 3}\n"
    "optim: {name: adam, lr: 0.003}\n"
    "train: {steps: 150, batch_size: 16, val_every: 150, log_every: 10}\n";

/* run_support.h's tiny run, every step logged. */
static const char *tiny = RS_TINY_HEAD "train: {steps: 6, batch_size: 8, val_every: 3, log_every: 1}\n";

/* Mean train loss over the last five logged steps. */
static double late_loss(const char *run_dir) {
    double v[64];
    int n = t_train_values(run_dir, "loss", v, 64);
    cr_assert_geq(n, 5);
    double s = 0;
    for (int i = n - 5; i < n; i++)
        s += v[i];
    return s / 5;
}

Test(precision, an_unknown_precision_names_the_key_file_line_and_allowed_values) {
    const char *over[] = {"train.precision=fp8"};
    mf_diag d = rs_problems(tiny, 1, over);
    cr_assert(rs_any_has(&d, "train.precision", "fp8", "f32|bf16|f16"), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
    char text[2048];
    snprintf(text, sizeof text, "%s", tiny);
    char *t = strstr(text, "\ntrain: {") + 9; /* the train section on line 9, not data.train */
    memmove(t + 16, t, strlen(t) + 1);
    memcpy(t, "precision: fp8, ", 16);
    d = rs_problems(text, 0, NULL);
    cr_assert(rs_any_has(&d, "cfg.yaml:9:", "train.precision", "fp8"), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
}

Test(precision, a_loss_scale_that_is_neither_dynamic_nor_a_positive_number_is_an_error) {
    const char *over[] = {"train.loss_scale=-4"};
    mf_diag d = rs_problems(tiny, 1, over);
    cr_assert(rs_any_has(&d, "train.loss_scale", "dynamic", "-4"), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
}

Test(precision, a_cuda_graph_on_the_cpu_or_with_loss_scaling_is_a_config_error) {
    const char *on_cpu[] = {"train.cuda_graph=true"};
    mf_diag d = rs_problems(tiny, 1, on_cpu);
    cr_assert(rs_any_has(&d, "train.cuda_graph", "device: cuda", "cpu"), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
    const char *f16[] = {"train.cuda_graph=true", "device=cuda", "train.precision=f16"};
    d = rs_problems(tiny, 3, f16);
    cr_assert(rs_any_has(&d, "train.cuda_graph", "loss scaling", "bf16"), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
    const char *bf16[] = {"train.cuda_graph=true", "device=cuda", "train.precision=bf16"};
    d = rs_problems(tiny, 3, bf16);
    /* (Without a GPU the check may fail to build the model on cuda: only the key must pass.) */
    cr_assert(!rs_any_has(&d, "cuda_graph", NULL, NULL), "bf16 with a graph on cuda is fine: %s", d.msgs[0]);
    mf_diag_free(&d);
    const char *bad[] = {"train.cuda_graph=sometimes"};
    d = rs_problems(tiny, 1, bad);
    cr_assert(rs_any_has(&d, "train.cuda_graph", "sometimes", ""), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
}

/* A cuda-only boolean switch train.<name>: on the cpu it is an error naming
 * the key, the device it needs and the one the experiment has; off is fine
 * there, on is fine on cuda (without a GPU the check may fail to build the
 * model on cuda: only the key must pass), and a non-boolean value is
 * reported with the key. */
static void check_cuda_only_switch(const char *name, const char *bad_value) {
    char key[64], on[96], off[96], bad[96];
    snprintf(key, sizeof key, "train.%s", name);
    snprintf(on, sizeof on, "%s=true", key);
    snprintf(off, sizeof off, "%s=false", key);
    snprintf(bad, sizeof bad, "%s=%s", key, bad_value);
    const char *on_cpu[] = {on};
    mf_diag d = rs_problems(tiny, 1, on_cpu);
    cr_assert(rs_any_has(&d, key, "device: cuda", "cpu"), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
    const char *off_cpu[] = {off};
    d = rs_problems(tiny, 1, off_cpu);
    cr_assert(!rs_any_has(&d, name, NULL, NULL), "off is fine on the cpu: %s", d.n ? d.msgs[0] : "");
    mf_diag_free(&d);
    const char *on_cuda[] = {on, "device=cuda"};
    d = rs_problems(tiny, 2, on_cuda);
    cr_assert(!rs_any_has(&d, name, NULL, NULL), "on cuda the key is fine: %s", d.n ? d.msgs[0] : "");
    mf_diag_free(&d);
    const char *bad_cpu[] = {bad};
    d = rs_problems(tiny, 1, bad_cpu);
    cr_assert(rs_any_has(&d, key, bad_value, ""), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
}

Test(precision, a_cudnn_search_on_the_cpu_is_a_config_error) { check_cuda_only_switch("cudnn_search", "fastest"); }

Test(precision, channels_last_on_the_cpu_is_a_config_error) { check_cuda_only_switch("channels_last", "nhwc"); }

Test(precision, tf32_on_the_cpu_is_a_config_error) { check_cuda_only_switch("tf32", "sometimes"); }

/* The low-precision run lands where the f32 one does: validation accuracy
 * within 0.1 (96 samples; chance is 1/3) and late training loss within 25%. */
static void learns_like_f32(const char *precision) {
    char *a = rs_tmpdir("precision"), *b = rs_tmpdir("precision");
    mf_run_result ra, rb;
    char ov[64];
    snprintf(ov, sizeof ov, "train.precision=%s", precision);
    const char *over[] = {ov};
    MF_OK_OR_FAIL(rs_run(a, learn, 0, NULL, 0, &ra));
    MF_OK_OR_FAIL(rs_run(b, learn, 1, over, 0, &rb));
    double acc_a = mf_metrics_get(&ra.final, "accuracy"), acc_b = mf_metrics_get(&rb.final, "accuracy");
    double la = late_loss(ra.run_dir), lb = late_loss(rb.run_dir);
    cr_log_info("%s: accuracy %.3f (f32 %.3f), late loss %.4f (f32 %.4f)", precision, acc_b, acc_a, lb, la);
    cr_expect(acc_a > 0.4, "the f32 run must learn for the comparison to mean anything (accuracy %.3f)", acc_a);
    cr_expect(fabs(acc_b - acc_a) <= 0.1, "%s accuracy %.3f vs f32 %.3f", precision, acc_b, acc_a);
    cr_expect(lb < 1.25 * la && lb < 0.5, "%s late loss %.4f vs f32 %.4f", precision, lb, la);
    cr_expect(la != lb, "the %s run must differ from the f32 one (else autocast did nothing)", precision);
    rs_rm_tree(a);
    free(a);
    rs_rm_tree(b);
    free(b);
}

Test(precision, bf16_training_reaches_the_f32_loss_and_accuracy) { learns_like_f32("bf16"); }

Test(precision, f16_training_with_the_dynamic_scaler_reaches_the_f32_loss_and_accuracy) { learns_like_f32("f16"); }

Test(precision, an_overflowing_scale_skips_steps_halves_and_training_goes_on) {
    char *d = rs_tmpdir("precision");
    mf_run_result r;
    /* 2^24: scaled f16 gradients overflow (f16 tops out at 65504) */
    const char *over[] = {"train.precision=f16", "train.loss_scale_init=16777216", "train.steps=14",
                          "train.val_every=14"};
    MF_OK_OR_FAIL(rs_run(d, tiny, 4, over, 0, &r));
    double s[32], loss[32];
    int n = t_train_values(r.run_dir, "loss_scale", s, 32);
    cr_assert_eq(n, 14);
    cr_expect_eq(s[0], 8388608.0, "the first step overflows and halves the scale");
    int skipped = 1;
    while (skipped < n && s[skipped] == s[skipped - 1] / 2)
        skipped++;
    cr_expect(skipped >= 2 && skipped < n, "%d skipped steps", skipped);
    for (int i = skipped; i < n; i++)
        cr_expect_eq(s[i], s[skipped - 1], "no change after the first clean step (step %d)", i + 1);
    t_train_values(r.run_dir, "loss", loss, 32);
    for (int i = 0; i < n; i++)
        cr_expect(isfinite(loss[i]));
    rs_rm_tree(d);
    free(d);
}


/* Two steps that both overflow leave the parameters where a run with lr 0
 * (same forward passes, same batch-norm statistics) leaves them. */
Test(precision, skipped_steps_leave_the_parameters_unchanged) {
    char *a = rs_tmpdir("precision"), *b = rs_tmpdir("precision");
    mf_run_result ra, rb;
    const char *huge[] = {"train.precision=f16", "train.loss_scale_init=1.0e12", "train.steps=2"};
    const char *still[] = {"train.precision=f16", "optim.lr=0.0", "train.steps=2"};
    MF_OK_OR_FAIL(rs_run(a, tiny, 3, huge, 0, &ra));
    MF_OK_OR_FAIL(rs_run(b, tiny, 3, still, 0, &rb));
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/checkpoints/model.safetensors", ra.run_dir);
    snprintf(pb, sizeof pb, "%s/checkpoints/model.safetensors", rb.run_dir);
    cr_expect(rs_same_file_tensors(pa, pb), "the models differ");
    rs_rm_tree(a);
    free(a);
    rs_rm_tree(b);
    free(b);
}

Test(precision, f16_resume_with_a_changing_scale_is_bit_identical) {
    char *a = rs_tmpdir("precision"), *b = rs_tmpdir("precision");
    mf_run_result ra, rb;
    /* Interval 2: the scale grows during the run, so its state must survive.
     * Starting at 1, small f16 gradients sit in the subnormal range, where
     * the scale changes the rounding: a wrong scale after resume shows in
     * the weights, not only in the logged scale. */
    const char *over[] = {"train.precision=f16", "train.loss_scale_interval=2", "train.loss_scale_init=1"};
    rs_assert_resume_identical(a, b, tiny, 3, over, 3, &ra, &rb);
    double s[16], t[16];
    int n = t_train_values(ra.run_dir, "loss_scale", s, 16), m = t_train_values(rb.run_dir, "loss_scale", t, 16);
    cr_assert_eq(n, 6);
    cr_expect_eq(s[5], 8.0, "the scale doubled every two clean steps");
    cr_assert_geq(m, 1);
    cr_expect_eq(t[m - 1], s[5], "the resumed run ends at the same scale");
    rs_rm_tree(a);
    free(a);
    rs_rm_tree(b);
    free(b);
}

static double eval_loss(const char *dir, const char *ckpt, const char *precision) {
    char *p = rs_write_cfg(dir, tiny), ov[64];
    snprintf(ov, sizeof ov, "train.precision=%s", precision);
    const char *over[] = {ov};
    mf_experiment *e;
    MF_OK_OR_FAIL(mf_experiment_load(p, 1, over, NULL, &e));
    free(p);
    mf_metrics m;
    MF_OK_OR_FAIL(mf_experiment_eval(e, ckpt, "val", &m));
    mf_experiment_free(e);
    return mf_metrics_get(&m, "loss");
}

/* The same weights evaluate to a slightly different loss under bf16: the
 * evaluation forward passes run under autocast too. */
Test(precision, evaluation_runs_under_autocast) {
    char *d = rs_tmpdir("precision");
    mf_run_result r;
    MF_OK_OR_FAIL(rs_run(d, tiny, 0, NULL, 0, &r));
    char ck[1200];
    snprintf(ck, sizeof ck, "%s/checkpoints/model.safetensors", r.run_dir);
    double l32 = eval_loss(d, ck, "f32"), l16 = eval_loss(d, ck, "bf16");
    cr_expect(isfinite(l32) && l32 > 0, "loss %g", l32);
    cr_expect(l16 != l32, "bf16 evaluation gave the f32 loss exactly (%.17g)", l32);
    cr_expect(fabs(l16 - l32) < 1e-2 * l32, "bf16 %g vs f32 %g", l16, l32);
    rs_rm_tree(d);
    free(d);
}
