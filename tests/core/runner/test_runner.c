/* The runner: config errors of each kind, overrides, atomic checkpoints,
 * resume bit-identity, trials. Tiny configs keep every test well under a
 * second. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/runner/internal.h"
#include "medfm/io.h"
#include "medfm/nn.h"
#include "medfm/runner.h"
#include "tests/core/runner/run_support.h"
#include "tests/support/testing.h"

Test(runner, a_valid_tiny_config_has_no_problems) {
    mf_diag d = rs_problems(rs_tiny(), 0, NULL);
    cr_assert_eq(d.n, 0, "%s", d.n ? d.msgs[0] : "");
    mf_diag_free(&d);
}

Test(runner, an_unknown_plugin_name_suggests_the_closest_one) {
    char text[2048];
    snprintf(text, sizeof text, "%s", rs_tiny());
    char *p = strstr(text, "simple_cnn");
    memcpy(p, "simple_cnx", 10);
    mf_diag d = rs_problems(text, 0, NULL);
    cr_assert(rs_any_has(&d, "simple_cnx", "simple_cnn", NULL), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
}

Test(runner, an_unknown_key_in_a_plugin_section_names_file_line_and_column) {
    const char *text = "name: t\nencoder: {plugin: simple_cnn, widht: 4}\ntask: {plugin: classification}\n"
                       "data: {train: {source: {type: phantom2d, count: 8}}}\ntrain: {steps: 1}\n";
    mf_diag d = rs_problems(text, 0, NULL);
    cr_assert(rs_any_has(&d, "cfg.yaml:2:", "widht", NULL), "%s", d.n ? d.msgs[0] : "no problems");
    cr_assert(rs_any_has(&d, "widht", "did you mean 'width'", NULL));
    mf_diag_free(&d);
}

Test(runner, a_wrong_type_is_reported_with_its_key) {
    const char *text = "name: t\nencoder: {plugin: simple_cnn}\ntask: {plugin: classification}\n"
                       "train: {steps: 1, batch_size: many}\n";
    mf_diag d = rs_problems(text, 0, NULL);
    cr_assert(rs_any_has(&d, "train.batch_size", "many", NULL), "%s", d.n ? d.msgs[0] : "no problems");
    mf_diag_free(&d);
}

Test(runner, several_problems_are_listed_together) {
    const char *text = "name: t\nencoder: {plugin: simple_cnn, depht: 2}\ntask: {plugin: clasification}\n"
                       "optim: {lr: fast}\ntrain: {steps: 1}\n";
    mf_diag d = rs_problems(text, 0, NULL);
    cr_assert_geq(d.n, 3);
    mf_diag_free(&d);
}

Test(runner, overrides_change_keys_and_bad_ones_are_errors) {
    char *d = rs_tmpdir("runner"), *p = rs_write_cfg(d, rs_tiny());
    const char *over[] = {"train.steps=2", "encoder.width=3"};
    mf_experiment *e;
    MF_OK_OR_FAIL(mf_experiment_load(p, 2, over, NULL, &e));
    int64_t v;
    MF_OK_OR_FAIL(mf_cfg_get_int(e->config, "train.steps", 0, &v));
    cr_assert_eq(v, 2);
    MF_OK_OR_FAIL(mf_cfg_get_int(e->config, "encoder.width", 0, &v));
    cr_assert_eq(v, 3);
    mf_experiment_free(e);
    const char *bad[] = {"encoder.widht=3"};
    cr_assert_neq(mf_experiment_load(p, 1, bad, NULL, &e), MF_OK);
    cr_assert(strstr(mf_last_error(), "widht"), "%s", mf_last_error());
    rs_rm_tree(d);
    free(d);
    free(p);
}

/* A file that counts epochs runs a number of steps given on the command
 * line (and the other way round); both given in one place stay an error. */
