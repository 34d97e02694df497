/* Tasks (plugin kind "task"): what a run trains or evaluates —
 * lvmmed_pretrain, med3dinsight_pretrain, segmentation, classification,
 * detection, prompt_segmentation. A task owns its heads and the
 * sub-plugins it names (solver, grad estimator, loss); the runner owns the
 * loop, the optimiser, checkpoints and logging. */
#ifndef MEDFM_TASK_H
#define MEDFM_TASK_H

#include "medfm/batch.h"
#include "medfm/config.h"
#include "medfm/encoder.h"
#include "medfm/ops/random.h"
#include "medfm/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MF_METRICS_MAX 32

/* Named scalars: training logs and evaluation metrics. */
typedef struct mf_metrics {
    int n;
    char names[MF_METRICS_MAX][48];
    double values[MF_METRICS_MAX];
} mf_metrics;

/* Sets (or adds) a named value; silently ignores entries past the limit. */
void mf_metrics_set(mf_metrics *m, const char *name, double value);
/* Value of a name, or NAN when absent. */
double mf_metrics_get(const mf_metrics *m, const char *name);

/* What the runner hands a task when creating it. Borrowed pointers, valid
 * for the task's lifetime. */
typedef struct mf_task_env {
    uint32_t size;
    const mf_registry *registry; /* to create sub-plugins by name */
    const mf_cfg *config;        /* the whole resolved experiment config */
    mf_device device;
    mf_rng *rng;                 /* the task's own stream (init, noise) */
    /* The encoder built from the `encoder:` section (NULL when the config
     * has none). The task takes ownership. */
    mf_encoder *encoder;
} mf_task_env;

typedef struct mf_task mf_task;
struct mf_task {
    uint32_t size;
    /* Every trainable part (encoder + heads) under one root so the runner
     * can optimise, save and load it; names like "encoder.layer1.0...". */
    mf_module *model;
    /* Metric that picks the best checkpoint, and whether higher is better. */
    const char *monitor;
    bool monitor_max;
    /* One training step's loss (on the tape; the runner calls backward and
     * the optimiser) plus scalars to log. */
    mf_status (*train_step)(mf_task *t, const mf_batch *b, mf_tensor **loss, mf_metrics *logs);
    /* Evaluation: begin, one call per batch, then the metrics. May be NULL
     * for tasks without evaluation (the runner then only trains). */
    mf_status (*eval_begin)(mf_task *t);
    mf_status (*eval_batch)(mf_task *t, const mf_batch *b);
    mf_status (*eval_end)(mf_task *t, mf_metrics *out);
    void (*destroy)(mf_task *t);
    void *state;
};

typedef struct mf_task_vtable {
    uint32_t size;
    /* cfg: the `task:` section (validated against the plugin's schema). */
    mf_status (*create)(const mf_task_env *env, const mf_cfg *cfg, mf_task **out);
} mf_task_vtable;

/* ---- the model root of a task built around an encoder ----
 * A module of type `type_name` (a string that outlives it, e.g. a literal)
 * whose first child, "encoder", is the encoder's module; the task adds its
 * heads after it, so names read "encoder.layer1.0...", "head.weight". The
 * root owns the encoder: mf_module_free(root) also destroys it.
 *
 * A task's create receives the encoder but takes it only when it succeeds
 * (the runner destroys it otherwise), so every failure after
 * mf_task_model_new calls mf_task_model_release_encoder(root) before
 * mf_module_free(root):
 *
 *     MF_CHECK(mf_task_model_new("MyTask", env->encoder, &root));
 *     ... add heads, create sub-plugins (MF_CHECK) ...
 *     t->model = root;
 *     return MF_OK;
 * cleanup:
 *     mf_task_model_release_encoder(root);
 *     mf_module_free(root);
 *
 * mf_task_model_new fails (writing NULL) when enc or its module is NULL or
 * memory runs out; the encoder is then untouched and still the caller's. */
mf_status mf_task_model_new(const char *type_name, mf_encoder *enc, mf_module **out);
/* The encoder a task model owns (borrowed); NULL for any other module or
 * once released. */
mf_encoder *mf_task_model_encoder(const mf_module *model);
/* Hands the encoder back: the model no longer lists its module under
 * "encoder" nor destroys it, and the caller owns the returned encoder
 * (NULL when the model has none; model may be NULL). */
mf_encoder *mf_task_model_release_encoder(mf_module *model);

#ifdef __cplusplus
}
#endif
#endif
