/* mf_conv_algo_policy (medfm/conv_algo.h) over the CUDA module's
 * conv_algo.c switches. */
#include "medfm/conv_algo.h"

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_api.h"

static mf_status need_cuda(mf_device dev, const char *what) {
    return mf__need_cuda(dev, what, "cuDNN algorithm choice applies to cuda devices");
}

mf_status mf_conv_algo_policy_set(mf_device dev, mf_conv_algo_policy policy) {
    if (policy != MF_CONV_ALGO_HEURISTIC && policy != MF_CONV_ALGO_SEARCH)
        return MF_ERR(MF_ERR_INVALID, "conv algorithm policy: unknown policy %d", (int)policy);
    MF_TRY(need_cuda(dev, "conv algorithm policy"));
    void *fn;
    MF_TRY(mf__cuda_symbol(MF_CUDA_SET_CONV_SEARCH_SYMBOL, &fn));
    ((mf_cuda_set_conv_search_fn)fn)(policy == MF_CONV_ALGO_SEARCH);
    return MF_OK;
}

mf_status mf_conv_algo_counts_get(mf_device dev, mf_conv_algo_counts *out) {
    if (!out)
        return MF_ERR(MF_ERR_INVALID, "conv algorithm counts: no output");
    *out = (mf_conv_algo_counts){0, 0};
    MF_TRY(need_cuda(dev, "conv algorithm counts"));
    void *fn;
    MF_TRY(mf__cuda_symbol(MF_CUDA_CONV_ALGO_COUNTS_SYMBOL, &fn));
    ((mf_cuda_conv_algo_counts_fn)fn)(&out->searched, &out->heuristic);
    return MF_OK;
}