Test(runner, epochs_on_the_command_line_replace_the_files_steps) {
    char *d = rs_tmpdir("runner");
    char *p = rs_write_cfg(d, rs_tiny()); /* train: {steps: 6, ...} */
    const char *over[] = {"train.epochs=2"};
    mf_experiment *e;
    MF_OK_OR_FAIL(mf_experiment_load(p, 1, over, NULL, &e));
    int64_t v;
    MF_OK_OR_FAIL(mf_cfg_get_int(e->config, "train.epochs", 0, &v));
    cr_assert_eq(v, 2);
    cr_assert_null(mf_cfg_find(e->config, "train.steps"));
    MF_OK_OR_FAIL(mf_cfg_get_int(e->config, "train.batch_size", 0, &v));
    cr_assert_eq(v, 8, "the rest of the file's train section stays");
    mf_experiment_free(e);
    const char *both[] = {"train.steps=2", "train.epochs=1"};
    cr_assert_eq(mf_experiment_load(p, 2, both, NULL, &e), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "exactly one of"), "%s", mf_last_error());
    rs_rm_tree(d);
    free(d);
    free(p);
}

Test(runner, resume_continues_bit_identically) {
    char *a = rs_tmpdir("runner"), *b = rs_tmpdir("runner");
    mf_run_result ra, rb;
    rs_assert_resume_identical(a, b, rs_tiny(), 0, NULL, 2, &ra, &rb);
    rs_rm_tree(a);
    rs_rm_tree(b);
    free(a);
    free(b);
}

Test(runner, a_run_writes_config_metrics_summary_and_checkpoints) {
    char *d = rs_tmpdir("runner");
    mf_run_result r;
    MF_OK_OR_FAIL(rs_run(d, rs_tiny(), 0, NULL, 0, &r));
    const char *files[] = {"config.yaml", "metrics.jsonl", "summary.json", "log.txt", "checkpoints/latest.json",
                           "checkpoints/best.safetensors"};
    for (int i = 0; i < 6; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", r.run_dir, files[i]);
        cr_assert_eq(access(p, R_OK), 0, "%s missing", files[i]);
    }
    /* Train lines carry the loss and the device's peak memory (the weights
     * and a step's activations: more than nothing, far below a GiB). */
    char p[1200], line[4096];
    snprintf(p, sizeof p, "%s/metrics.jsonl", r.run_dir);
    FILE *f = fopen(p, "r");
    cr_assert(f && fgets(line, sizeof line, f), "%s", p);
    fclose(f);
    const char *mem = strstr(line, "\"peak_mem_mib\":");
    cr_assert(strstr(line, "\"train\"") && strstr(line, "\"loss\":") && mem, "%s", line);
    double mib = atof(mem + 15);
    cr_assert(mib > 0 && mib < 1024, "%s", line);
    /* The resolved config re-runs as is. */
    snprintf(p, sizeof p, "%s/config.yaml", r.run_dir);
    mf_experiment *e;
    MF_OK_OR_FAIL(mf_experiment_load(p, 0, NULL, NULL, &e));
    mf_experiment_free(e);
    rs_rm_tree(d);
    free(d);
}

Test(runner, trials_report_mean_and_std_over_seeds) {
    char *d = rs_tmpdir("runner");
    char text[2048];
    snprintf(text, sizeof text, "%s", rs_tiny());
    strcpy(strstr(text, "\ntrain:") + 1, "train: {steps: 2, batch_size: 8, trials: 3}\n");
    mf_run_result r;
    MF_OK_OR_FAIL(rs_run(d, text, 0, NULL, 0, &r));
    cr_assert_eq(r.n_trials, 3);
    double vals[3], mean = 0, sq = 0;
    for (int i = 0; i < 3; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/trial-%d/final.json", r.run_dir, i);
        FILE *f = fopen(p, "r");
        cr_assert(f, "%s", p);
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        vals[i] = strtod(strstr(buf, "\"accuracy\":") + 11, NULL);
        mean += vals[i] / 3;
    }
    for (int i = 0; i < 3; i++)
        sq += (vals[i] - mean) * (vals[i] - mean);
    cr_assert_float_eq(mf_metrics_get(&r.final, "accuracy"), mean, 1e-12);
    cr_assert_float_eq(mf_metrics_get(&r.std, "accuracy"), sqrt(sq / 3), 1e-12);
    rs_rm_tree(d);
    free(d);
}

