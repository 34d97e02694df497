/* mf_tf32_set (medfm/amp.h) over the CUDA module's mf_cuda_set_tf32. */
#include "medfm/amp.h"

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_api.h"

mf_status mf_tf32_set(mf_device dev, int allow) {
    if (allow < MF_TF32_FROM_ENV || allow > 1)
        return MF_ERR(MF_ERR_INVALID, "tf32: %d is not 1 (allow), 0 (exact f32) or -1 (environment)", allow);
    MF_TRY(mf__need_cuda(dev, "tf32", "TF32 applies to cuda devices"));
    void *fn;
    MF_TRY(mf__cuda_symbol(MF_CUDA_SET_TF32_SYMBOL, &fn));
    ((mf_cuda_set_tf32_fn)fn)(allow);
    return MF_OK;
}
