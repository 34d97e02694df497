/* `medfm run --resume RUN_DIR key=value`: a continued run may change where
 * and how fast it runs (written into its config.yaml, said in log.txt) and
 * ends with the same weights; a key that would change what it computes, a
 * malformed argument or a device that is not there is refused before
 * anything in the run directory changes. (Moving between cpu and cuda:
 * tests/core/runner/test_runner_cuda.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/runner.h"
#include "tests/core/runner/run_support.h"
#include "tests/support/testing.h"

/* The whole of a small text file (caller frees). */
static char *slurp(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    cr_assert(f, "cannot read %s", p);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static mf_status resume_with(const char *run_dir, int n, const char *const *kv) {
    mf_run_options o = mf_run_options_default();
    o.quiet = true;
    o.n_resume_overrides = n;
    o.resume_overrides = kv;
    mf_run_result r;
    return mf_run_resume(run_dir, &o, &r);
}

Test(resume_overrides, speed_settings_change_and_the_weights_stay_bit_identical) {
    char *a = rs_tmpdir("resume"), *b = rs_tmpdir("resume");
    mf_run_result ra, rb;
    MF_OK_OR_FAIL(rs_run(a, rs_tiny(), 0, NULL, 0, &ra));
    cr_assert_eq(rs_run(b, rs_tiny(), 0, NULL, 2, &rb), MF_ERR_INTERRUPTED);
    const char *kv[] = {"train.log_every=1", "data.train.workers=2", "device=cpu"};
    MF_OK_OR_FAIL(resume_with(rb.run_dir, 3, kv));
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/checkpoints/model.safetensors", ra.run_dir);
    snprintf(pb, sizeof pb, "%s/checkpoints/model.safetensors", rb.run_dir);
    cr_assert(rs_same_file_tensors(pa, pb), "two workers and more logging changed the weights");
    char *cfg = slurp(rb.run_dir, "config.yaml"), *log = slurp(rb.run_dir, "log.txt");
    cr_assert(strstr(cfg, "log_every: 1") && strstr(cfg, "workers: 2"), "config.yaml keeps the new settings:\n%s", cfg);
    cr_assert(strstr(log, "resumed with train.log_every=1") && strstr(log, "resumed with data.train.workers=2"),
              "log.txt says what changed:\n%s", log);
    /* Steps 3 to 6 are logged every step now: 3, 4, 5, 6 after 2 (log_every 2 before). */
    char *metrics = slurp(rb.run_dir, "metrics.jsonl");
    int train_lines = 0;
    for (const char *m = metrics; (m = strstr(m, "\"event\":\"train\"")); m++)
        train_lines++;
    cr_assert_eq(train_lines, 1 + 4, "%s", metrics);
    free(cfg), free(log), free(metrics);
    rs_rm_tree(a), rs_rm_tree(b);
    free(a), free(b);
}

/* Each refused argument leaves config.yaml as it was. */
static void check_refused(const char *run_dir, const char *kv, const char *want) {
    char *before = slurp(run_dir, "config.yaml");
    const char *one[] = {kv};
    cr_assert_eq(resume_with(run_dir, 1, one), MF_ERR_CONFIG, "'%s' was taken", kv);
    cr_assert(strstr(mf_last_error(), want), "'%s': %s", kv, mf_last_error());
    char *after = slurp(run_dir, "config.yaml");
    cr_assert_str_eq(after, before, "'%s' changed config.yaml", kv);
    free(before);
    free(after);
}

Test(resume_overrides, what_would_change_the_results_or_cannot_run_is_refused_and_nothing_changes) {
    char *d = rs_tmpdir("resume");
    mf_run_result r;
    cr_assert_eq(rs_run(d, rs_tiny(), 0, NULL, 2, &r), MF_ERR_INTERRUPTED);
    check_refused(r.run_dir, "optim.lr=0.1", "'optim.lr' cannot change when a run continues");
    check_refused(r.run_dir, "train.batch_size=4", "'train.batch_size' cannot change");
    check_refused(r.run_dir, "seed=4", "'seed' cannot change");
    check_refused(r.run_dir, "devices=cpu", "'devices' cannot change");
    check_refused(r.run_dir, "device", "'device' is not key=value");
    check_refused(r.run_dir, "=cpu", "'=cpu' is not key=value");
    /* No machine here has ten GPUs (and CI none, or no driver). */
    check_refused(r.run_dir, "device=cuda:9", "cannot continue on device cuda:9");
    /* Still resumable as it was. */
    MF_OK_OR_FAIL(resume_with(r.run_dir, 0, NULL));
    rs_rm_tree(d);
    free(d);
}

Test(resume_overrides, a_bad_value_for_a_resumable_key_is_a_config_error) {
    char *d = rs_tmpdir("resume");
    mf_run_result r;
    cr_assert_eq(rs_run(d, rs_tiny(), 0, NULL, 2, &r), MF_ERR_INTERRUPTED);
    check_refused(r.run_dir, "device=gpu", "device 'gpu' is not one of cpu, cuda, cuda:N");
    rs_rm_tree(d);
    free(d);
}
