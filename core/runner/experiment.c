/* Experiments: the resolved config plus its plugins. Loading checks the
 * top-level skeleton and the encoder and task sections against their
 * plugins' schemas, collecting every problem so `medfm validate` can list
 * them all at once. */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/nn/internal.h"
#include "core/runner/internal.h"
#include "medfm/loader.h"
#include "medfm/nn.h"

#define KEY(n, t, d, doc, lo, hi) {n, t, d, doc, lo, hi, NULL, NULL, false}
#define NKEY(n, t, d, doc, lo, hi) {n, t, d, doc, lo, hi, NULL, NULL, true}
#define NL MF_NO_LIMIT

/* Whether a config value came from a `key=value` argument. */
static bool from_command_line(const mf_cfg *c) { return c->file && !strcmp(c->file, "<command line>"); }

static const mf_key_spec schedule_keys[] = {
    {"name", MF_KEY_CHOICE, "constant", "learning-rate schedule", NL, NL, "constant|step|halving|cosine|poly|exponential",
     NULL, false},
    KEY("step_size", MF_KEY_INT, "1", "step: steps between decays", 1, NL),
    KEY("gamma", MF_KEY_FLOAT, "0.1", "step/exponential: decay factor", 0, NL),
    KEY("times", MF_KEY_INT, "4", "halving: how many times the lr halves over the run", 0, NL),
    KEY("warmup_steps", MF_KEY_INT, "0", "cosine: linear warm-up steps", 0, NL),
    KEY("min_lr", MF_KEY_FLOAT, "0.0", "cosine: final lr", 0, NL),
    KEY("power", MF_KEY_FLOAT, "0.9", "poly: exponent", 0, NL),
};
static const mf_schema schedule_schema = {"optim.schedule", schedule_keys, 7, false};

static const mf_key_spec optim_keys[] = {
    {"name", MF_KEY_CHOICE, "adam", "optimiser", NL, NL, "sgd|adam|adamw", NULL, false},
    KEY("lr", MF_KEY_FLOAT, "1.0e-3", "base learning rate", 0, NL),
    KEY("weight_decay", MF_KEY_FLOAT, "0.0", "L2 (sgd, adam) or decoupled (adamw) weight decay", 0, NL),
    KEY("momentum", MF_KEY_FLOAT, "0.9", "sgd: momentum", 0, 1),
    KEY("nesterov", MF_KEY_BOOL, "false", "sgd: Nesterov momentum", NL, NL),
    KEY("betas", MF_KEY_LIST, "[0.9, 0.999]", "adam/adamw: (beta1, beta2)", NL, NL),
    KEY("eps", MF_KEY_FLOAT, "1.0e-8", "adam/adamw: epsilon", 0, NL),
    NKEY("clip_grad_norm", MF_KEY_FLOAT, "~", "clip the global gradient L2 norm to this (null: no clipping)", 0, NL),
    {"schedule", MF_KEY_SECTION, "{name: constant}", "learning-rate schedule", NL, NL, NULL, &schedule_schema, false},
};
static const mf_schema optim_schema = {"optim", optim_keys, 9, false};

