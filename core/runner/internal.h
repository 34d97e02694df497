/* Runner internals shared by its files (never installed). */
#ifndef MEDFM_RUNNER_INTERNAL_H
#define MEDFM_RUNNER_INTERNAL_H

#include <stdio.h>

#include "medfm/amp.h"
#include "medfm/batch.h"
#include "medfm/task.h"
#include "medfm/optim.h"
#include "medfm/runner.h"

/* Builds the optimiser over params (NULL opt: only checks the settings)
 * and the schedule from the `optim:` section. */
mf_status mf__runner_make_optimizer(const mf_cfg *cfg, mf_tensor *const *params, int n, mf_optimizer **opt,
                                    mf_lr_schedule *sched, int64_t total_steps);

/* Writes `text` to path atomically: temp file, fsync, rename, fsync dir. */
mf_status mf__write_file_atomic(const char *path, const char *text);
/* mkdir -p. */
mf_status mf__mkdirs(const char *path);

/* train.precision and train.loss_scale*: the autocast dtype (MF_F32: off)
 * and the loss scaler (used for f16, or whenever loss_scale is given). */
typedef struct mf_precision {
    mf_dtype amp;
    bool scaled;
    mf_loss_scaler scaler;
} mf_precision;

mf_status mf__runner_precision(const mf_cfg *cfg, mf_precision *out);
/* Checks what the schema cannot express (loss_scale: dynamic or a number > 0). */
void mf__runner_check_precision(const mf_cfg *cfg, mf_diag *d);
/* Opens the autocast scope when the run asks for one. */
mf_status mf__precision_enter(const mf_precision *p);
void mf__precision_exit(const mf_precision *p);

/* metrics_json.c: {name: value} files written atomically; reads give false
 * when the file is missing or not JSON. The trial files are dir/final.json. */
mf_status mf__write_metrics_json(const char *path, const mf_metrics *m);
bool mf__read_metrics_json(const char *path, mf_metrics *m);
mf_status mf__write_trial_json(const char *dir, const mf_metrics *m);
bool mf__read_trial_json(const char *dir, mf_metrics *m);

/* train.cuda_graph (step_graph.c): forward + backward captured as a CUDA
 * graph after a warm-up and replayed; the optimiser runs outside. */
struct mf_graph;
typedef struct mf_step_graph {
    mf_device dev;
    int eager_steps;
    struct mf_graph *graph;
    mf_batch inputs;    /* the captured step's batch: later batches are copied in */
    mf_batch last;      /* before the capture: the previous step's batch (shapes) */
    mf_tensor *loss;    /* rewritten by every replay */
    mf_tensor **grads;  /* per parameter, rewritten by every replay (NULL: no gradient) */
    int n;
    int64_t replays, shape_changes;
} mf_step_graph;

bool mf__step_graph_wanted(const mf_cfg *cfg);
/* Config errors: a graph on a non-cuda device or with loss scaling. */
void mf__step_graph_check(const mf_cfg *cfg, mf_diag *d);
/* Forward and backward of one step (eager while warming up or when the
 * batch's shapes differ from the captured ones): *loss gets a reference,
 * the parameters' gradients are set. The caller checks the loss, then
 * clips and steps. */
mf_status mf__step_graph_step(mf_step_graph *sg, mf_task *task, mf_optimizer *opt, mf_tensor *const *params, int n,
                              const mf_batch *b, const mf_precision *prec, mf_tensor **loss, mf_metrics *logs);
void mf__step_graph_free(mf_step_graph *sg);

/* train.cudnn_search (cudnn_search.c): a timed cuDNN algorithm search per
 * convolution shape instead of the heuristics. check: a config error on a
 * non-cuda device; apply: sets the policy for a run on dev (no-op on cpu). */
/* core/runner/resume_overrides.c: a config error unless every key=value
 * in kv names a setting a continued run may change (mf_run_options); the
 * options' overrides (how many, and *kv; none for an options struct from
 * before they existed); and the run's experiment as it goes on: its
 * config.yaml with the overrides, refused before anything is written
 * unless every key may change and the device can be had, then written
 * back with them. */
mf_status mf__resume_overrides_check(int n, const char *const *kv);
int mf__resume_overrides_of(const mf_run_options *opt, const char *const **kv);
mf_status mf__resume_load(const char *run_dir, const mf_run_options *opt, mf_experiment **out);

/* core/runner/train_flags.c: a boolean key's value (false when absent or
 * not a bool: the schema reports those), and whether the config's device
 * parses and is not cuda (*dev: its name, for messages). */
bool mf__train_flag(const mf_cfg *cfg, const char *key);
bool mf__device_not_cuda(const mf_cfg *cfg, const char **dev);
bool mf__cudnn_search_wanted(const mf_cfg *cfg);
void mf__cudnn_search_check(const mf_cfg *cfg, mf_diag *d);
mf_status mf__cudnn_search_apply(const mf_cfg *cfg, mf_device dev);
/* train.tf32 (tf32.c): a config error when true on a non-cuda device;
 * apply: sets TF32 for a run on dev (the key's value, else the
 * environment's; no-op on cpu). */
void mf__tf32_check(const mf_cfg *cfg, mf_diag *d);
mf_status mf__tf32_apply(const mf_cfg *cfg, mf_device dev);
/* train.channels_last (core/runner/channels_last.c): the key's value, its
 * check (cuda only), and setting the convolution switch for a trial on
 * `dev` (returns the previous setting, for mf_conv_set_channels_last). */
bool mf__channels_last_wanted(const mf_cfg *cfg);
void mf__channels_last_check(const mf_cfg *cfg, mf_diag *d);
bool mf__channels_last_enter(const mf_cfg *cfg, mf_device dev);

/* What a checkpoint records besides tensors. */
typedef struct mf_ckpt_state {
    int64_t step, epoch, trial;
    uint64_t seed;
    mf_rng task_rng;
    double best_value;
    int64_t best_step;
    int has_best;
    double elapsed;
    /* f16 loss scaler (loss_scale 0: none saved) */
    double loss_scale;
    int64_t scale_good_steps, scale_skipped;
} mf_ckpt_state;

/* checkpoints/step-<N>/{model,optim}.safetensors + state.json, then
 * checkpoints/latest.json names it; older step directories beyond `keep`
 * are removed. */
mf_status mf__ckpt_save(const char *ckpt_dir, mf_module *model, const mf_optimizer *opt, const mf_ckpt_state *s,
                        int keep);
/* Loads the checkpoint that latest.json names (MF_ERR_NOT_FOUND when none). */
mf_status mf__ckpt_load_latest(const char *ckpt_dir, mf_module *model, mf_optimizer *opt, mf_ckpt_state *s);
/* Loads model weights from a model .safetensors or a checkpoint directory
 * (its latest step, or best.safetensors when present). */
mf_status mf__load_model_weights(const char *path, mf_module *model);

#endif
