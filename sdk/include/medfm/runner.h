/* The experiment runner: `medfm run CONFIG [k=v ...]` as library calls.
 * An experiment is a resolved config (base files merged, overrides
 * applied, defaults filled in, every section checked against the skeleton
 * and the plugins' schemas) plus the registry holding its plugins. The
 * runner builds encoder, task, optimiser and schedule from it and trains,
 * writing runs/<name>/{config.yaml, metrics.jsonl, checkpoints/,
 * summary.json, log.txt}.
 *
 * Plugins that own sub-plugins (a task's solver or loss) create them with
 * mf_plugin_create_*: a registry lookup, a schema check of the section
 * (errors name file:line:col), then the factory. */
#ifndef MEDFM_RUNNER_H
#define MEDFM_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "medfm/config.h"
#include "medfm/encoder.h"
#include "medfm/loss.h"
#include "medfm/plugin.h"
#include "medfm/solver.h"
#include "medfm/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- creating plugins from config sections ---- */

/* Validates `section` (a map with a `plugin:` key) against the named
 * plugin's schema, filling in defaults, and returns the plugin's info. The
 * keys `plugin` (and for encoders `weights`) are always allowed. An unknown
 * plugin name is an error with the closest registered name. */
mf_status mf_plugin_check_section(const mf_registry *reg, mf_plugin_kind kind, mf_cfg *section,
                                  const mf_plugin_info **out);
/* check_section + the factory. `section` is edited in place (defaults). */
mf_status mf_plugin_create_encoder(const mf_registry *reg, mf_cfg *section, mf_rng *rng, mf_encoder **out);
mf_status mf_plugin_create_loss(const mf_registry *reg, mf_cfg *section, mf_loss **out);
mf_status mf_plugin_create_solver(const mf_registry *reg, mf_cfg *section, mf_solver **out);
mf_status mf_plugin_create_grad_estimator(const mf_registry *reg, mf_cfg *section, mf_grad_estimator **out);
mf_status mf_plugin_create_task(const mf_registry *reg, const mf_task_env *env, mf_cfg *section, mf_task **out);

/* ---- experiments ---- */

typedef struct mf_experiment {
    mf_cfg *config;        /* resolved: overrides applied, defaults filled */
    mf_registry *registry; /* defaults + the config's `plugins:` files */
    char *config_path;
} mf_experiment;

/* The top-level skeleton (name, seed, device, plugins, data, encoder, task,
 * optim, train) that every config is checked against. */
const mf_schema *mf_experiment_schema(void);

/* Loads the config, applies "a.b=value" overrides, loads the plugins and
 * checks everything it can without building the model: every problem goes
 * to `diag` (which may be NULL; then the first problem is the error). On
 * an error that stops loading (unreadable file, bad override) *out is NULL;
 * otherwise *out is set even when diag holds problems. */
mf_status mf_experiment_load(const char *config_path, int n_overrides, const char *const *overrides,
                             mf_diag *diag, mf_experiment **out);
/* Like load, from a config tree (takes ownership of cfg); `base_dir` is
 * where relative plugin paths resolve. */
mf_status mf_experiment_from_cfg(mf_cfg *cfg, const char *base_dir, mf_diag *diag, mf_experiment **out);
void mf_experiment_free(mf_experiment *e);

/* Everything `medfm validate` checks: load problems plus building the
 * encoder and task once (which validates the sub-plugin sections they
 * create) and the optimiser settings. Problems go to diag. */
mf_status mf_experiment_check(mf_experiment *e, mf_diag *diag);

/* Builds encoder and task (encoder.weights loaded when set) with a given
 * seed. */
mf_status mf_experiment_build_task(mf_experiment *e, uint64_t seed, mf_rng *task_rng, mf_task **out);

/* ---- running ---- */

typedef struct mf_run_options {
    uint32_t size;
    const char *output_dir; /* runs directory; default "runs" */
    const char *resume_dir; /* an earlier run directory to continue */
    int progress;           /* -1 auto (terminal: updating line), 0 plain lines, 1 updating line */
    bool quiet;             /* nothing on stderr */
    int64_t stop_after_step; /* > 0: checkpoint and stop (MF_ERR_INTERRUPTED) once this step is done (tests) */
    /* mf_run_resume only: key=value settings the continued run takes (and
     * writes into the run's config.yaml). Only keys that change where and
     * how fast it runs, never what it computes: device, train.cuda_graph,
     * train.cudnn_search, train.channels_last, train.tf32, train.log_every and
     * data.<split>.workers; any other key is a config error. */
    int n_resume_overrides;
    const char *const *resume_overrides;
} mf_run_options;

mf_run_options mf_run_options_default(void);

typedef struct mf_run_result {
    char run_dir[1024];
    int n_trials;
    mf_metrics final;  /* best eval metrics (mean over trials) */
    mf_metrics std;    /* their standard deviation over trials */
    int signal;        /* SIGINT/SIGTERM that stopped the run, else 0 */
    double seconds;
} mf_run_result;

/* Trains the experiment: repeated trials (seeds seed+i), evaluation every
 * train.val_every, checkpoints every train.checkpoint_every steps,
 * best-checkpoint selection on the monitor metric. SIGINT/SIGTERM while
 * training save a checkpoint and return MF_ERR_INTERRUPTED with
 * res->signal set. */
mf_status mf_experiment_run(mf_experiment *e, const mf_run_options *opt, mf_run_result *res);

/* Continues the run in `run_dir` from its config.yaml and last checkpoint;
 * the result equals an uninterrupted run bit for bit (on CPU). With
 * opt->resume_overrides it continues elsewhere (device=cuda:1, device=cpu):
 * the checkpoint's weights and optimiser state move to that device. */
mf_status mf_run_resume(const char *run_dir, const mf_run_options *opt, mf_run_result *res);

/* Installs SIGINT/SIGTERM handlers that ask a running mf_experiment_run to
 * checkpoint and stop; returns the signal seen so far (0 if none). */
void mf_runner_install_signals(void);
int mf_runner_signal(void);
void mf_runner_reset_signal(void);

/* Evaluates the experiment's val (or test) data with weights from a
 * checkpoint file (a model .safetensors or a checkpoint directory). */
mf_status mf_experiment_eval(mf_experiment *e, const char *checkpoint, const char *split, mf_metrics *out);

#ifdef __cplusplus
}
#endif
#endif
