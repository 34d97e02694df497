/* Runs emulated kernels block by block on the CPU (see build.sh). Blocks
 * that use __syncthreads or shuffles run their threads as fibers
 * (ucontext) on this thread: a thread runs until it waits at a barrier,
 * then the next one runs; a barrier opens when every thread it counts has
 * arrived. No OS thread per emulated thread, so a block costs context
 * switches instead of thread creation, and a kernel whose threads wait at
 * different barriers is reported instead of hanging. Built for the race
 * check (EMU_RACECHECK, emu_race.h), every block runs as fibers and each
 * switch and barrier is told to ThreadSanitizer. */
#include "emu_device.h"
#include "emu_race.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <vector>
thread_local dim3 blockIdx, threadIdx;
dim3 gridDim, blockDim;

enum { F_RUN, F_WAIT, F_DONE };
struct fiber { ucontext_t ctx; int state, waits_on; /* -1: the block barrier, else a warp */ };
static const size_t STACK = 256u << 10;
static fiber fibers[1024];
static char *stacks;
static ucontext_t sched_ctx;
static unsigned n_fib, cur;
static const std::function<void()> *fiber_body;
/* Barrier counts: [0] the block, [1 + w] warp w; where the first thread to
 * arrive called from. */
static unsigned waiting[33], members[33], phase[33];
static void *site[33];

static const char *name_of(void *pc) {
    Dl_info d;
    return dladdr(pc, &d) && d.dli_sname ? d.dli_sname : "?";
}
/* The running fiber waits at barrier `slot` (0: block, 1 + w: warp w),
 * called from `at`. Every thread a barrier counts must reach it from the
 * same __syncthreads or shuffle: on a GPU, threads that wait at different
 * ones (a barrier or a full-mask shuffle in divergent code) are undefined
 * behaviour, which here would pair up silently. */
static void barrier(unsigned slot, void *at) {
    if (waiting[slot] == 0) {
        site[slot] = at;
    } else if (site[slot] != at) {
        fprintf(stderr, "emu: divergent %s in block %u: thread %u waits at %p (in %s), others at %p (in %s)\n",
                slot ? "shuffle" : "__syncthreads", blockIdx.x, threadIdx.x, at, name_of(at), site[slot],
                name_of(site[slot]));
        abort();
    }
    unsigned ph = phase[slot];
    emu_race_arrive(slot, ph);
    fibers[cur].state = F_WAIT;
    fibers[cur].waits_on = (int)slot - 1;
    if (++waiting[slot] == members[slot]) { /* the last to arrive opens it */
        waiting[slot] = 0;
        phase[slot] ^= 1;
        for (unsigned t = 0; t < n_fib; t++)
            if (fibers[t].state == F_WAIT && fibers[t].waits_on == (int)slot - 1)
                fibers[t].state = F_RUN;
    } else {
        unsigned me = cur;
        emu_race_to_scheduler();
        swapcontext(&fibers[me].ctx, &sched_ctx);
    }
    emu_race_pass(slot, ph);
}
extern "C" void emu_syncthreads(void) { barrier(0, __builtin_return_address(0)); }
/* Shuffles wait only for their own warp, so a warp that returns early
 * (whole-warp row guards) does not hold the others. */
static double shfl_slot[1024];
static double shfl_from(double v, unsigned src_lane, bool ok, void *at) {
    unsigned t = threadIdx.x, w = t >> 5;
    shfl_slot[t] = v;
    barrier(1 + w, at);
    double r = ok ? shfl_slot[(w << 5) + src_lane] : v;
    barrier(1 + w, at);
    return r;
}
extern "C" double emu_shfl_down(double v, int k) {
    unsigned lane = threadIdx.x & 31;
    return shfl_from(v, lane + k, lane + k < 32, __builtin_return_address(0));
}
extern "C" double emu_shfl_xor(double v, int k) {
    unsigned lane = threadIdx.x & 31;
    return shfl_from(v, lane ^ (unsigned)k, true, __builtin_return_address(0));
}
static void fiber_main(void) {
    emu_race_thread_begin();
    (*fiber_body)();
    emu_race_thread_end();
    fibers[cur].state = F_DONE; /* then back to the scheduler through uc_link */
    emu_race_to_scheduler();
}
/* One block of b threads as fibers, round robin until all are done. */
static void run_block_fibers(unsigned bx, unsigned b, const std::function<void()> &body) {
    if (!stacks) {
        void *m = mmap(NULL, STACK * 1024 * EMU_RACE_SETS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            fprintf(stderr, "emu: cannot map fiber stacks\n");
            abort();
        }
        stacks = (char *)m;
    }
    unsigned set = emu_race_block_begin(bx);
    fiber_body = &body;
    n_fib = b;
    members[0] = b;
    waiting[0] = phase[0] = 0;
    for (unsigned w = 0; w < (b + 31) / 32; w++) {
        members[1 + w] = b - w * 32 < 32 ? b - w * 32 : 32;
        waiting[1 + w] = phase[1 + w] = 0;
    }
    for (unsigned t = 0; t < b; t++) {
        fiber &f = fibers[t];
        f.state = F_RUN;
        f.waits_on = 0;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = stacks + ((size_t)set * 1024 + t) * STACK;
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = &sched_ctx;
        makecontext(&f.ctx, fiber_main, 0);
    }
    blockIdx = {bx, 0, 0};
    for (unsigned done = 0; done < b;) {
        bool ran = false;
        done = 0;
        for (unsigned t = 0; t < b; t++) {
            if (fibers[t].state == F_DONE) {
                done++;
                continue;
            }
            if (fibers[t].state != F_RUN)
                continue;
            cur = t;
            threadIdx = {t, 0, 0};
            emu_race_to_thread(set, t);
            swapcontext(&sched_ctx, &fibers[t].ctx);
            ran = true;
            if (fibers[t].state == F_DONE)
                done++;
        }
        if (!ran && done < b) {
            fprintf(stderr, "emu: block %u deadlocked: %u of %u threads wait at barriers that cannot open "
                            "(a thread returned before a __syncthreads or shuffle the others reach)\n",
                    bx, b - done, b);
            abort();
        }
    }
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
    emu_race_grid_begin();
    for (unsigned bx = 0; bx < g; bx++) {
        if (!coop && !EMU_RACE_ALL_FIBERS) {
            blockIdx = {bx, 0, 0};
            for (unsigned tx = 0; tx < b; tx++) {
                threadIdx = {tx, 0, 0};
                body();
            }
        } else {
            run_block_fibers(bx, b, body);
        }
    }
    emu_race_grid_end();
}
