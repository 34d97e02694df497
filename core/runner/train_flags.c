/* What the cuda-only train.* switches (cuda_graph, cudnn_search,
 * channels_last) share: a boolean key's value, and whether the experiment's
 * device is one the switch cannot run on. */
#include "core/runner/internal.h"

bool mf__train_flag(const mf_cfg *cfg, const char *key) {
    bool on = false;
    return mf_cfg_get_bool(cfg, key, false, &on) == MF_OK && on;
}

bool mf__device_not_cuda(const mf_cfg *cfg, const char **dev) {
    *dev = "cpu";
    mf_device dv;
    return mf_cfg_get_string(cfg, "device", "cpu", dev) == MF_OK && mf_device_parse(*dev, &dv) == MF_OK &&
           dv.type != MF_CUDA;
}
