/* Mock CUDA runtime for the CPU emulation of the CUDA module (see build.sh):
 * device memory is host memory that is tracked, so a copy in the wrong
 * direction or out of bounds aborts. One device, every call succeeds. */
#include "cuda_runtime_api.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* device pointers are tracked so copies of the wrong kind abort loudly */
typedef struct { char *p; size_t n; } region;
static region regs[100000];
static int nregs;
static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static cudaError_t last;
void emu_set_error(cudaError_t e) { last = e; }
static int find(const void *p) {
    for (int i = 0; i < nregs; i++)
        if ((const char *)p >= regs[i].p && (const char *)p < regs[i].p + regs[i].n) return i;
    return -1;
}
int emu_is_device(const void *p) { pthread_mutex_lock(&lk); int r = find(p) >= 0; pthread_mutex_unlock(&lk); return r; }
static void need(int cond, const char *what) { if (!cond) { fprintf(stderr, "EMU: bad %s\n", what); abort(); } }
cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned f) { (void)f; *s = (cudaStream_t)malloc(8); return cudaSuccess; }
cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr a, int d) { (void)a; (void)d; *v = 4; return cudaSuccess; }
cudaError_t cudaMalloc(void **p, size_t n) {
    char *q = malloc(n + 64);
    memset(q, 0xA5, n + 64); /* garbage, like real device memory */
    pthread_mutex_lock(&lk); regs[nregs++] = (region){q, n}; pthread_mutex_unlock(&lk);
    *p = q; return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    pthread_mutex_lock(&lk); int i = find(p); need(i >= 0 && regs[i].p == p, "cudaFree pointer");
    regs[i] = regs[--nregs]; pthread_mutex_unlock(&lk); free(p); return cudaSuccess;
}
static void in_dev(const void *p, size_t n, const char *w) {
    pthread_mutex_lock(&lk); int i = find(p);
    need(i >= 0 && (const char *)p + n <= regs[i].p + regs[i].n, w); pthread_mutex_unlock(&lk);
}
static void in_host(const void *p, const char *w) { need(!emu_is_device(p), w); }
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, enum cudaMemcpyKind k, cudaStream_t st) {
    need(st != NULL, "stream");
    if (k == cudaMemcpyHostToDevice) { in_dev(d, n, "H2D dst"); in_host(s, "H2D src"); }
    else if (k == cudaMemcpyDeviceToHost) { in_dev(s, n, "D2H src"); in_host(d, "D2H dst"); }
    else if (k == cudaMemcpyDeviceToDevice) { in_dev(s, n, "D2D src"); in_dev(d, n, "D2D dst"); }
    memmove(d, s, n); return cudaSuccess;
}
cudaError_t cudaMemcpyPeerAsync(void *d, int dd, const void *s, int sd, size_t n, cudaStream_t st) { (void)dd; (void)sd; return cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToDevice, st); }
cudaError_t cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t st) { (void)st; in_dev(d, n, "memset"); memset(d, v, n); return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t s) { need(s != NULL, "sync stream"); return cudaSuccess; }
cudaError_t cudaGetLastError(void) { cudaError_t e = last; last = cudaSuccess; return e; }
const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
const char *cudaGetErrorName(cudaError_t e) { return e ? "cudaErrorEmu" : "cudaSuccess"; }
