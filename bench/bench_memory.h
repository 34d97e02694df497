/* The CUDA allocator's peaks in PyTorch's terms, for the benches' output
 * lines: " req_mib R res_mib S" (medfm's peak of requested bytes against
 * torch.cuda.max_memory_allocated, its peak of bytes taken from the driver
 * against torch.cuda.max_memory_reserved); empty on the CPU. */
#ifndef MF_BENCH_MEMORY_H
#define MF_BENCH_MEMORY_H

#include <stdio.h>

#include "medfm/memory.h"

static inline const char *bench_mem_extra(mf_device dev, char *buf, size_t n) {
    mf_memory_detail d = {.size = sizeof d};
    buf[0] = 0;
    if (dev.type == MF_CUDA && mf_memory_detail_get(dev, &d) == MF_OK)
        snprintf(buf, n, " req_mib %.3f res_mib %.3f", (double)d.peak_requested_bytes / 1048576.0,
                 (double)d.peak_reserved_bytes / 1048576.0);
    return buf;
}

#endif
