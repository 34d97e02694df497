/* CUDA graph capture of the work queued on a device's compute stream: the
 * kernels and device copies of a training step recorded once and replayed
 * with one launch. Memory that the captured work allocates comes from a
 * private pool (memory.c) that the graph keeps until it is freed, so the
 * addresses baked into the graph stay its own. A capture fails, saying why,
 * when the work reads device memory on the host (a synchronising copy) or
 * draws random numbers on the device (random.c: a replay would repeat the
 * draws). */
#include <stdlib.h>

#include "core/backend/cuda/cuda_api.h"
#include "core/backend/cuda/cuda_internal.h"

#define EXPORT __attribute__((visibility("default")))

typedef struct {
    int index;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    mf_cuda_gpool *pool;
} cuda_graph;

EXPORT mf_status mf_cuda_graph_begin(int index) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(index, &s));
    /* cuBLAS and cuDNN allocate when their handles are made, which a
     * capture refuses: make them first. */
    MF_TRY(mf_cuda_blas_init(index));
    MF_TRY(mf_cuda_dnn_init(index));
    mf_cuda_gpool *pool;
    MF_TRY(mf_cuda_gpool_begin(index, &pool)); /* errors when a capture is already under way */
    mf_status st = mf_cuda_check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "CUDA graph capture");
    if (st != MF_OK)
        mf_cuda_gpool_free(pool);
    return st;
}

EXPORT void mf_cuda_graph_free(void *graph) {
    cuda_graph *g = graph;
    if (!g)
        return;
    if (g->exec)
        cudaGraphExecDestroy(g->exec);
    if (g->graph)
        cudaGraphDestroy(g->graph);
    mf_cuda_gpool_free(g->pool);
    free(g);
}

EXPORT mf_status mf_cuda_graph_end(int index, void **out) {
    *out = NULL;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(index, &s));
    mf_cuda_gpool *pool = mf_cuda_gpool_capturing(index);
    if (!pool)
        return MF_ERR(MF_ERR_STATE, "CUDA graph: cuda:%d is not capturing", index);
    mf_cuda_gpool_end_capture(pool);
    cuda_graph *g = calloc(1, sizeof *g);
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(s, &graph);
    if (!g || e != cudaSuccess) {
        if (graph)
            cudaGraphDestroy(graph);
        free(g);
        mf_cuda_gpool_free(pool);
        if (e == cudaErrorStreamCaptureInvalidated || e == cudaErrorStreamCaptureUnsupported)
            (void)cudaGetLastError();
        return g ? mf_cuda_check(e, "CUDA graph capture (the captured work called something a graph cannot hold)")
                 : MF_ERR(MF_ERR_NOMEM, "CUDA graph: out of host memory");
    }
    *g = (cuda_graph){.index = index, .graph = graph, .pool = pool};
    mf_status st = mf_cuda_check(cudaGraphInstantiate(&g->exec, graph, 0), "CUDA graph instantiation");
    if (st != MF_OK) {
        g->exec = NULL;
        mf_cuda_graph_free(g);
        return st;
    }
    *out = g;
    return MF_OK;
}

EXPORT mf_status mf_cuda_graph_launch(void *graph) {
    cuda_graph *g = graph;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(g->index, &s));
    return mf_cuda_check(cudaGraphLaunch(g->exec, s), "CUDA graph launch");
}

/* Whether the compute stream of `index` is capturing (random.c refuses to draw then). */
bool mf_cuda_capturing(int index) { return mf_cuda_gpool_capturing(index) != NULL; }
