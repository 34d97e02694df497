/* `medfm run --resume RUN_DIR key=value ...`: the settings a continued run
 * may change, and the run's experiment loaded with them. Only where and how
 * fast it runs (the device, the cuda-only speed switches and TF32, logging,
 * loader workers: batches do not depend on the worker count), never what it
 * computes: a changed learning rate or batch size would make the run's log
 * describe two experiments. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/runner/internal.h"

static const char *const resumable[] = {"device",           "train.cuda_graph",   "train.cudnn_search",
                                        "train.channels_last", "train.tf32",      "train.log_every",
                                        "data.train.workers", "data.val.workers", "data.test.workers"};
#define N_RESUMABLE (sizeof resumable / sizeof *resumable)

mf_status mf__resume_overrides_check(int n, const char *const *kv) {
    for (int i = 0; i < n; i++) {
        const char *eq = kv[i] ? strchr(kv[i], '=') : NULL;
        if (!eq || eq == kv[i])
            return MF_ERR(MF_ERR_CONFIG, "resume: '%s' is not key=value", kv[i] ? kv[i] : "(null)");
        size_t len = (size_t)(eq - kv[i]);
        bool ok = false;
        for (size_t k = 0; k < N_RESUMABLE && !ok; k++)
            ok = strlen(resumable[k]) == len && !strncmp(resumable[k], kv[i], len);
        if (!ok)
            return MF_ERR(MF_ERR_CONFIG,
                          "resume: '%.*s' cannot change when a run continues (it would change what the run "
                          "computes); these can: device, train.cuda_graph, train.cudnn_search, "
                          "train.channels_last, train.tf32, train.log_every, data.train.workers, "
                          "data.val.workers, data.test.workers",
                          (int)len, kv[i]);
    }
    return MF_OK;
}

int mf__resume_overrides_of(const mf_run_options *opt, const char *const **kv) {
    *kv = NULL;
    if (!opt || opt->size < offsetof(mf_run_options, resume_overrides) + sizeof opt->resume_overrides ||
        opt->n_resume_overrides <= 0)
        return 0;
    *kv = opt->resume_overrides;
    return opt->n_resume_overrides;
}

/* A config error unless the experiment's device can hold a tensor now (so
 * that a device that is not there never reaches config.yaml). */
static mf_status device_usable(const mf_experiment *e) {
    const char *name;
    mf_device dev;
    MF_TRY(mf_cfg_get_string(e->config, "device", "cpu", &name));
    MF_TRY(mf_device_parse(name, &dev));
    mf_tensor *probe = NULL;
    mf_status st = mf_tensor_empty(1, (int64_t[]){1}, MF_F32, dev, &probe);
    mf_tensor_release(probe);
    if (st == MF_OK)
        return MF_OK;
    char why[1024]; /* copied: MF_ERR rewrites the buffer mf_last_error reads */
    snprintf(why, sizeof why, "%s", mf_last_error());
    return MF_ERR(MF_ERR_CONFIG, "resume: cannot continue on device %s: %s", name, why);
}

mf_status mf__resume_load(const char *run_dir, const mf_run_options *opt, mf_experiment **out) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/config.yaml", run_dir);
    const char *const *kv;
    int n = mf__resume_overrides_of(opt, &kv);
    MF_TRY(mf__resume_overrides_check(n, kv));
    mf_experiment *e;
    MF_TRY(mf_experiment_load(p, n, kv, NULL, &e));
    mf_status st = n ? device_usable(e) : MF_OK;
    if (st == MF_OK && n) /* the run goes on with these: a later plain resume keeps them */
        st = mf_cfg_write(e->config, p);
    if (st != MF_OK) {
        mf_experiment_free(e);
        return st;
    }
    *out = e;
    return MF_OK;
}
