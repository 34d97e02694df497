/* The experiment loop: trials, steps, evaluation, best-model selection,
 * checkpoints, resume, signals, progress and the run directory
 * (config.yaml, metrics.jsonl, checkpoints/, summary.json, log.txt). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/runner/internal.h"
#include "medfm/ops/conv.h"
#include "core/runner/prefetch.h"
#include "medfm/loader.h"
#include "medfm/conv_algo.h"
#include "medfm/memory.h"
#include "medfm/autograd.h"
#include "medfm/nn.h"

/* The one piece of process state: the signal that asked the run to stop. */
static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

void mf_runner_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
int mf_runner_signal(void) { return (int)g_signal; }
void mf_runner_reset_signal(void) { g_signal = 0; }

mf_run_options mf_run_options_default(void) {
    mf_run_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.output_dir = "runs";
    o.progress = -1;
    return o;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct ctx {
    mf_experiment *e;
    const mf_run_options *opt;
    char run_dir[PATH_MAX];
    FILE *log, *metrics;
    bool tty, line_open;
    int n_trials;
} ctx;

static void say(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(ctx *c, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->log) {
        fprintf(c->log, "%s\n", msg);
        fflush(c->log);
    }
    if (!c->opt->quiet) {
        if (c->line_open)
            fprintf(stderr, "\r\033[K");
        c->line_open = false;
        fprintf(stderr, "%s\n", msg);
    }
}

static void fmt_eta(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void event(ctx *c, const char *kind, int trial, int64_t step, int64_t epoch, const mf_metrics *m,
                  double extra_lr) {
    if (!c->metrics)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", kind);
    cJSON_AddNumberToObject(o, "trial", trial);
    cJSON_AddNumberToObject(o, "step", (double)step);
    cJSON_AddNumberToObject(o, "epoch", (double)epoch);
    if (extra_lr >= 0)
        cJSON_AddNumberToObject(o, "lr", extra_lr);
    for (int i = 0; m && i < m->n; i++)
        cJSON_AddNumberToObject(o, m->names[i], m->values[i]);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (t) {
        fprintf(c->metrics, "%s\n", t);
        fflush(c->metrics);
        free(t);
    }
}

static void metrics_str(const mf_metrics *m, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < m->n && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s %.4f", i ? "  " : "", m->names[i], m->values[i]);
}

static mf_status evaluate(mf_task *t, mf_loader *src, mf_device dev, const mf_precision *prec, mf_metrics *out) {
    memset(out, 0, sizeof *out);
    if (!t->eval_begin || !t->eval_batch || !t->eval_end)
        return MF_OK;
    bool was = t->model ? t->model->training : true;
    if (t->model)
        mf_module_train(t->model, false);
    bool grad = mf_grad_set_enabled(false);
    mf_prefetch pf = {0};
    mf__prefetch_init(&pf, src, dev);
    mf_status st = t->eval_begin(t);
    if (st == MF_OK)
        st = mf_loader_start_epoch(src, 0);
    while (st == MF_OK) {
        mf_batch b = {0};
        bool done = false;
        st = mf__prefetch_next(&pf, &b, &done, true);
        if (st == MF_OK && !done && (st = mf__precision_enter(prec)) == MF_OK) {
            st = t->eval_batch(t, &b);
            mf__precision_exit(prec);
        }
        mf_batch_clear(&b);
        if (done)
            break;
    }
    mf__prefetch_reset(&pf);
    if (st == MF_OK)
        st = t->eval_end(t, out);
    mf_grad_set_enabled(grad);
    if (t->model)
        mf_module_train(t->model, was);
    return st;
}

/* The loader of data.<split>, or NULL when the config has no such split.
 * Augmentations follow `seed`; the data set itself is the source's. */
static mf_status open_loader(const mf_cfg *cfg, const char *split, uint64_t seed, mf_loader **out) {
    *out = NULL;
    char path[64];
    snprintf(path, sizeof path, "data.%s", split);
    mf_cfg *sec = mf_cfg_find(cfg, path);
    if (!sec || sec->kind != MF_CFG_MAP)
        return MF_OK;
    mf_status st = mf_loader_from_cfg(sec, seed, out);
    return st == MF_OK ? MF_OK : mf_error_context(st, "data.%s", split);
}

/* Backward of the loss, scaled when the run uses a loss scaler; then the
 * gradients are unscaled and *do_step says whether they are finite (the
 * scaler adapts its scale either way). */
static mf_status backward_scaled(mf_precision *p, mf_tensor *loss, mf_tensor *const *params, int n, bool *do_step,
                                 mf_metrics *logs) {
    *do_step = true;
    if (!p->scaled)
        return mf_backward(loss, NULL, false);
    mf_tensor *scaled;
    MF_TRY(mf_loss_scaler_scale(&p->scaler, loss, &scaled));
    mf_status st = mf_backward(scaled, NULL, false);
    mf_tensor_release(scaled);
    bool finite;
    if (st == MF_OK)
        st = mf_loss_scaler_unscale(&p->scaler, params, n, &finite);
    if (st == MF_OK) {
        mf_loss_scaler_update(&p->scaler, finite, do_step);
        mf_metrics_set(logs, "loss_scale", p->scaler.scale);
    }
    return st;
}

typedef struct trial_out {
    mf_metrics final;
    bool has_final;
} trial_out;

static mf_status run_trial(ctx *c, int trial, const char *dir, bool resume, trial_out *res) {
    const mf_cfg *cfg = c->e->config;
    int64_t seed0, bs, ebs, val_every, ck_every, keep, log_every, epochs = 0, steps = 0;
    MF_TRY(mf_cfg_get_int(cfg, "seed", 0, &seed0));
    MF_TRY(mf_cfg_get_int(cfg, "train.batch_size", 32, &bs));
    const mf_cfg *ebs_node = mf_cfg_find(cfg, "train.eval_batch_size");
    ebs = bs;
    if (ebs_node && ebs_node->kind == MF_CFG_SCALAR)
        MF_TRY(mf_cfg_as_int(ebs_node, &ebs));
    MF_TRY(mf_cfg_get_int(cfg, "train.val_every", 1, &val_every));
    MF_TRY(mf_cfg_get_int(cfg, "train.checkpoint_every", 0, &ck_every));
    MF_TRY(mf_cfg_get_int(cfg, "train.keep_checkpoints", 2, &keep));
    MF_TRY(mf_cfg_get_int(cfg, "train.log_every", 10, &log_every));
    const mf_cfg *ep = mf_cfg_find(cfg, "train.epochs"), *sp = mf_cfg_find(cfg, "train.steps");
    if (ep && ep->kind == MF_CFG_SCALAR)
        MF_TRY(mf_cfg_as_int(ep, &epochs));
    if (sp && sp->kind == MF_CFG_SCALAR)
        MF_TRY(mf_cfg_as_int(sp, &steps));
    const char *dev_name;
    mf_device dev;
    MF_TRY(mf_cfg_get_string(cfg, "device", "cpu", &dev_name));
    MF_TRY(mf_device_parse(dev_name, &dev));

    uint64_t seed = (uint64_t)seed0 + (uint64_t)trial;
    mf_rng task_rng;
    mf_task *task = NULL;
    mf_loader *train = NULL, *val = NULL;
    mf_prefetch pf = {0}; /* copies batch k+1 to the device during step k */
    mf_step_graph sg = {.dev = dev};
    bool use_graph = mf__step_graph_wanted(cfg), graph_said = false;
    bool search_said = !mf__cudnn_search_wanted(cfg);
    mf_optimizer *opt = NULL;
    mf_tensor **params = NULL;
    int n_params = 0;
    mf_status st;
    char ckdir[PATH_MAX + 32];
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", dir);
    bool cl_was = mf__channels_last_enter(cfg, dev);
    MF_CHECK(mf__mkdirs(ckdir));
    MF_CHECK(mf__cudnn_search_apply(cfg, dev));
    MF_CHECK(mf__tf32_apply(cfg, dev));
    /* the counts are process-wide: the first step's share is the difference */
    mf_conv_algo_counts searched0 = {0};
    if (!search_said && mf_conv_algo_counts_get(dev, &searched0) != MF_OK)
        search_said = true;
    MF_CHECK(mf_experiment_build_task(c->e, seed, &task_rng, &task));
    MF_CHECK(open_loader(cfg, "train", seed, &train));
    MF_CHECK(open_loader(cfg, "val", seed, &val));
    if (!train) {
        st = MF_ERR(MF_ERR_CONFIG, "%s: data.train: the experiment has no training data",
                    c->e->config_path ? c->e->config_path : "<config>");
        goto cleanup;
    }
    if (!task->model || !task->train_step) {
        st = MF_ERR(MF_ERR_PLUGIN, "task plugin gave no model or train_step");
        goto cleanup;
    }
    mf__prefetch_init(&pf, train, dev);
    int64_t spe = mf_loader_num_batches(train);
    if (spe < 1) {
        st = MF_ERR(MF_ERR_CONFIG, "data.train yields no batch (fewer samples than batch_size with drop_last?)");
        goto cleanup;
    }
    int64_t total = steps > 0 ? steps : epochs * spe;
    int64_t val_steps = steps > 0 ? val_every : val_every * spe;
    MF_CHECK(mf_module_parameter_array(task->model, &params, &n_params));
    mf_lr_schedule sched;
    MF_CHECK(mf__runner_make_optimizer(cfg, params, n_params, &opt, &sched, total));
    mf_precision prec;
    MF_CHECK(mf__runner_precision(cfg, &prec));
    double clip = 0;
    const mf_cfg *cn = mf_cfg_find(cfg, "optim.clip_grad_norm");
    if (cn && cn->kind == MF_CFG_SCALAR)
        MF_CHECK(mf_cfg_as_float(cn, &clip));

    const char *monitor = task->monitor;
    bool monitor_max = task->monitor_max;
    const mf_cfg *mn = mf_cfg_find(cfg, "train.monitor"), *mm = mf_cfg_find(cfg, "train.monitor_mode");
    if (mn && mn->kind == MF_CFG_SCALAR)
        monitor = mn->value;
    if (mm && mm->kind == MF_CFG_SCALAR)
        monitor_max = !strcmp(mm->value, "max");

    mf_ckpt_state cs = {0};
    cs.trial = trial;
    cs.seed = seed;
    if (resume) {
        mf_ckpt_state loaded;
        st = mf__ckpt_load_latest(ckdir, task->model, opt, &loaded);
        if (st == MF_OK) {
            cs = loaded;
            task_rng = loaded.task_rng;
            if (prec.scaled && loaded.loss_scale > 0) {
                prec.scaler.scale = loaded.loss_scale;
                prec.scaler.good_steps = loaded.scale_good_steps;
                prec.scaler.skipped = loaded.scale_skipped;
            }
            say(c, "resuming trial %d at step %lld", trial, (long long)cs.step);
        } else if (st != MF_ERR_NOT_FOUND) {
            goto cleanup;
        }
        st = MF_OK;
    }
    int64_t loader_epoch = -1;
    double t0 = now_s(), elapsed0 = cs.elapsed, last_draw = 0;
    int64_t step0 = cs.step;
    mf_metrics last_eval = {0};
    bool has_eval = false;
    double loss_ema = NAN;
    while (cs.step < total) {
        if (mf_runner_signal()) {
            cs.task_rng = task_rng;
            cs.elapsed = elapsed0 + now_s() - t0;
            MF_CHECK(mf__ckpt_save(ckdir, task->model, opt, &cs, (int)keep));
            say(c, "signal %d: checkpoint saved at step %lld; stopping", mf_runner_signal(), (long long)cs.step);
            st = MF_ERR(MF_ERR_INTERRUPTED, "interrupted by signal %d at step %lld (checkpoint saved)",
                        mf_runner_signal(), (long long)cs.step);
            goto cleanup;
        }
        /* The data position is the step: batches depend only on (seed,
         * epoch, batch index), so a resumed run sees the same batches. */
        int64_t epoch = cs.step / spe;
        if (epoch != loader_epoch) {
            mf__prefetch_reset(&pf);
            MF_CHECK(mf_loader_start_epoch_at(train, epoch, cs.step % spe));
            loader_epoch = epoch;
        }
        mf_batch b = {0};
        bool done = false;
        st = mf__prefetch_next(&pf, &b, &done, cs.step + 1 < total);
        if (st == MF_OK && done)
            st = MF_ERR(MF_ERR_STATE, "data.train ran out of batches at step %lld", (long long)cs.step);
        if (st == MF_OK)
            st = mf_optim_apply_schedule(opt, &sched, cs.step, total);
        mf_tensor *loss = NULL;
        mf_metrics logs = {0};
        if (st == MF_OK && use_graph) {
            mf_module_train(task->model, true);
            int64_t replays = sg.replays;
            st = mf__step_graph_step(&sg, task, opt, params, n_params, &b, &prec, &loss, &logs);
            mf_metrics_set(&logs, "cuda_graph", sg.replays > replays); /* 1: this step was a replay */
        } else if (st == MF_OK) {
            mf_module_train(task->model, true);
            mf_optim_zero_grad(opt);
            if ((st = mf__precision_enter(&prec)) == MF_OK) {
                st = task->train_step(task, &b, &loss, &logs);
                mf__precision_exit(&prec);
            }
        }
        mf_batch_clear(&b);
        if (st == MF_OK && sg.graph && !graph_said) {
            say(c, "cuda_graph: step %lld captured as a CUDA graph; later steps replay it", (long long)cs.step + 1);
            graph_said = true;
        }
        double lv = NAN;
        if (st == MF_OK)
            st = mf_tensor_item(loss, &lv);
        /* A diverged run stops before the step touches the weights, so the
         * last checkpoint and the model stay as they were (f16 runs skip
         * such steps through the loss scaler instead). */
        if (st == MF_OK && !isfinite(lv) && !prec.scaled)
            st = MF_ERR(MF_ERR_STATE,
                        "the loss is %g: training diverged; the weights were not updated and earlier checkpoints "
                        "in %s are untouched (resume from the last with a lower optim.lr, or set "
                        "optim.clip_grad_norm)%s",
                        lv, ckdir,
                        use_graph ? "; under train.cuda_graph a class index out of range also gives a NaN loss" : "");
        bool do_step = true;
        if (st == MF_OK && !use_graph) /* the graph step ran backward already */
            st = backward_scaled(&prec, loss, params, n_params, &do_step, &logs);
        mf_tensor_release(loss);
        if (st == MF_OK && do_step && clip > 0) {
            double norm;
            st = mf_clip_grad_norm(params, n_params, clip, &norm);
            mf_metrics_set(&logs, "grad_norm", norm);
        }
        if (st == MF_OK && do_step)
            st = mf_optim_step(opt);
        cs.loss_scale = prec.scaled ? prec.scaler.scale : 0;
        cs.scale_good_steps = prec.scaler.good_steps;
        cs.scale_skipped = prec.scaler.skipped;
        if (st != MF_OK) {
            mf_error_context(st, "trial %d, step %lld", trial, (long long)cs.step);
            goto cleanup;
        }
        mf_conv_algo_counts ac;
        if (!search_said && mf_conv_algo_counts_get(dev, &ac) == MF_OK) {
            unsigned long long timed = (unsigned long long)(ac.searched - searched0.searched);
            if (timed)
                say(c,
                    "cudnn_search: cuDNN's algorithms timed for %llu convolution calls (shape x direction) in the "
                    "first step; later calls of these shapes reuse the fastest",
                    timed);
            else
                say(c,
                    "cudnn_search: no convolution shape of the first step was new (%llu timed earlier in this "
                    "process); they reuse the fastest",
                    (unsigned long long)ac.searched);
            search_said = true;
        }
        cs.step++;
        cs.epoch = cs.step / spe;
        loss_ema = isnan(loss_ema) ? lv : 0.9 * loss_ema + 0.1 * lv;
        double dt = now_s() - t0;
        double its = (double)(cs.step - step0) / (dt > 1e-9 ? dt : 1e-9);
        char eta[32];
        fmt_eta((double)(total - cs.step) / its, eta, sizeof eta);
        char tr[32] = "";
        if (c->n_trials > 1)
            snprintf(tr, sizeof tr, "[trial %d/%d] ", trial + 1, c->n_trials);
        if (cs.step % log_every == 0 || cs.step == total) {
            mf_metrics_set(&logs, "loss", lv);
            mf_memory_stats mem;
            if (mf_memory_stats_get(dev, &mem) == MF_OK) /* like torch.cuda.max_memory_allocated */
                mf_metrics_set(&logs, "peak_mem_mib", (double)mem.peak_bytes / 1048576.0);
            event(c, "train", trial, cs.step, cs.epoch, &logs, mf_optim_lr(opt, 0));
            if (!c->tty)
                say(c, "%sstep %lld/%lld  loss %.4f  %.1f it/s  ETA %s", tr, (long long)cs.step, (long long)total,
                    lv, its, eta);
            else if (c->log)
                fprintf(c->log, "%sstep %lld/%lld  loss %.4f  %.1f it/s\n", tr, (long long)cs.step,
                        (long long)total, lv, its);
        }
        if (c->tty && !c->opt->quiet && (now_s() - last_draw > 0.1 || cs.step == total)) {
            fprintf(stderr, "\r\033[K%sstep %lld/%lld  loss %.4f  %.1f it/s  ETA %s", tr, (long long)cs.step,
                    (long long)total, loss_ema, its, eta);
            fflush(stderr);
            c->line_open = true;
            last_draw = now_s();
        }
        bool eval_due = val && ((val_steps > 0 && cs.step % val_steps == 0) || cs.step == total);
        if (eval_due) {
            mf_metrics m;
            MF_CHECK(evaluate(task, val, dev, &prec, &m));
            if (m.n) {
                event(c, "eval", trial, cs.step, cs.epoch, &m, -1);
                char ms[1024];
                metrics_str(&m, ms, sizeof ms);
                double v = monitor ? mf_metrics_get(&m, monitor) : NAN;
                bool better = !isnan(v) && (!cs.has_best || (monitor_max ? v > cs.best_value : v < cs.best_value));
                say(c, "%seval step %lld: %s%s", tr, (long long)cs.step, ms, better ? "  (best)" : "");
                if (better || !has_eval) {
                    last_eval = m;
                    has_eval = true;
                }
                if (better) {
                    cs.has_best = 1;
                    cs.best_value = v;
                    cs.best_step = cs.step;
                    char p[PATH_MAX + 64];
                    snprintf(p, sizeof p, "%s/best.safetensors", ckdir);
                    mf_named_tensors ns = {0};
                    MF_CHECK(mf_module_state(task->model, &ns));
                    char bstep[32], bval[64];
                    snprintf(bstep, sizeof bstep, "%lld", (long long)cs.step);
                    snprintf(bval, sizeof bval, "%.17g", v);
                    const char *meta[] = {"step", bstep, "monitor", monitor, "value", bval};
                    st = mf_state_dict_save(p, ns.items, ns.n, 3, meta);
                    mf_named_tensors_free(&ns);
                    MF_CHECK(st);
                    snprintf(p, sizeof p, "%s/best_metrics.json", ckdir);
                    MF_CHECK(mf__write_metrics_json(p, &m));
                }
            }
        }
        bool ck_due = (ck_every > 0 && cs.step % ck_every == 0) || cs.step == total ||
                      (c->opt->stop_after_step > 0 && cs.step == c->opt->stop_after_step);
        if (ck_due) {
            cs.task_rng = task_rng;
            cs.elapsed = elapsed0 + now_s() - t0;
            MF_CHECK(mf__ckpt_save(ckdir, task->model, opt, &cs, (int)keep));
        }
        if (c->opt->stop_after_step > 0 && cs.step == c->opt->stop_after_step && cs.step < total) {
            say(c, "stopping after step %lld as asked (checkpoint saved)", (long long)cs.step);
            st = MF_ERR(MF_ERR_INTERRUPTED, "stopped after step %lld as asked", (long long)cs.step);
            goto cleanup;
        }
    }
    /* A resumed run whose best eval happened before the restart. */
    if (!has_eval) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/best_metrics.json", ckdir);
        has_eval = mf__read_metrics_json(p, &last_eval);
    }
    if (has_eval) {
        res->final = last_eval;
    } else {
        memset(&res->final, 0, sizeof res->final);
        mf_metrics_set(&res->final, "loss", loss_ema);
    }
    res->has_final = true;
    MF_CHECK(mf__write_trial_json(dir, &res->final));
    {
        /* The final weights, beside the checkpoints. */
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/model.safetensors", ckdir);
        mf_named_tensors ns = {0};
        MF_CHECK(mf_module_state(task->model, &ns));
        st = mf_state_dict_save(p, ns.items, ns.n, 0, NULL);
        mf_named_tensors_free(&ns);
    }
cleanup:
    mf_conv_set_channels_last(cl_was);
    mf__prefetch_reset(&pf);
    mf__step_graph_free(&sg);
    free(params);
    mf_optimizer_free(opt);
    mf_loader_free(train);
    mf_loader_free(val);
    if (task && task->destroy)
        task->destroy(task);
    return st;
}

static mf_status write_summary(ctx *c, const mf_metrics *per, int n, mf_run_result *res) {
    cJSON *o = cJSON_CreateObject();
    const char *name = "";
    mf_cfg_get_string(c->e->config, "name", "", &name);
    int64_t seed = 0;
    mf_cfg_get_int(c->e->config, "seed", 0, &seed);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "trials", n);
    cJSON *seeds = cJSON_AddArrayToObject(o, "seeds");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(seeds, cJSON_CreateNumber((double)(seed + i)));
    cJSON *mets = cJSON_AddObjectToObject(o, "metrics");
    memset(&res->final, 0, sizeof res->final);
    memset(&res->std, 0, sizeof res->std);
    for (int k = 0; k < per[0].n; k++) {
        const char *mname = per[0].names[k];
        double sum = 0, sq = 0;
        cJSON *m = cJSON_AddObjectToObject(mets, mname);
        cJSON *vals = cJSON_AddArrayToObject(m, "values");
        for (int i = 0; i < n; i++) {
            double v = mf_metrics_get(&per[i], mname);
            sum += v;
            cJSON_AddItemToArray(vals, cJSON_CreateNumber(v));
        }
        double mean = sum / n;
        for (int i = 0; i < n; i++) {
            double d = mf_metrics_get(&per[i], mname) - mean;
            sq += d * d;
        }
        double sd = sqrt(sq / n); /* population std (numpy's default) */
        cJSON_AddNumberToObject(m, "mean", mean);
        cJSON_AddNumberToObject(m, "std", sd);
        mf_metrics_set(&res->final, mname, mean);
        mf_metrics_set(&res->std, mname, sd);
    }
    cJSON_AddNumberToObject(o, "seconds", res->seconds);
    char *t = cJSON_Print(o);
    cJSON_Delete(o);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/summary.json", c->run_dir);
    mf_status st = mf__write_file_atomic(p, t ? t : "{}");
    free(t);
    return st;
}

