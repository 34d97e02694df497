/* ThreadSanitizer hooks of the emulator's race check (see emu_race.h).
 * This file itself is not instrumented: it only calls TSan's interface. */
#ifdef EMU_RACECHECK
#include "emu_race.h"
extern "C" {
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
}
enum { NO_SYNC = 1 }; /* __tsan_switch_to_fiber_no_sync */
static void *threads[EMU_RACE_SETS][1024], *scheduler;
static unsigned set, set_round;
/* Sync objects: only their addresses matter. Each fiber set has its own
 * barriers, and a block is ordered after its set's previous block in the
 * grid (block_done: the threads of round r of a set release [r % 2] and
 * those of round r + 1 acquire it), so after the block two before it,
 * never after the one just before it, which runs on the other set with the
 * other copy of shared memory (translate.py --race). */
static char launch_obj, done_obj, block_done[EMU_RACE_SETS][2], barrier_obj[EMU_RACE_SETS][33][2];

extern "C" unsigned emu_race_set(void) { return set; }
void emu_race_grid_begin(void) {
    scheduler = __tsan_get_current_fiber();
    __tsan_release(&launch_obj);
}
void emu_race_grid_end(void) { __tsan_acquire(&done_obj); }
unsigned emu_race_block_begin(unsigned bx) {
    set = bx % EMU_RACE_SETS;
    set_round = bx / EMU_RACE_SETS;
    return set;
}
void emu_race_to_thread(unsigned s, unsigned t) {
    if (!threads[s][t])
        threads[s][t] = __tsan_create_fiber(0);
    __tsan_switch_to_fiber(threads[s][t], NO_SYNC);
}
void emu_race_to_scheduler(void) { __tsan_switch_to_fiber(scheduler, NO_SYNC); }
void emu_race_thread_begin(void) {
    __tsan_acquire(&launch_obj);
    if (set_round > 0)
        __tsan_acquire(&block_done[set][(set_round - 1) % 2]);
}
void emu_race_thread_end(void) {
    __tsan_release(&done_obj);
    __tsan_release(&block_done[set][set_round % 2]);
}
/* Slot 0 is __syncthreads, which orders memory; warp slots are shuffles,
 * which do not, so they get no edges. */
void emu_race_arrive(unsigned slot, unsigned phase) {
    if (slot == 0)
        __tsan_release(&barrier_obj[set][slot][phase]);
}
void emu_race_pass(unsigned slot, unsigned phase) {
    if (slot == 0)
        __tsan_acquire(&barrier_obj[set][slot][phase]);
}
#endif
