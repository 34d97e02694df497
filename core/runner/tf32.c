/* train.tf32: whether f32 matmul and convolutions on CUDA may use TF32
 * (medfm/amp.h). Applied for every run on a cuda device (absent: the
 * environment's choice), so a run never inherits the previous one's. */
#include "core/runner/internal.h"
#include "medfm/amp.h"

/* 1 or 0 when the key is set, else MF_TF32_FROM_ENV. */
static int tf32_wanted(const mf_cfg *cfg) {
    const mf_cfg *k = mf_cfg_find(cfg, "train.tf32");
    bool on;
    if (!k || k->kind != MF_CFG_SCALAR || mf_cfg_as_bool(k, &on) != MF_OK)
        return MF_TF32_FROM_ENV;
    return on;
}

void mf__tf32_check(const mf_cfg *cfg, mf_diag *d) {
    const char *dev;
    if (tf32_wanted(cfg) == 1 && mf__device_not_cuda(cfg, &dev))
        mf_diag_add(d, "%s: train.tf32: TF32 tensor cores need device: cuda (this experiment runs on %s, in exact f32)",
                    mf_cfg_where(mf_cfg_find(cfg, "train.tf32")), dev);
}

mf_status mf__tf32_apply(const mf_cfg *cfg, mf_device dev) {
    if (dev.type != MF_CUDA)
        return MF_OK;
    int want = tf32_wanted(cfg);
    mf_status st = mf_tf32_set(dev, want);
    return st == MF_OK || want == MF_TF32_FROM_ENV ? st : mf_error_context(st, "train.tf32");
}