Test(runner, killing_a_process_mid_save_leaves_the_previous_checkpoint_loadable) {
    char *d = rs_tmpdir("runner");
    char ck[1200];
    snprintf(ck, sizeof ck, "%s/checkpoints", d);
    mf_rng rng;
    mf_rng_init(&rng, 0);
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_linear_new(256, 256, true, &rng, &m));
    mf_ckpt_state s = {0};
    MF_OK_OR_FAIL(mf__ckpt_save(ck, m, NULL, &s, 2));
    pid_t pid = fork();
    if (pid == 0) {
        for (int64_t i = 1;; i++) {
            s.step = i;
            mf__ckpt_save(ck, m, NULL, &s, 2);
        }
    }
    usleep(150000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    mf_ckpt_state got;
    MF_OK_OR_FAIL(mf__ckpt_load_latest(ck, m, NULL, &got));
    cr_assert_geq(got.step, 0);
    mf_module_free(m);
    rs_rm_tree(d);
    free(d);
}

/* Whether every float tensor of a weights file is finite. */
static bool file_finite(const char *path) {
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    bool ok = true;
    for (int i = 0; i < mf_safetensors_count(f); i++) {
        mf_tensor *t;
        MF_OK_OR_FAIL(mf_safetensors_get(f, mf_safetensors_name(f, i), &t));
        for (int64_t k = 0; mf_dtype_is_float(t->dtype) && k < mf_tensor_numel(t); k++)
            ok &= isfinite(mf_tensor_get_flat(t, k)) != 0;
        mf_tensor_release(t);
    }
    mf_safetensors_close(f);
    return ok;
}

Test(runner, a_diverging_run_stops_with_a_clear_error_and_keeps_finite_checkpoints) {
    char *d = rs_tmpdir("runner");
    /* Adam at lr 1e30: step 1 is saved, step 2's weights overflow */
    const char *over[] = {"optim.lr=1e30", "train.checkpoint_every=1", "train.steps=6"};
    mf_run_result r;
    cr_assert_eq(rs_run(d, rs_tiny(), 3, over, 0, &r), MF_ERR_STATE);
    cr_assert(strstr(mf_last_error(), "diverged") && strstr(mf_last_error(), "untouched"), "%s", mf_last_error());
    /* every checkpoint written holds finite weights */
    char ck[1200];
    snprintf(ck, sizeof ck, "%s/tiny/checkpoints", d);
    DIR *dir = opendir(ck);
    cr_assert(dir, "no %s", ck);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (strncmp(e->d_name, "step-", 5))
            continue;
        char p[1600];
        snprintf(p, sizeof p, "%s/%s/model.safetensors", ck, e->d_name);
        cr_assert(file_finite(p), "%s holds inf/NaN", p);
        n++;
    }
    closedir(dir);
    cr_assert_geq(n, 1, "the steps before the divergence were saved");
    rs_rm_tree(d);
    free(d);
    /* without a checkpoint at that step the NaN loss of the next one stops it */
    d = rs_tmpdir("runner");
    const char *rare[] = {"optim.lr=1e30", "train.checkpoint_every=1000", "train.steps=6"};
    cr_assert_eq(rs_run(d, rs_tiny(), 3, rare, 0, &r), MF_ERR_STATE);
    cr_assert(strstr(mf_last_error(), "the loss is") && strstr(mf_last_error(), "diverged"), "%s", mf_last_error());
    rs_rm_tree(d);
    free(d);
}

Test(runner, a_checkpoint_of_non_finite_weights_is_refused_and_nothing_is_written) {
    mf_module *m;
    mf_rng rng;
    mf_rng_init(&rng, 1);
    MF_OK_OR_FAIL(mf_nn_linear_new(3, 2, true, &rng, &m));
    mf_tensor_set_flat(mf_module_param(m, 0), 4, INFINITY);
    char *d = rs_tmpdir("runner");
    mf_ckpt_state s = {.step = 7};
    cr_assert_eq(mf__ckpt_save(d, m, NULL, &s, 2), MF_ERR_STATE);
    cr_assert(strstr(mf_last_error(), "weight") && strstr(mf_last_error(), "step 7"), "%s", mf_last_error());
    char p[1200];
    snprintf(p, sizeof p, "%s/step-000000007", d);
    cr_assert_neq(access(p, F_OK), 0, "a checkpoint directory was written");
    mf_module_free(m);
    rs_rm_tree(d);
    free(d);
}