static mf_status run(mf_experiment *e, const mf_run_options *opt, const char *run_dir_arg, bool resume,
                     mf_run_result *res) {
    char run_dir[PATH_MAX]; /* may alias res->run_dir */
    snprintf(run_dir, sizeof run_dir, "%s", run_dir_arg);
    mf_run_options defaults = mf_run_options_default();
    if (!opt)
        opt = &defaults;
    memset(res, 0, sizeof *res);
    double t0 = now_s();
    ctx c = {0};
    c.e = e;
    c.opt = opt;
    c.tty = opt->progress == 1 || (opt->progress < 0 && isatty(2));
    snprintf(c.run_dir, sizeof c.run_dir, "%s", run_dir);
    snprintf(res->run_dir, sizeof res->run_dir, "%s", run_dir);
    MF_TRY(mf__mkdirs(run_dir));
    char p[PATH_MAX + 32];
    if (!resume) {
        snprintf(p, sizeof p, "%s/config.yaml", run_dir);
        MF_TRY(mf_cfg_write(e->config, p));
    }
    snprintf(p, sizeof p, "%s/log.txt", run_dir);
    c.log = fopen(p, resume ? "a" : "w");
    snprintf(p, sizeof p, "%s/metrics.jsonl", run_dir);
    c.metrics = fopen(p, resume ? "a" : "w");
    if (!c.log || !c.metrics) {
        if (c.log)
            fclose(c.log);
        if (c.metrics)
            fclose(c.metrics);
        return MF_ERR(MF_ERR_IO, "cannot write the run's log files in %s", run_dir);
    }
    int64_t trials = 1;
    mf_status st = mf_cfg_get_int(e->config, "train.trials", 1, &trials);
    c.n_trials = (int)trials;
    mf_metrics *per = calloc((size_t)trials, sizeof *per);
    if (!per)
        st = MF_ERR(MF_ERR_NOMEM, "runner: out of memory");
    const char *name = "";
    mf_cfg_get_string(e->config, "name", "", &name);
    say(&c, "medfm %s: run %s -> %s (%lld trial%s)", mf_version(), name, run_dir, (long long)trials,
        trials > 1 ? "s" : "");
    const char *const *kv;
    int n_kv = resume ? mf__resume_overrides_of(opt, &kv) : 0;
    for (int i = 0; i < n_kv; i++)
        say(&c, "resumed with %s", kv[i]);
    for (int i = 0; st == MF_OK && i < trials; i++) {
        char dir[PATH_MAX + 32];
        if (trials > 1)
            snprintf(dir, sizeof dir, "%s/trial-%d", run_dir, i);
        else
            snprintf(dir, sizeof dir, "%s", run_dir);
        if (resume && mf__read_trial_json(dir, &per[i]))
            continue; /* finished before the interruption */
        trial_out to = {0};
        st = run_trial(&c, i, dir, resume, &to);
        if (st == MF_OK)
            per[i] = to.final;
    }
    res->seconds = now_s() - t0;
    res->n_trials = (int)trials;
    if (st == MF_OK) {
        st = write_summary(&c, per, (int)trials, res);
        char ms[1024], ss[1024];
        metrics_str(&res->final, ms, sizeof ms);
        metrics_str(&res->std, ss, sizeof ss);
        if (trials > 1)
            say(&c, "done in %.1f s: mean %s; std %s", res->seconds, ms, ss);
        else
            say(&c, "done in %.1f s: %s", res->seconds, ms);
    } else if (st == MF_ERR_INTERRUPTED) {
        res->signal = mf_runner_signal();
    } else {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", mf_last_error());
        if (c.log)
            fprintf(c.log, "error: %s\n", msg);
        mf_error_at(st, __FILE__, __LINE__, "%s", msg);
    }
    free(per);
    fclose(c.log);
    fclose(c.metrics);
    return st;
}