static const mf_key_spec train_keys[] = {
    NKEY("epochs", MF_KEY_INT, "~", "passes over data.train (or give steps)", 1, NL),
    NKEY("steps", MF_KEY_INT, "~", "optimiser steps (instead of epochs)", 1, NL),
    KEY("batch_size", MF_KEY_INT, "32", "samples per step", 1, NL),
    NKEY("eval_batch_size", MF_KEY_INT, "~", "samples per evaluation batch (default: batch_size)", 1, NL),
    KEY("val_every", MF_KEY_INT, "1", "evaluate every N epochs (N steps when training by steps); 0: only at the end",
        0, NL),
    KEY("checkpoint_every", MF_KEY_INT, "0", "checkpoint every N steps (0: only at the end)", 0, NL),
    KEY("keep_checkpoints", MF_KEY_INT, "2", "step checkpoints kept (the best model is kept apart)", 1, NL),
    KEY("trials", MF_KEY_INT, "1", "repeated runs with seeds seed+i; summary gives mean and std", 1, 1000),
    NKEY("monitor", MF_KEY_STRING, "~", "metric picking the best checkpoint (default: the task's)", NL, NL),
    NKEY("monitor_mode", MF_KEY_CHOICE, "~", "max or min (default: the task's)", NL, NL),
    KEY("log_every", MF_KEY_INT, "10", "steps between log lines (when not on a terminal)", 1, NL),
    {"precision", MF_KEY_CHOICE, "f32", "compute dtype of matmul/conv/attention in forward passes (autocast; "
     "parameters, losses, norms and the optimiser stay f32)", NL, NL, "f32|bf16|f16", NULL, false},
    NKEY("loss_scale", MF_KEY_STRING, "~",
         "loss scaling: 'dynamic' (the f16 default) or a fixed number; steps with inf/NaN gradients are skipped",
         NL, NL),
    KEY("loss_scale_init", MF_KEY_FLOAT, "65536.0", "dynamic loss scaling: first scale", 0, NL),
    KEY("loss_scale_interval", MF_KEY_INT, "2000",
        "dynamic loss scaling: clean steps before the scale doubles (it halves on inf/NaN)", 1, NL),
    KEY("cuda_graph", MF_KEY_BOOL, "false",
        "capture forward + backward as a CUDA graph after 2 eager steps and replay it (cuda device, static "
        "shapes, no random draws on the device inside the step, no f16 loss scaling)",
        NL, NL),
    KEY("cudnn_search", MF_KEY_BOOL, "false",
        "cuda: time cuDNN's convolution algorithms on the first step of each shape and keep the fastest (like "
        "torch.backends.cudnn.benchmark; the choice, and so the last bits of results, may vary between runs) "
        "instead of its heuristics",
        NL, NL),
    KEY("channels_last", MF_KEY_BOOL, "false",
        "cuda: run convolutions, batch norm and the elementwise ops between them in the channels-last (NHWC) "
        "layout, as torch.channels_last does; same values, no NCHW<->NHWC transposes in cuDNN",
        NL, NL),
    NKEY("tf32", MF_KEY_BOOL, "~",
         "cuda: let f32 matmul and convolutions use TF32 tensor cores (true) or keep exact f32 (false, e.g. to "
         "compare with a CPU run); unset: on unless MEDFM_CUDA_TF32=0",
         NL, NL),
};
static const mf_schema train_schema = {"train", train_keys, 19, false};

static const mf_key_spec data_keys[] = {
    {"train", MF_KEY_SECTION, "~", "training split", NL, NL, NULL, &mf_loader_section_schema, true},
    {"val", MF_KEY_SECTION, "~", "validation split", NL, NL, NULL, &mf_loader_section_schema, true},
    {"test", MF_KEY_SECTION, "~", "test split", NL, NL, NULL, &mf_loader_section_schema, true},
};
static const mf_schema data_schema = {"data", data_keys, 3, false};

static const mf_key_spec top_keys[] = {
    KEY("name", MF_KEY_STRING, NULL, "run directory name", NL, NL),
    KEY("seed", MF_KEY_INT, "0", "seed of every random stream (trial i uses seed + i)", 0, NL),
    KEY("device", MF_KEY_STRING, "cpu", "cpu | cuda | cuda:N", NL, NL),
    KEY("plugins", MF_KEY_LIST, "[]", "extra plugin files, relative to this config", NL, NL),
    {"data", MF_KEY_SECTION, "{}", "data splits and transforms", NL, NL, NULL, &data_schema, false},
    NKEY("encoder", MF_KEY_MAP, "~", "the encoder: {plugin: NAME, weights: FILE, ...}", NL, NL),
    KEY("task", MF_KEY_MAP, NULL, "the task: {plugin: NAME, ...}", NL, NL),
    {"optim", MF_KEY_SECTION, "{}", "optimiser and schedule", NL, NL, NULL, &optim_schema, false},
    {"train", MF_KEY_SECTION, "{}", "training loop", NL, NL, NULL, &train_schema, false},
};
static const mf_schema top_schema = {"the experiment", top_keys, 9, false};

const mf_schema *mf_experiment_schema(void) { return &top_schema; }

void mf_experiment_free(mf_experiment *e) {
    if (!e)
        return;
    mf_cfg_free(e->config);
    mf_registry_free(e->registry);
    free(e->config_path);
    free(e);
}

static void report(mf_diag *diag, mf_status st) {
    if (st != MF_OK && diag)
        mf_diag_add(diag, "%s", mf_last_error());
}

