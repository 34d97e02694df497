/* Training on CUDA through the runner with batches copied ahead
 * (core/runner/prefetch.c): over several epochs the losses equal those of
 * the same run with MEDFM_CUDA_PREFETCH=0 and follow the CPU run, and a
 * step captured as a CUDA graph (train.cuda_graph) trains like the eager
 * one, and a run stopped on one device goes on on the other. The tests
 * skip without a device; all of them also run under the CPU emulation of
 * the CUDA module (core/backend/cuda/emu). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medfm/conv_algo.h"
#include "medfm/ops/conv.h"
#include "medfm/runner.h"
#include "tests/core/backend/cuda_testing.h"

#define MAX_STEPS 16

static const char *cfg_text =
    "name: tiny_cuda\n"
    "seed: 3\n"
    "device: %s\n"
    "plugins: [" MEDFM_BUILD_DIR "/test-plugins/flat_linear.so]\n"
    "data:\n"
    "  train: {source: {type: phantom2d, count: %d, size: 12, num_classes: 3, seed: 1}, workers: 2}\n"
    "  val: {source: {type: phantom2d, count: 12, size: 12, num_classes: 3, seed: 1, offset: 1000}, workers: 0}\n"
    "encoder: %s\n"
    "task: {plugin: classification, num_classes: 3}\n"
    "optim: {name: adam, lr: 0.01}\n"
    "train: {steps: 9, batch_size: 8, val_every: 3, log_every: 1%s}\n";

static const char *g_train_extra = ""; /* more train keys, e.g. ", cuda_graph: true" */
static int g_train_count = 24;          /* training samples: 3 batches of 8 */
static int g_replayed[MAX_STEPS];       /* the train events' cuda_graph field of the last run (-1: absent) */
static char g_log[16384];               /* the last run's log.txt (its start) */
static const char *g_resume_on;         /* a resumed run continues with device=this (NULL: as it was) */

/* Runs the tiny config on `device` in a fresh directory (stopped after
 * step `stop` and resumed when stop > 0); the per-step training losses go
 * to loss[] (returns how many). */