mf_status mf_experiment_run(mf_experiment *e, const mf_run_options *opt, mf_run_result *res) {
    const char *name;
    MF_TRY(mf_cfg_get_string(e->config, "name", "run", &name));
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", opt && opt->output_dir ? opt->output_dir : "runs", name);
    return run(e, opt, dir, false, res);
}

mf_status mf_run_resume(const char *run_dir_arg, const mf_run_options *opt, mf_run_result *res) {
    char run_dir[PATH_MAX];
    snprintf(run_dir, sizeof run_dir, "%s", run_dir_arg);
    mf_experiment *e;
    MF_TRY(mf__resume_load(run_dir, opt, &e));
    mf_status st = run(e, opt, run_dir, true, res);
    mf_experiment_free(e);
    return st;
}

mf_status mf_experiment_eval(mf_experiment *e, const char *checkpoint, const char *split, mf_metrics *out) {
    memset(out, 0, sizeof *out);
    int64_t seed;
    MF_TRY(mf_cfg_get_int(e->config, "seed", 0, &seed));
    const char *dev_name;
    mf_device dev;
    MF_TRY(mf_cfg_get_string(e->config, "device", "cpu", &dev_name));
    MF_TRY(mf_device_parse(dev_name, &dev));
    mf_rng rng;
    mf_task *task = NULL;
    mf_loader *src = NULL;
    mf_status st;
    MF_CHECK(mf_experiment_build_task(e, (uint64_t)seed, &rng, &task));
    if (checkpoint)
        MF_CHECK(mf__load_model_weights(checkpoint, task->model));
    MF_CHECK(open_loader(e->config, split ? split : "val", (uint64_t)seed, &src));
    if (!src) {
        st = MF_ERR(MF_ERR_CONFIG, "eval: the experiment has no data.%s section", split ? split : "val");
        goto cleanup;
    }
    if (!task->eval_end) {
        st = MF_ERR(MF_ERR_UNSUPPORTED, "eval: the task has no evaluation");
        goto cleanup;
    }
    mf_precision prec;
    MF_CHECK(mf__runner_precision(e->config, &prec));
    MF_CHECK(mf__tf32_apply(e->config, dev));
    st = evaluate(task, src, dev, &prec, out);
cleanup:
    mf_loader_free(src);
    if (task && task->destroy)
        task->destroy(task);
    return st;
}
