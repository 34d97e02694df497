/* Mock CUDA runtime for the CPU emulation of the CUDA module (see build.sh):
 * device memory is host memory that is tracked, so a copy in the wrong
 * direction or out of bounds aborts. One device, every call succeeds.
 *
 * Streams and events: as on a GPU, a host->device cudaMemcpyAsync from
 * pinned memory (cudaHostAlloc) returns before the copy happens. Here it
 * is queued on its stream and runs only when an event recorded after it is
 * synchronised or waited on (cudaEventSynchronize, cudaStreamWaitEvent), or
 * its stream is synchronised; everything else runs at once, kernels
 * included. So a batch used without waiting for its copy holds garbage, and
 * the mock aborts when a queued copy's pinned source changed before it ran
 * (the host reused a staging buffer too early), when memory under a queued
 * copy is freed, or when another copy touches memory a queued copy writes. */
#include "cuda_runtime_api.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct { char *p; size_t n; } region;
static region regs[100000], pins[4096];
static int nregs, npins;
static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static cudaError_t last;
void emu_set_error(cudaError_t e) { last = e; }
static int find_in(const region *r, int n, const void *p) {
    for (int i = 0; i < n; i++)
        if ((const char *)p >= r[i].p && (const char *)p < r[i].p + r[i].n) return i;
    return -1;
}
static int find(const void *p) { return find_in(regs, nregs, p); }
int emu_is_device(const void *p) { pthread_mutex_lock(&lk); int r = find(p) >= 0; pthread_mutex_unlock(&lk); return r; }
size_t emu_device_extent(const void *p) {
    pthread_mutex_lock(&lk); int i = find(p);
    size_t n = i < 0 ? 0 : (size_t)(regs[i].p + regs[i].n - (const char *)p);
    pthread_mutex_unlock(&lk); return n;
}
static void need(int cond, const char *what) { if (!cond) { fprintf(stderr, "EMU: bad %s\n", what); abort(); } }

/* ---- queued copies ---- */
typedef struct op { char *d; const char *s; size_t n; uint64_t seq, hash; struct op *next; } op;
struct emu_stream { uint64_t enq; op *head, *tail; };
struct emu_event { cudaStream_t s; uint64_t seq; };
static int npending;
static uint64_t fnv(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}
static int overlaps(const char *a, size_t an, const char *b, size_t bn) { return a < b + bn && b < a + an; }
/* Runs the queued copies of s up to sequence number `upto`; lock held. */
static void flush(cudaStream_t s, uint64_t upto) {
    while (s->head && s->head->seq <= upto) {
        op *o = s->head;
        need(fnv(o->s, o->n) == o->hash, "pinned source changed while its copy was queued");
        memmove(o->d, o->s, o->n);
        s->head = o->next;
        if (!s->head) s->tail = NULL;
        free(o);
        npending--;
    }
}
static cudaStream_t streams[64];
static int nstreams;
/* Aborts when [p, p+n) lies under a queued copy; lock held. */
static void not_pending(const void *p, size_t n, const char *what) {
    for (int i = 0; i < nstreams; i++)
        for (op *o = streams[i]->head; o; o = o->next)
            need(!overlaps(o->d, o->n, p, n) && !overlaps(o->s, o->n, p, n), what);
}
void emu_stream_order(cudaStream_t s) {
    if (!s) return;
    pthread_mutex_lock(&lk); flush(s, UINT64_MAX); pthread_mutex_unlock(&lk);
}
int emu_pending_copies(void) { pthread_mutex_lock(&lk); int n = npending; pthread_mutex_unlock(&lk); return n; }

cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned f) {
    (void)f;
    pthread_mutex_lock(&lk);
    need(nstreams < 64, "too many streams");
    *s = calloc(1, sizeof **s);
    streams[nstreams++] = *s;
    pthread_mutex_unlock(&lk);
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr a, int d) { (void)a; (void)d; *v = 4; return cudaSuccess; }
/* Work a capture records (emu_graph.c): a copy or memset replayed later. */
typedef struct { char *d; const char *s; size_t n; int v, is_set; } mem_node;
static void run_mem_node(void *a) {
    mem_node *m = a;
    if (m->is_set) memset(m->d, m->v, m->n); else memmove(m->d, m->s, m->n);
}
static cudaError_t record_mem(cudaStream_t st, void *d, const void *s, size_t n, int v, int is_set) {
    mem_node *m = malloc(sizeof *m);
    *m = (mem_node){d, s, n, v, is_set};
    emu_record(st, run_mem_node, m, free);
    return cudaSuccess;
}
/* What a capture cannot hold: it fails, like on a GPU. */
static cudaError_t unsupported_in_capture(cudaStream_t s) {
    emu_capture_invalidate(s);
    last = cudaErrorStreamCaptureUnsupported;
    return cudaErrorStreamCaptureUnsupported;
}
cudaError_t cudaMalloc(void **p, size_t n) {
    if (emu_capture_forbids_unsafe()) return unsupported_in_capture(NULL);
    char *q = malloc(n + 64);
    memset(q, 0xA5, n + 64); /* garbage, like real device memory */
    pthread_mutex_lock(&lk); regs[nregs++] = (region){q, n}; pthread_mutex_unlock(&lk);
    *p = q; return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    if (emu_capture_forbids_unsafe()) return unsupported_in_capture(NULL);
    pthread_mutex_lock(&lk); int i = find(p); need(i >= 0 && regs[i].p == p, "cudaFree pointer");
    not_pending(regs[i].p, regs[i].n, "cudaFree of memory a queued copy writes");
    regs[i] = regs[--nregs]; pthread_mutex_unlock(&lk); free(p); return cudaSuccess;
}
cudaError_t cudaHostAlloc(void **p, size_t n, unsigned flags) {
    (void)flags;
    char *q = malloc(n ? n : 1);
    pthread_mutex_lock(&lk); need(npins < 4096, "too many pinned blocks"); pins[npins++] = (region){q, n};
    pthread_mutex_unlock(&lk);
    *p = q; return cudaSuccess;
}
cudaError_t cudaMallocHost(void **p, size_t n) { return cudaHostAlloc(p, n, cudaHostAllocDefault); }
cudaError_t cudaFreeHost(void *p) {
    pthread_mutex_lock(&lk); int i = find_in(pins, npins, p); need(i >= 0 && pins[i].p == p, "cudaFreeHost pointer");
    not_pending(pins[i].p, pins[i].n, "cudaFreeHost of memory a queued copy reads");
    pins[i] = pins[--npins]; pthread_mutex_unlock(&lk); free(p); return cudaSuccess;
}
static void in_dev(const void *p, size_t n, const char *w) {
    int i = find(p);
    need(i >= 0 && (const char *)p + n <= regs[i].p + regs[i].n, w);
}
static void in_host(const void *p, const char *w) { need(find(p) < 0, w); }
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, enum cudaMemcpyKind k, cudaStream_t st) {
    need(st != NULL, "stream");
    if (emu_capturing(st) && k == cudaMemcpyDeviceToHost) return unsupported_in_capture(st);
    pthread_mutex_lock(&lk);
    if (k == cudaMemcpyHostToDevice) { in_dev(d, n, "H2D dst"); in_host(s, "H2D src"); }
    else if (k == cudaMemcpyDeviceToHost) { in_dev(s, n, "D2H src"); in_host(d, "D2H dst"); }
    else if (k == cudaMemcpyDeviceToDevice) { in_dev(s, n, "D2D src"); in_dev(d, n, "D2D dst"); }
    int pinned = find_in(pins, npins, s) >= 0;
    if (emu_capturing(st)) {
        pthread_mutex_unlock(&lk);
        return record_mem(st, d, s, n, 0, 0);
    }
    if (k == cudaMemcpyHostToDevice && pinned && n > 0) {
        op *o = calloc(1, sizeof *o);
        *o = (op){(char *)d, (const char *)s, n, ++st->enq, fnv(s, n), NULL};
        if (st->tail) st->tail->next = o; else st->head = o;
        st->tail = o;
        npending++;
    } else {
        flush(st, UINT64_MAX); /* stream order */
        not_pending(d, n, "copy into memory a queued copy writes (missing event wait)");
        not_pending(s, n, "copy from memory a queued copy writes (missing event wait)");
        memmove(d, s, n);
    }
    pthread_mutex_unlock(&lk);
    return cudaSuccess;
}
cudaError_t cudaMemcpyPeerAsync(void *d, int dd, const void *s, int sd, size_t n, cudaStream_t st) { (void)dd; (void)sd; return cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToDevice, st); }
cudaError_t cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t st) {
    pthread_mutex_lock(&lk); in_dev(d, n, "memset");
    if (emu_capturing(st)) { pthread_mutex_unlock(&lk); return record_mem(st, d, NULL, n, v, 1); } flush(st, UINT64_MAX);
    not_pending(d, n, "memset of memory a queued copy writes (missing event wait)");
    memset(d, v, n); pthread_mutex_unlock(&lk); return cudaSuccess;
}
/* Synchronous with the host: every stream's queued work runs first. */
cudaError_t cudaMemset(void *d, int v, size_t n) {
    if (emu_capture_forbids_unsafe()) return unsupported_in_capture(NULL);
    pthread_mutex_lock(&lk); in_dev(d, n, "memset");
    not_pending(d, n, "cudaMemset of memory a queued copy writes");
    memset(d, v, n); pthread_mutex_unlock(&lk); return cudaSuccess;
}
/* EMU_COUNT_SYNCS=1: print each host wait's caller (find per-step syncs). */
#include <execinfo.h>
static void count_sync(const char *what) {
    if (!getenv("EMU_COUNT_SYNCS")) return;
    void *bt[7];
    int n = backtrace(bt, 7);
    char **sym = backtrace_symbols(bt, n);
    fprintf(stderr, "EMU sync %s from %s < %s < %s\n", what, n > 2 ? sym[2] : "?", n > 4 ? sym[4] : "?", n > 5 ? sym[5] : "?");
    free(sym);
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    need(s != NULL, "sync stream");
    count_sync("stream");
    if (emu_capturing(s)) return unsupported_in_capture(s);
    pthread_mutex_lock(&lk); flush(s, UINT64_MAX); pthread_mutex_unlock(&lk); return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) { (void)flags; *e = calloc(1, sizeof **e); return cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t e) { free(e); return cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    need(e && s, "event record");
    pthread_mutex_lock(&lk); e->s = s; e->seq = s->enq; pthread_mutex_unlock(&lk); return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    need(e != NULL, "event");
    pthread_mutex_lock(&lk); if (e->s) flush(e->s, e->seq); pthread_mutex_unlock(&lk); return cudaSuccess;
}
/* Everything else runs eagerly, so the copies the event covers run now:
 * the latest point at which the waiting stream's later work may rely on them. */
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags) {
    (void)flags; need(s && e, "stream wait");
    if (emu_capturing(s) && !emu_capturing(e->s)) { emu_capture_invalidate(s); return cudaErrorStreamCaptureIsolation; }
    return cudaEventSynchronize(e);
}
cudaError_t cudaGetLastError(void) { cudaError_t e = last; last = cudaSuccess; return e; }
const char *cudaGetErrorString(cudaError_t e) {
    return e == cudaErrorStreamCaptureUnsupported ? "operation not permitted when stream is capturing"
         : e == cudaErrorStreamCaptureInvalidated ? "operation failed due to a previous error during capture"
         : e == cudaErrorStreamCaptureIsolation ? "dependency created on uncaptured work in another stream"
         : e ? "emulated error" : "no error";
}
const char *cudaGetErrorName(cudaError_t e) {
    return e == cudaErrorStreamCaptureUnsupported ? "cudaErrorStreamCaptureUnsupported"
         : e == cudaErrorStreamCaptureInvalidated ? "cudaErrorStreamCaptureInvalidated"
         : e == cudaErrorStreamCaptureIsolation ? "cudaErrorStreamCaptureIsolation"
         : e ? "cudaErrorEmu" : "cudaSuccess";
}
