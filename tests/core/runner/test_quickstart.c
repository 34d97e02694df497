/* The quickstart learns: a shortened configs/quickstart.yaml (same model,
 * phantoms and optimiser; 96 steps of 16 instead of 256 of 32, a higher
 * learning rate to make up for it) must end well above chance on its
 * validation phantoms (measured: 0.67, under a second on two cores). Guards the whole training path (data,
 * encoder, head, loss, backward, Adam, schedule, evaluation) at once. */
#include <stdio.h>

#include "medfm/runner.h"
#include "tests/support/testing.h"

#define QUICKSTART MEDFM_TEST_DATA_DIR "/../../configs/quickstart.yaml"

Test(quickstart, a_short_quickstart_ends_well_above_chance) {
    char dir[] = "/tmp/medfm_quickstart_XXXXXX";
    cr_assert(mkdtemp(dir));
    /* 4 classes: chance is 0.25. */
    const char *over[] = {"data.train.n=768",   "data.val.n=128",  "train.epochs=2",
                          "train.batch_size=16", "optim.lr=1.0e-2", "train.checkpoint_every=0"};
    mf_experiment *e;
    MF_OK_OR_FAIL(mf_experiment_load(QUICKSTART, 6, over, NULL, &e));
    mf_run_options o = mf_run_options_default();
    o.output_dir = dir;
    o.quiet = true;
    mf_run_result r;
    mf_status st = mf_experiment_run(e, &o, &r);
    mf_experiment_free(e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    MF_OK_OR_FAIL(st);
    double acc = mf_metrics_get(&r.final, "accuracy");
    cr_assert_gt(acc, 0.4, "validation accuracy %.3f after the short quickstart (chance: 0.25)", acc);
}
