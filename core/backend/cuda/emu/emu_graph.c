/* CUDA graphs for the CPU emulation (see build.sh): a stream that captures
 * records its kernels, device copies, memsets and GEMMs as nodes instead of
 * running them, and a graph launch runs the nodes in order. As on a GPU,
 * work that a graph cannot hold invalidates the capture: a device->host
 * copy or a synchronisation of the capturing stream, a wait on an event
 * from outside the capture, and cudaMalloc/cudaFree unless the thread
 * switched to relaxed mode (cudaThreadExchangeStreamCaptureMode). */
#include "cuda_runtime_api.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <execinfo.h>

typedef struct { void (*fn)(void *); void *arg; void (*dtor)(void *); } node;
struct emu_graph { node *nodes; int n, cap, refs; };
struct emu_graph_exec { struct emu_graph *g; };
typedef struct { cudaStream_t s; struct emu_graph *g; int invalid; } capture;
static capture caps[8];
static int ncaps;
static __thread int thread_mode = cudaStreamCaptureModeGlobal;

static capture *cap_of(cudaStream_t s) {
    for (int i = 0; i < ncaps; i++)
        if (caps[i].s == s) return &caps[i];
    return NULL;
}
int emu_capturing(cudaStream_t s) { return s && cap_of(s) != NULL; }
/* A capture is under way and this thread's mode forbids unsafe calls. */
int emu_capture_forbids_unsafe(void) { return ncaps > 0 && thread_mode != cudaStreamCaptureModeRelaxed; }
/* EMU_TRACE_CAPTURE=1 prints where a capture was invalidated. */
void emu_capture_invalidate(cudaStream_t s) {
    if (getenv("EMU_TRACE_CAPTURE")) {
        void *bt[24];
        fprintf(stderr, "EMU: capture invalidated here:\n");
        backtrace_symbols_fd(bt, backtrace(bt, 24), 2);
    }
    for (int i = 0; i < ncaps; i++)
        if (!s || caps[i].s == s) caps[i].invalid = 1;
}
void emu_record(cudaStream_t s, void (*fn)(void *), void *arg, void (*dtor)(void *)) {
    capture *c = cap_of(s);
    struct emu_graph *g = c->g;
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->nodes = realloc(g->nodes, sizeof *g->nodes * (size_t)g->cap);
        if (!g->nodes) { fprintf(stderr, "EMU: out of memory recording a graph\n"); abort(); }
    }
    g->nodes[g->n++] = (node){fn, arg, dtor};
}
void emu_submit(cudaStream_t s, void (*fn)(void *), const void *node, size_t size) {
    if (emu_capturing(s)) {
        void *copy = malloc(size);
        if (!copy) { fprintf(stderr, "EMU: out of memory recording a graph\n"); abort(); }
        memcpy(copy, node, size);
        emu_record(s, fn, copy, free);
        return;
    }
    emu_stream_order(s);
    fn((void *)node);
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode) {
    if (!s || cap_of(s) || ncaps == 8) return cudaErrorInvalidValue;
    struct emu_graph *g = calloc(1, sizeof *g);
    g->refs = 1;
    caps[ncaps++] = (capture){s, g, 0};
    thread_mode = mode;
    return cudaSuccess;
}
static void graph_unref(struct emu_graph *g) {
    if (!g || --g->refs > 0) return;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].dtor) g->nodes[i].dtor(g->nodes[i].arg);
    free(g->nodes);
    free(g);
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *out) {
    capture *c = cap_of(s);
    *out = NULL;
    if (!c) return cudaErrorIllegalState;
    capture done = *c;
    *c = caps[--ncaps];
    thread_mode = cudaStreamCaptureModeGlobal;
    if (done.invalid) {
        graph_unref(done.g);
        return cudaErrorStreamCaptureInvalidated;
    }
    *out = done.g;
    return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus *st) {
    capture *c = cap_of(s);
    *st = !c ? cudaStreamCaptureStatusNone : c->invalid ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}
cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode *mode) {
    int old = thread_mode;
    thread_mode = *mode;
    *mode = old;
    return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *out, cudaGraph_t g, unsigned long long flags) {
    (void)flags;
    if (!g) return cudaErrorInvalidValue;
    *out = malloc(sizeof **out);
    (*out)->g = g;
    g->refs++;
    return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    if (!e || !s) return cudaErrorInvalidValue;
    if (cap_of(s)) { emu_capture_invalidate(s); return cudaErrorStreamCaptureUnsupported; }
    cudaStreamSynchronize(s); /* queued pinned copies run first, in stream order */
    for (int i = 0; i < e->g->n; i++) e->g->nodes[i].fn(e->g->nodes[i].arg);
    return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) { if (e) { graph_unref(e->g); free(e); } return cudaSuccess; }
cudaError_t cudaGraphDestroy(cudaGraph_t g) { graph_unref(g); return cudaSuccess; }