/* Loads the `plugins:` files (relative to base_dir), rewriting each entry
 * to its absolute path so the resolved config re-runs from anywhere. */
static void load_config_plugins(mf_experiment *e, const char *base_dir, mf_diag *diag) {
    mf_cfg *list = mf_cfg_find(e->config, "plugins");
    if (!list || list->kind != MF_CFG_LIST)
        return;
    for (int i = 0; i < list->n; i++) {
        mf_cfg *item = list->items[i];
        const char *p;
        if (mf_cfg_as_string(item, &p) != MF_OK) {
            report(diag, MF_ERR_CONFIG);
            continue;
        }
        char path[PATH_MAX * 2], abs[PATH_MAX];
        if (p[0] == '/')
            snprintf(path, sizeof path, "%s", p);
        else
            snprintf(path, sizeof path, "%s/%s", base_dir, p);
        if (!realpath(path, abs)) {
            mf_diag_add(diag, "%s: plugins: plugin file %s does not exist", mf_cfg_where(item), path);
            continue;
        }
        mf_status st = mf_registry_load(e->registry, abs);
        if (st != MF_OK) {
            mf_diag_add(diag, "%s: plugins: %s", mf_cfg_where(item), mf_last_error());
            continue;
        }
        free(item->value);
        item->value = strdup(abs);
    }
}

/* Sections whose plugin schema is checked at load time. */
static void check_plugin_section(mf_experiment *e, mf_plugin_kind kind, const char *key, mf_diag *diag) {
    mf_cfg *sec = mf_cfg_find(e->config, key);
    if (!sec || sec->kind == MF_CFG_NULL)
        return;
    report(diag, mf_plugin_check_section(e->registry, kind, sec, NULL));
}

/* Data sections take their batch size from train: (batch_size, or
 * eval_batch_size for val/test) unless they set one, and evaluation splits
 * are not shuffled unless asked; written into the tree so the resolved
 * config says what ran. */
static void inherit_data_defaults(mf_cfg *cfg) {
    static const char *splits[] = {"train", "val", "test"};
    const mf_cfg *bs = mf_cfg_find(cfg, "train.batch_size"), *ebs = mf_cfg_find(cfg, "train.eval_batch_size");
    for (int i = 0; i < 3; i++) {
        char path[32];
        snprintf(path, sizeof path, "data.%s", splits[i]);
        mf_cfg *sec = mf_cfg_find(cfg, path);
        if (!sec || sec->kind != MF_CFG_MAP)
            continue;
        const mf_cfg *from = i > 0 && ebs && ebs->kind == MF_CFG_SCALAR ? ebs : bs;
        if (!mf_cfg_find(sec, "batch_size") && from && from->kind == MF_CFG_SCALAR) {
            mf_cfg *v = mf_cfg_clone(from);
            if (v && mf_cfg_map_put(sec, "batch_size", v) != MF_OK)
                mf_cfg_free(v);
        }
        if (i > 0 && !mf_cfg_find(sec, "shuffle")) {
            mf_cfg *v = mf_cfg_new(MF_CFG_SCALAR, "false");
            if (v && mf_cfg_map_put(sec, "shuffle", v) != MF_OK)
                mf_cfg_free(v);
        }
    }
}

/* Data sources name files (`path:` of a manifest, `root:` of a folder)
 * relative to the config that mentions them, like `plugins:`; a relative
 * name that exists there becomes absolute, anything else is left for the
 * source to report. */
static void resolve_source_paths(mf_cfg *src, const char *base_dir, int depth) {
    if (!src || src->kind != MF_CFG_MAP || depth > 8)
        return;
    static const char *keys[] = {"path", "root"};
    for (int k = 0; k < 2; k++) {
        mf_cfg *v = mf_cfg_find(src, keys[k]);
        if (!v || v->kind != MF_CFG_SCALAR || v->value[0] == '/')
            continue;
        char full[PATH_MAX];
        struct stat sb;
        if (snprintf(full, sizeof full, "%s/%s", base_dir, v->value) < (int)sizeof full && stat(full, &sb) == 0) {
            char real[PATH_MAX];
            char *copy = strdup(realpath(full, real) ? real : full);
            if (copy) {
                free(v->value);
                v->value = copy;
            }
        }
    }
    resolve_source_paths(mf_cfg_find(src, "source"), base_dir, depth + 1);
}

