/* Memory statistics per device, like torch.cuda.memory_allocated /
 * max_memory_allocated: bytes held by live tensors now, the most held at
 * once since the start (or the last reset), and bytes kept by the
 * allocator's cache for reuse. Counted in the allocator's rounded block
 * sizes. CPU counts every tensor storage allocated by medfm (not memory
 * the process uses otherwise); CUDA counts the caching allocator's blocks. */
#ifndef MEDFM_MEMORY_H
#define MEDFM_MEMORY_H

#include <stdint.h>

#include "medfm/status.h"
#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_memory_stats {
    uint64_t current_bytes; /* held by live tensors */
    uint64_t peak_bytes;    /* most held at once since start or mf_memory_reset_peak */
    uint64_t cached_bytes;  /* freed blocks kept for reuse */
} mf_memory_stats;

/* Statistics of `dev`; an error naming the device when it is unavailable. */
mf_status mf_memory_stats_get(mf_device dev, mf_memory_stats *out);

/* Starts a new peak at the current figure (per-phase peaks). */
mf_status mf_memory_reset_peak(mf_device dev);

/* Gives every cached (freed, kept for reuse) block of `dev` back to the
 * system or driver, like torch.cuda.empty_cache; live tensors are kept. */
mf_status mf_memory_empty_cache(mf_device dev);

/* The CUDA caching allocator's figures in PyTorch's terms, for comparing
 * peaks with torch.cuda.max_memory_allocated / max_memory_reserved. Set
 * `size` to sizeof(mf_memory_detail) before the call (fields added later
 * are left alone in an older caller's struct). */
typedef struct mf_memory_detail {
    uint32_t size;
    uint64_t requested_bytes;      /* asked for by live tensors, each rounded up to 512 bytes */
    uint64_t peak_requested_bytes; /* most requested at once since start or mf_memory_reset_peak */
    uint64_t reserved_bytes;       /* taken from the driver: held, cached and CUDA graphs' blocks */
    uint64_t peak_reserved_bytes;  /* most reserved at once since start or mf_memory_reset_peak */
} mf_memory_detail;

/* The figures of a cuda device; an error naming the device for a CPU (its
 * allocator keeps only mf_memory_stats) or an unavailable one. */
mf_status mf_memory_detail_get(mf_device dev, mf_memory_detail *out);

#ifdef __cplusplus
}
#endif

#endif
