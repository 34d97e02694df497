/* Race checking for the emulator (build.sh with EMU_RACECHECK=1): the
 * kernels are compiled with ThreadSanitizer, every emulated thread runs as
 * a fiber of its own, and these hooks tell TSan what orders them on a GPU:
 * a launch orders the host's earlier work before every thread of the grid,
 * __syncthreads orders a block's threads, the end of a grid orders them
 * before the host. Nothing else does: threads of one block between
 * barriers, of different blocks, and lanes exchanging values by a shuffle
 * (which orders no memory) race when they touch the same bytes and one of
 * them writes. Consecutive blocks run on alternate sets of fibers, each set
 * with its own copy of shared memory (translate.py --race). Without
 * EMU_RACECHECK the hooks are empty. */
#pragma once
#include <stddef.h>
#ifdef EMU_RACECHECK
enum { EMU_RACE_ALL_FIBERS = 1 }; /* EMU_RACE_SETS: emu_device.h */
void emu_race_grid_begin(void);
void emu_race_grid_end(void);
unsigned emu_race_block_begin(unsigned bx);
void emu_race_to_thread(unsigned set, unsigned t);
void emu_race_to_scheduler(void);
void emu_race_thread_begin(void);
void emu_race_thread_end(void);
void emu_race_arrive(unsigned slot, unsigned phase);
void emu_race_pass(unsigned slot, unsigned phase);
#else
enum { EMU_RACE_SETS = 1, EMU_RACE_ALL_FIBERS = 0 };
static inline void emu_race_grid_begin(void) {}
static inline void emu_race_grid_end(void) {}
static inline unsigned emu_race_block_begin(unsigned) { return 0; }
static inline void emu_race_to_thread(unsigned, unsigned) {}
static inline void emu_race_to_scheduler(void) {}
static inline void emu_race_thread_begin(void) {}
static inline void emu_race_thread_end(void) {}
static inline void emu_race_arrive(unsigned, unsigned) {}
static inline void emu_race_pass(unsigned, unsigned) {}
#endif
