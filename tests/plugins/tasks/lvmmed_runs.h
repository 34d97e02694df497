/* Shared by the LVM-Med training tests: run a config with overrides into a
 * temporary directory and read back its logged training losses. */
#ifndef MF_TEST_LVMMED_RUNS_H
#define MF_TEST_LVMMED_RUNS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medfm/runner.h"
#include "tests/support/testing.h"

/* Runs configs/<config> with the overrides into a fresh temporary
 * directory (*tmp, for lr_cleanup) and returns the run directory in res. */
static inline mf_status lr_run(const char *config, int n_over, const char *const *over, char tmp[64],
                               mf_run_result *res) {
    char path[1024];
    snprintf(path, sizeof path, "%s/../../configs/%s", MEDFM_TEST_DATA_DIR, config);
    snprintf(tmp, 64, "/tmp/medfm_test_lvmmed_XXXXXX");
    cr_assert(mkdtemp(tmp), "mkdtemp");
    mf_experiment *e;
    MF_TRY(mf_experiment_load(path, n_over, over, NULL, &e));
    mf_run_options opt = mf_run_options_default();
    opt.output_dir = tmp;
    opt.quiet = true;
    opt.progress = 0;
    mf_status st = mf_experiment_run(e, &opt, res);
    mf_experiment_free(e);
    return st;
}

static inline void lr_cleanup(const char *tmp) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    cr_assert_eq(system(cmd), 0);
}

/* Mean "loss" of the train lines [from, to) of the run's metrics.jsonl
 * (to < 0 counts from the end). */
static inline double lr_mean_loss(const mf_run_result *res, int from, int to) {
    char file[1200];
    snprintf(file, sizeof file, "%s/metrics.jsonl", res->run_dir);
    FILE *f = fopen(file, "r");
    cr_assert(f, "no %s", file);
    char line[4096];
    double v[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < 4096) {
        const char *p = strstr(line, "\"loss\":");
        if (strstr(line, "\"train\"") && p)
            v[n++] = atof(p + 7);
    }
    fclose(f);
    if (to < 0)
        to += n + 1;
    if (from < 0)
        from += n + 1;
    cr_assert(0 <= from && from < to && to <= n, "train lines [%d, %d) of %d in %s", from, to, n, file);
    double sum = 0;
    for (int i = from; i < to; i++)
        sum += v[i];
    return sum / (to - from);
}

#endif
