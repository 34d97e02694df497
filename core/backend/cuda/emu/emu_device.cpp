/* Runs emulated kernels block by block on the CPU (see build.sh); blocks
 * that use __syncthreads/__shfl_down_sync run as real threads. */
#include "emu_device.h"
#include <pthread.h>
#include <vector>
thread_local dim3 blockIdx, threadIdx;
dim3 gridDim, blockDim;
static pthread_barrier_t bar;
/* Shuffles wait only for their own warp, so a warp that returns early
 * (whole-warp row guards) does not hang the others. */
static pthread_barrier_t warp_bar[32];
static double shfl_slot[1024];
extern "C" void emu_syncthreads(void) { pthread_barrier_wait(&bar); }
static double shfl_from(double v, unsigned src_lane, bool ok) {
    unsigned t = threadIdx.x, w = t >> 5;
    shfl_slot[t] = v;
    pthread_barrier_wait(&warp_bar[w]);
    double r = ok ? shfl_slot[(w << 5) + src_lane] : v;
    pthread_barrier_wait(&warp_bar[w]);
    return r;
}
extern "C" double emu_shfl_down(double v, int k) {
    unsigned lane = threadIdx.x & 31;
    return shfl_from(v, lane + k, lane + k < 32);
}
extern "C" double emu_shfl_xor(double v, int k) {
    unsigned lane = threadIdx.x & 31;
    return shfl_from(v, lane ^ (unsigned)k, true);
}
struct coop_arg { const std::function<void()> *body; unsigned bx, tx; };
static void *coop_run(void *p) {
    coop_arg *a = (coop_arg *)p;
    blockIdx = {a->bx, 0, 0};
    threadIdx = {a->tx, 0, 0};
    (*a->body)();
    return NULL;
}
static void emu_run(unsigned g, unsigned b, bool coop, const std::function<void()> &body);
struct recorded { unsigned g, b; bool coop; std::function<void()> body; };
static void run_recorded(void *p) { recorded *r = (recorded *)p; emu_run(r->g, r->b, r->coop, r->body); }
static void free_recorded(void *p) { delete (recorded *)p; }
/* Arguments were evaluated into `body` at the launch (std::bind in build.sh),
 * so a recorded launch replays with the values it was given, as on a GPU. */
void emu_launch(unsigned g, unsigned b, bool coop, cudaStream_t s, const std::function<void()> &body) {
    if (emu_capturing(s)) {
        emu_record(s, run_recorded, new recorded{g, b, coop, body}, free_recorded);
        return;
    }
    emu_stream_order(s);
    emu_run(g, b, coop, body);
}
static void emu_run(unsigned g, unsigned b, bool coop, const std::function<void()> &body) {
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
            for (unsigned w = 0; w < (b + 31) / 32; w++)
                pthread_barrier_init(&warp_bar[w], NULL, b - w * 32 < 32 ? b - w * 32 : 32);
            std::vector<pthread_t> th(b);
            std::vector<coop_arg> args(b);
            for (unsigned tx = 0; tx < b; tx++) {
                args[tx] = {&body, bx, tx};
                pthread_create(&th[tx], NULL, coop_run, &args[tx]);
            }
            for (unsigned tx = 0; tx < b; tx++)
                pthread_join(th[tx], NULL);
            pthread_barrier_destroy(&bar);
            for (unsigned w = 0; w < (b + 31) / 32; w++)
                pthread_barrier_destroy(&warp_bar[w]);
        }
    }
}
