/* The CPU allocator's side of mf_memory_stats (core/backend/memory_stats.c). */
#ifndef MF_BACKEND_CPU_MEMORY_H
#define MF_BACKEND_CPU_MEMORY_H

#include "medfm/memory.h"

void mf_cpu_memory_stats(mf_memory_stats *out);
void mf_cpu_memory_reset_peak(void);
void mf_cpu_memory_empty_cache(void);

#endif