static int run_losses_resumed(const char *device, const char *encoder, int64_t stop, double *loss,
                              mf_status *st_out) {
    char dir[] = "/tmp/medfm_runner_cuda_XXXXXX", p[256], text[2048];
    cr_assert(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/cfg.yaml", dir);
    snprintf(text, sizeof text, cfg_text, device, g_train_count, encoder, g_train_extra);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    mf_experiment *e;
    MF_OK_OR_FAIL(mf_experiment_load(p, 0, NULL, NULL, &e));
    mf_run_options o = mf_run_options_default();
    o.output_dir = dir;
    o.quiet = true;
    o.stop_after_step = stop;
    mf_run_result r;
    *st_out = mf_experiment_run(e, &o, &r);
    mf_experiment_free(e);
    if (stop > 0 && *st_out == MF_ERR_INTERRUPTED) {
        mf_run_options ro = mf_run_options_default();
        ro.quiet = true;
        char kv[64];
        const char *over[1] = {kv};
        if (g_resume_on) {
            snprintf(kv, sizeof kv, "device=%s", g_resume_on);
            ro.n_resume_overrides = 1;
            ro.resume_overrides = over;
        }
        *st_out = mf_run_resume(r.run_dir, &ro, &r);
    }
    int n = 0;
    if (*st_out == MF_OK) {
        snprintf(p, sizeof p, "%s/tiny_cuda/metrics.jsonl", dir);
        f = fopen(p, "r");
        cr_assert(f, "%s", p);
        char line[4096];
        while (fgets(line, sizeof line, f) && n < MAX_STEPS) {
            const char *l = strstr(line, "\"loss\":"), *g = strstr(line, "\"cuda_graph\":");
            if (strstr(line, "\"event\":\"train\"") && l) {
                g_replayed[n] = g ? (int)strtol(g + 13, NULL, 10) : -1;
                loss[n++] = strtod(l + 7, NULL);
            }
        }
        fclose(f);
        snprintf(p, sizeof p, "%s/tiny_cuda/log.txt", dir);
        f = fopen(p, "r");
        cr_assert(f, "%s", p);
        size_t len = fread(g_log, 1, sizeof g_log - 1, f);
        g_log[len] = 0;
        fclose(f);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    return n;
}

static int run_losses(const char *device, const char *encoder, double *loss, mf_status *st_out) {
    return run_losses_resumed(device, encoder, 0, loss, st_out);
}

/* Runs `encoder` on cuda with and without copies ahead and on the CPU. */
static void check_losses(const char *encoder) {
    double with[MAX_STEPS], without[MAX_STEPS], cpu[MAX_STEPS];
    mf_status st;
    int n = run_losses("cuda", encoder, with, &st);
    if (st == MF_ERR_UNSUPPORTED && getenv("MEDFM_CUDA_MODULE"))
        cr_skip_test("the CUDA module here cannot run the model (%s); needs a GPU", mf_last_error());
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    setenv("MEDFM_CUDA_PREFETCH", "0", 1);
    int n0 = run_losses("cuda", encoder, without, &st);
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    unsetenv("MEDFM_CUDA_PREFETCH");
    int nc = run_losses("cpu", encoder, cpu, &st);
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    cr_assert_eq(n, 9, "one loss per step over three epochs");
    cr_assert_eq(n0, n);
    cr_assert_eq(nc, n);
    for (int i = 0; i < n; i++) {
        /* Same kernels on the same batches; only cuDNN's algorithm choice
         * may differ between runs. */
        cr_assert_float_eq(with[i], without[i], 1e-5 * (1 + without[i]), "step %d: %g vs %g", i + 1, with[i],
                           without[i]);
        cr_assert_float_eq(with[i], cpu[i], 2e-3 * (1 + cpu[i]), "step %d: cuda %g vs cpu %g", i + 1, with[i],
                           cpu[i]);
    }
}

Test(runner_cuda, a_linear_model_trains_to_the_same_losses_with_batches_copied_ahead) {
    t_need_cuda();
    check_losses("{plugin: flat_linear, in_features: 144, dim: 8}");
}

Test(runner_cuda, a_conv_net_trains_to_the_same_losses_with_batches_copied_ahead) {
    t_need_cuda();
    check_losses("{plugin: simple_cnn, width: 4, depth: 2}");
}

Test(runner_cuda, a_run_stopped_mid_epoch_with_a_batch_in_flight_resumes_to_the_same_losses) {
    t_need_cuda();
    const char *enc = "{plugin: flat_linear, in_features: 144, dim: 8}";
    double whole[MAX_STEPS], resumed[MAX_STEPS];
    mf_status st;
    int n = run_losses("cuda", enc, whole, &st);
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    /* Step 4 is batch 1 of epoch 1: batch 2 is being copied when it stops. */
    int m = run_losses_resumed("cuda", enc, 4, resumed, &st);
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    cr_assert_eq(n, 9);
    cr_assert_eq(m, n, "the resumed run logs steps 1-4, then 5-9");
    for (int i = 0; i < n; i++)
        cr_assert_float_eq(resumed[i], whole[i], 1e-6 * (1 + whole[i]), "step %d: %g vs %g", i + 1, resumed[i],
                           whole[i]);
}

/* A run stopped on one device goes on on the other (medfm run --resume
 * DIR device=...): weights and Adam moments move with the checkpoint, and
 * the losses follow the uninterrupted run on the first device. */
static void check_resumed_elsewhere(const char *first, const char *then) {
    const char *enc = "{plugin: flat_linear, in_features: 144, dim: 8}";
    double whole[MAX_STEPS], moved[MAX_STEPS];
    mf_status st;
    int n = run_losses(first, enc, whole, &st);
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    g_resume_on = then;
    int m = run_losses_resumed(first, enc, 4, moved, &st);
    g_resume_on = NULL;
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    cr_assert_eq(n, 9);
    cr_assert_eq(m, n, "steps 1-4 on %s, then 5-9 on %s", first, then);
    char said[64];
    snprintf(said, sizeof said, "resumed with device=%s", then);
    cr_assert(strstr(g_log, said), "log.txt says where it went on:\n%s", g_log);
    for (int i = 0; i < n; i++) {
        double tol = i < 4 ? 1e-6 : 2e-3; /* the same device up to the stop, cpu vs cuda after it */
        cr_assert_float_eq(moved[i], whole[i], tol * (1 + whole[i]), "step %d: %g vs %g", i + 1, moved[i], whole[i]);
    }
}

Test(runner_cuda, a_run_stopped_on_cuda_goes_on_on_the_cpu) {
    t_need_cuda();
    check_resumed_elsewhere("cuda", "cpu");
}

Test(runner_cuda, a_run_stopped_on_the_cpu_goes_on_on_cuda) {
    t_need_cuda();
    check_resumed_elsewhere("cpu", "cuda");
}

/* Steps 1-2 eager, step 3 captured, 4-9 replayed, evaluations between:
 * the losses are those of the eager run. */
static void check_graph_losses(const char *enc) {
    double eager[MAX_STEPS], graph[MAX_STEPS];
    mf_status st;
    int n = run_losses("cuda", enc, eager, &st);
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    g_train_extra = ", cuda_graph: true";
    int m = run_losses("cuda", enc, graph, &st);
    g_train_extra = "";
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    cr_assert_eq(n, 9);
    cr_assert_eq(m, n);
    for (int i = 0; i < n; i++) {
        cr_assert_float_eq(graph[i], eager[i], 1e-5 * (1 + eager[i]), "step %d: graph %g vs eager %g", i + 1,
                           graph[i], eager[i]);
        /* Steps 1-2 warm up. With 20 samples (batches 8, 8, 4) step 3 is
         * short, step 4 differs from it, step 5 is captured, and the short
         * steps 6 and 9 run eagerly. */
        int want = g_train_count == 20 ? i == 4 || i == 6 || i == 7 : i >= 2;
        cr_assert_eq(g_replayed[i], want, "step %d: cuda_graph %d", i + 1, g_replayed[i]);
    }
}

Test(runner_cuda, a_linear_step_captured_as_a_cuda_graph_trains_to_the_same_losses) {
    t_need_cuda();
    check_graph_losses("{plugin: flat_linear, in_features: 144, dim: 8}");
}

/* Convolutions, batch norm (running statistics updated by every replay) and pooling. */
Test(runner_cuda, a_conv_net_step_captured_as_a_cuda_graph_trains_to_the_same_losses) {
    t_need_cuda();
    check_graph_losses("{plugin: simple_cnn, width: 4, depth: 2}");
}

/* 20 samples: batches of 8, 8 and 4; the short one runs eagerly between replays. */
Test(runner_cuda, a_short_last_batch_runs_eagerly_between_graph_replays) {
    t_need_cuda();
    g_train_count = 20;
    check_graph_losses("{plugin: flat_linear, in_features: 144, dim: 8}");
    g_train_count = 24;
}

/* The CPU run's losses of `enc` (returns how many). */
static int cpu_losses(const char *enc, double *cpu) {
    mf_status st;
    int nc = run_losses("cpu", enc, cpu, &st);
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    return nc;
}

/* Runs `enc` on cuda with the train keys `extra`: its losses must follow
 * the CPU run's cpu[0..nc). */
static void cuda_follows_cpu(const char *enc, const char *extra, const double *cpu, int nc) {
    double got[MAX_STEPS];
    mf_status st;
    g_train_extra = extra;
    int n = run_losses("cuda", enc, got, &st);
    g_train_extra = "";
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    cr_assert_eq(n, nc);
    for (int i = 0; i < n; i++)
        cr_assert_float_eq(got[i], cpu[i], 2e-3 * (1 + cpu[i]), "%s step %d: cuda %g vs cpu %g", extra, i + 1, got[i],
                           cpu[i]);
}

/* train.cudnn_search: the conv net's shapes are timed in the first steps
 * (also with the step captured as a graph after them) and the losses still
 * follow the CPU run. */
Test(runner_cuda, a_conv_net_trained_with_the_cudnn_search_follows_the_cpu_losses) {
    t_need_cuda();
    const char *enc = "{plugin: simple_cnn, width: 4, depth: 2}";
    double cpu[MAX_STEPS];
    int nc = cpu_losses(enc, cpu);
    const char *extra[2] = {", cudnn_search: true", ", cudnn_search: true, cuda_graph: true"};
    for (int k = 0; k < 2; k++) {
        mf_conv_algo_counts before, after;
        MF_OK_OR_FAIL(mf_conv_algo_counts_get(T_CUDA, &before));
        cuda_follows_cpu(enc, extra[k], cpu, nc);
        MF_OK_OR_FAIL(mf_conv_algo_counts_get(T_CUDA, &after));
        if (k == 0)
            cr_assert_geq(after.searched - before.searched, 6, "two convs x three directions at least");
        cr_assert_eq(after.heuristic, before.heuristic, "every shape was timed, none taken from the heuristics");
    }
}

/* Two trials with the search: the first times its shapes, the second
 * finds them all cached, and the log says so for each (the counts are
 * process-wide, so each trial reports its own share). */
Test(runner_cuda, the_cudnn_search_line_reports_each_trials_own_timings) {
    t_need_cuda();
    double loss[MAX_STEPS];
    mf_status st;
    g_train_extra = ", cudnn_search: true, trials: 2";
    run_losses("cuda", "{plugin: simple_cnn, width: 4, depth: 2}", loss, &st);
    g_train_extra = "";
    cr_assert_eq(st, MF_OK, "%s", mf_last_error());
    const char *first = strstr(g_log, "cudnn_search: cuDNN's algorithms timed for ");
    cr_assert(first, "trial 1 times its shapes; log:\n%s", g_log);
    long timed = strtol(first + strlen("cudnn_search: cuDNN's algorithms timed for "), NULL, 10);
    /* two convs forward and filter gradients, and the data gradient of the
     * second (the first conv's input needs none) */
    cr_assert_eq(timed, 5, "log:\n%s", g_log);
    const char *second = strstr(first + 1, "cudnn_search: ");
    cr_assert(second && strstr(second, "no convolution shape of the first step was new"),
              "trial 2 timed nothing new; log:\n%s", g_log);
    cr_assert_null(strstr(second + 1, "cudnn_search: "), "one line per trial; log:\n%s", g_log);
}

/* train.channels_last: the conv net (convolutions, batch norm + relu,
 * pooling) trains channels-last to the CPU's losses, eagerly and with the
 * step captured as a graph, and the switch is off again after the run. */
Test(runner_cuda, a_conv_net_trained_channels_last_follows_the_cpu_losses) {
    t_need_cuda();
    const char *enc = "{plugin: simple_cnn, width: 4, depth: 2}";
    double cpu[MAX_STEPS];
    int nc = cpu_losses(enc, cpu);
    cuda_follows_cpu(enc, ", channels_last: true", cpu, nc);
    cr_assert(!mf_conv_channels_last(), "the run puts the switch back");
    cuda_follows_cpu(enc, ", channels_last: true, cuda_graph: true", cpu, nc);
}