static void resolve_data_paths(mf_cfg *cfg, const char *base_dir) {
    static const char *splits[] = {"train", "val", "test"};
    for (int i = 0; i < 3; i++) {
        char path[32];
        snprintf(path, sizeof path, "data.%s.source", splits[i]);
        resolve_source_paths(mf_cfg_find(cfg, path), base_dir, 0);
    }
}

mf_status mf_experiment_from_cfg(mf_cfg *cfg, const char *base_dir, mf_diag *diag, mf_experiment **out) {
    *out = NULL;
    mf_experiment *e = calloc(1, sizeof *e);
    if (!e) {
        mf_cfg_free(cfg);
        return MF_ERR(MF_ERR_NOMEM, "experiment: out of memory");
    }
    e->config = cfg;
    mf_status st = mf_registry_new(&e->registry);
    if (st != MF_OK) {
        mf_experiment_free(e);
        return st;
    }
    mf_diag local = {0};
    mf_diag *d = diag ? diag : &local;
    int before = d->n;
    report(d, mf_registry_load_defaults(e->registry));
    inherit_data_defaults(e->config);
    resolve_data_paths(e->config, base_dir ? base_dir : ".");
    mf_cfg_validate(e->config, &top_schema, d);
    load_config_plugins(e, base_dir ? base_dir : ".", d);
    check_plugin_section(e, MF_KIND_ENCODER, "encoder", d);
    check_plugin_section(e, MF_KIND_TASK, "task", d);
    /* Optimiser settings the schema cannot express. */
    const mf_cfg *betas = mf_cfg_find(e->config, "optim.betas");
    if (betas && betas->kind == MF_CFG_LIST) {
        double b;
        if (betas->n != 2)
            mf_diag_add(d, "%s: optim.betas: expected two numbers (beta1, beta2)", mf_cfg_where(betas));
        for (int i = 0; i < betas->n; i++)
            if (mf_cfg_as_float(betas->items[i], &b) != MF_OK)
                report(d, MF_ERR_CONFIG);
            else if (b < 0 || b >= 1)
                mf_diag_add(d, "%s: optim.betas: %g is outside [0, 1)", mf_cfg_where(betas->items[i]), b);
    }
    const mf_cfg *ep = mf_cfg_find(e->config, "train.epochs"), *sp = mf_cfg_find(e->config, "train.steps");
    bool has_ep = ep && ep->kind == MF_CFG_SCALAR, has_sp = sp && sp->kind == MF_CFG_SCALAR;
    if (has_ep && has_sp && from_command_line(ep) != from_command_line(sp)) {
        /* `train.steps=N` on the command line replaces the file's epochs (and the other way round) */
        has_ep = from_command_line(ep), has_sp = !has_ep;
        mf_cfg_remove(mf_cfg_find(e->config, "train"), has_sp ? "epochs" : "steps");
    }
    if (has_ep == has_sp)
        mf_diag_add(d, "%s: train: give exactly one of 'epochs' and 'steps'%s",
                    mf_cfg_where(mf_cfg_find(e->config, "train")),
                    has_ep ? "" : " (on the command line: train.steps=N or train.epochs=N)");
    mf__runner_check_precision(e->config, d);
    mf__step_graph_check(e->config, d);
    mf__cudnn_search_check(e->config, d);
    mf__tf32_check(e->config, d);
    mf__channels_last_check(e->config, d);
    const char *dev;
    if (mf_cfg_get_string(e->config, "device", "cpu", &dev) == MF_OK) {
        mf_device dv;
        if (mf_device_parse(dev, &dv) != MF_OK)
            mf_diag_add(d, "%s: device: %s", mf_cfg_where(mf_cfg_find(e->config, "device")), mf_last_error());
    }
    *out = e;
    if (!diag) {
        st = mf_diag_status(&local);
        mf_diag_free(&local);
        if (st != MF_OK) {
            mf_experiment_free(e);
            *out = NULL;
        }
        return st;
    }
    return d->n > before ? mf_diag_status(d) : MF_OK;
}

