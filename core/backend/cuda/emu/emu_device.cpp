/* Runs emulated kernels block by block on the CPU (see build.sh); blocks
 * that use __syncthreads/__shfl_down_sync run as real threads. */
#include "emu_device.h"
#include <pthread.h>
#include <vector>
thread_local dim3 blockIdx, threadIdx;
dim3 gridDim, blockDim;
static pthread_barrier_t bar;
static double shfl_slot[1024];
extern "C" void emu_syncthreads(void) { pthread_barrier_wait(&bar); }
extern "C" double emu_shfl_down(double v, int k) {
    unsigned t = threadIdx.x;
    shfl_slot[t] = v;
    pthread_barrier_wait(&bar);
    unsigned lane = t & 31;
    double r = lane + k < 32 ? shfl_slot[t + k] : v;
    pthread_barrier_wait(&bar);
    return r;
}
struct coop_arg { const std::function<void()> *body; unsigned bx, tx; };
static void *coop_run(void *p) {
    coop_arg *a = (coop_arg *)p;
    blockIdx = {a->bx, 0, 0};
    threadIdx = {a->tx, 0, 0};
    (*a->body)();
    return NULL;
}
void emu_launch(unsigned g, unsigned b, bool coop, const std::function<void()> &body) {
    if (g == 0 || b == 0 || b > 1024) { emu_set_error(cudaErrorInvalidValue); return; }
    gridDim = {g, 1, 1};
    blockDim = {b, 1, 1};
    for (unsigned bx = 0; bx < g; bx++) {
        if (!coop) {
            blockIdx = {bx, 0, 0};
            for (unsigned tx = 0; tx < b; tx++) {
                threadIdx = {tx, 0, 0};
                body();
            }
        } else {
            pthread_barrier_init(&bar, NULL, b);
            std::vector<pthread_t> th(b);
            std::vector<coop_arg> args(b);
            for (unsigned tx = 0; tx < b; tx++) {
                args[tx] = {&body, bx, tx};
                pthread_create(&th[tx], NULL, coop_run, &args[tx]);
            }
            for (unsigned tx = 0; tx < b; tx++)
                pthread_join(th[tx], NULL);
            pthread_barrier_destroy(&bar);
        }
    }
}
