/* mf_graph (medfm/graph.h) over the CUDA module's graph functions. */
#include "medfm/graph.h"

#include <stdlib.h>

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_api.h"

struct mf_graph {
    void *impl;
    mf_cuda_graph_launch_fn launch;
    mf_cuda_graph_free_fn free;
};

static mf_status need_cuda(mf_device dev, const char *what) {
    return mf__need_cuda(dev, what, "CUDA graphs need a cuda device");
}

mf_status mf_graph_capture_begin(mf_device dev) {
    MF_TRY(need_cuda(dev, "graph capture"));
    void *fn;
    MF_TRY(mf__cuda_symbol(MF_CUDA_GRAPH_BEGIN_SYMBOL, &fn));
    return ((mf_cuda_graph_begin_fn)fn)(dev.index);
}

mf_status mf_graph_capture_end(mf_device dev, mf_graph **out) {
    if (!out)
        return MF_ERR(MF_ERR_INVALID, "graph capture: no output");
    *out = NULL;
    MF_TRY(need_cuda(dev, "graph capture"));
    void *end, *launch, *fr;
    MF_TRY(mf__cuda_symbol(MF_CUDA_GRAPH_END_SYMBOL, &end));
    MF_TRY(mf__cuda_symbol(MF_CUDA_GRAPH_LAUNCH_SYMBOL, &launch));
    MF_TRY(mf__cuda_symbol(MF_CUDA_GRAPH_FREE_SYMBOL, &fr));
    mf_graph *g = calloc(1, sizeof *g);
    void *impl = NULL;
    mf_status st = ((mf_cuda_graph_end_fn)end)(dev.index, &impl);
    if (st == MF_OK && !g) {
        ((mf_cuda_graph_free_fn)fr)(impl);
        st = MF_ERR(MF_ERR_NOMEM, "graph capture: out of memory");
    }
    if (st != MF_OK) {
        free(g);
        return st;
    }
    *g = (mf_graph){impl, (mf_cuda_graph_launch_fn)launch, (mf_cuda_graph_free_fn)fr};
    *out = g;
    return MF_OK;
}

mf_status mf_graph_replay(mf_graph *g) {
    if (!g)
        return MF_ERR(MF_ERR_INVALID, "graph replay: no graph");
    return g->launch(g->impl);
}

void mf_graph_free(mf_graph *g) {
    if (!g)
        return;
    g->free(g->impl);
    free(g);
}