mf_status mf_experiment_load(const char *config_path, int n_overrides, const char *const *overrides,
                             mf_diag *diag, mf_experiment **out) {
    *out = NULL;
    mf_cfg *cfg;
    MF_TRY(mf_cfg_load(config_path, &cfg));
    for (int i = 0; i < n_overrides; i++) {
        mf_status st = mf_cfg_set(cfg, overrides[i]);
        if (st != MF_OK) {
            mf_cfg_free(cfg);
            return mf_error_context(st, "override '%s'", overrides[i]);
        }
    }
    char *copy = strdup(config_path);
    char *dir = copy ? strdup(dirname(copy)) : NULL;
    free(copy);
    mf_status st = mf_experiment_from_cfg(cfg, dir, diag, out);
    free(dir);
    if (*out)
        (*out)->config_path = strdup(config_path);
    return st;
}

mf_status mf_experiment_build_task(mf_experiment *e, uint64_t seed, mf_rng *task_rng, mf_task **out) {
    *out = NULL;
    const char *dev_name;
    mf_device dev;
    MF_TRY(mf_cfg_get_string(e->config, "device", "cpu", &dev_name));
    MF_TRY(mf_device_parse(dev_name, &dev));
    mf_rng init_rng;
    mf_rng_init(&init_rng, seed);
    mf_encoder *enc = NULL;
    mf_cfg *esec = mf_cfg_find(e->config, "encoder");
    if (esec && esec->kind == MF_CFG_MAP)
        MF_TRY(mf_plugin_create_encoder(e->registry, esec, &init_rng, &enc));
    mf_rng_init(task_rng, seed + 0x9e3779b97f4a7c15ULL);
    mf_task_env env = {sizeof env, e->registry, e->config, dev, task_rng, enc};
    mf_status st = mf_plugin_create_task(e->registry, &env, mf_cfg_find(e->config, "task"), out);
    if (st != MF_OK) {
        /* The task takes the encoder only when it is created. */
        if (enc && enc->destroy)
            enc->destroy(enc);
        return st;
    }
    if ((*out)->model && dev.type != MF_CPU)
        MF_TRY(mf_module_to_device((*out)->model, dev));
    return MF_OK;
}

mf_status mf_experiment_check(mf_experiment *e, mf_diag *diag) {
    int before = diag->n;
    /* Files named by PATH keys. */
    const mf_cfg *w = mf_cfg_find(e->config, "encoder.weights");
    if (w && w->kind == MF_CFG_SCALAR) {
        struct stat sb;
        if (stat(w->value, &sb) != 0)
            mf_diag_add(diag, "%s: encoder.weights: file %s does not exist", mf_cfg_where(w), w->value);
    }
    /* Building each loader checks its source (files exist, manifests
     * parse) and its transforms; workers are not started for this. */
    static const char *splits[] = {"train", "val", "test"};
    for (int i = 0; i < 3; i++) {
        char path[32];
        snprintf(path, sizeof path, "data.%s", splits[i]);
        mf_cfg *sec = mf_cfg_find(e->config, path);
        if (!sec || sec->kind != MF_CFG_MAP)
            continue;
        mf_cfg *probe = mf_cfg_clone(sec);
        if (!probe)
            continue;
        probe->parent = sec->parent; /* keep key paths in messages */
        mf_cfg_remove(probe, "workers");
        mf_cfg *zero = mf_cfg_new(MF_CFG_SCALAR, "0");
        if (zero && mf_cfg_map_put(probe, "workers", zero) != MF_OK)
            mf_cfg_free(zero);
        mf_loader *l = NULL;
        mf_status st = mf_loader_from_cfg(probe, 0, &l);
        if (st != MF_OK)
            mf_diag_add(diag, "data.%s: %s", splits[i], mf_last_error());
        mf_loader_free(l);
        mf_cfg_free(probe);
    }
    if (diag->n == before) {
        /* Building once validates the sub-plugin sections the task creates. */
        mf_rng rng;
        mf_task *t = NULL;
        bool was = mf__init_skip_random(true); /* shapes and names, not weights */
        mf_status st = mf_experiment_build_task(e, 0, &rng, &t);
        mf__init_skip_random(was);
        report(diag, st);
        if (t && t->destroy)
            t->destroy(t);
        if (st == MF_OK) {
            mf_lr_schedule sched;
            report(diag, mf__runner_make_optimizer(e->config, NULL, 0, NULL, &sched, 1));
        }
    }
    return diag->n > before ? mf_diag_status(diag) : MF_OK;
}
