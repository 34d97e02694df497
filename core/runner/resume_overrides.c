/* `medfm run --resume RUN_DIR key=value ...`: the settings a continued run
 * may change. Only where and how fast it runs (the device, the cuda-only
 * speed switches and TF32, logging, loader workers: batches do not depend
 * on the worker count), never what it computes: a changed learning rate or batch
 * size would make the run's log describe two experiments. */
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
