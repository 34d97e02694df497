/* Device queries: mf_memory_stats, mf_memory_detail and
 * mf_memory_empty_cache per device (the CPU allocator's counters, or the
 * CUDA module's caching allocator through its exported functions) and
 * mf_device_synchronize. */
#include "medfm/memory.h"

#include <string.h>

#include "core/backend/backend.h"
#include "core/backend/cpu/memory.h"
#include "core/backend/cuda/cuda_api.h"

/* The CUDA module's allocator figures of device dev.index. */
static mf_status cuda_mem_stats(mf_device dev, mf_cuda_mem_stats *s) {
    void *fn;
    MF_TRY(mf__cuda_symbol(MF_CUDA_MEMORY_STATS_SYMBOL, &fn));
    *s = (mf_cuda_mem_stats){.size = sizeof *s};
    return ((mf_cuda_memory_stats_fn)fn)(dev.index, s);
}

/* Runs `cpu` on the CPU, or the CUDA module's exported `symbol` (an
 * mf_status (*)(int index)) on a cuda device; `what` names the call. */
static mf_status per_device(mf_device dev, const char *what, void (*cpu)(void), const char *symbol) {
    if (dev.type == MF_CPU) {
        cpu();
        return MF_OK;
    }
    if (dev.type != MF_CUDA)
        return MF_ERR(MF_ERR_DEVICE, "%s: unknown device type %d", what, dev.type);
    void *fn;
    MF_TRY(mf__cuda_symbol(symbol, &fn));
    return ((mf_status(*)(int))fn)(dev.index);
}

mf_status mf_memory_stats_get(mf_device dev, mf_memory_stats *out) {
    if (!out)
        return MF_ERR(MF_ERR_INVALID, "memory stats: no output");
    memset(out, 0, sizeof *out);
    if (dev.type == MF_CPU) {
        mf_cpu_memory_stats(out);
        return MF_OK;
    }
    if (dev.type != MF_CUDA)
        return MF_ERR(MF_ERR_DEVICE, "memory stats: unknown device type %d", dev.type);
    mf_cuda_mem_stats s;
    MF_TRY(cuda_mem_stats(dev, &s));
    *out = (mf_memory_stats){s.current_bytes, s.peak_bytes, s.cached_bytes};
    return MF_OK;
}

mf_status mf_memory_detail_get(mf_device dev, mf_memory_detail *out) {
    if (!out || out->size < sizeof(uint32_t))
        return MF_ERR(MF_ERR_INVALID, "memory detail: no output, or its size field is not set");
    if (dev.type != MF_CUDA)
        return MF_ERR(MF_ERR_UNSUPPORTED,
                      "memory detail: %s keeps no requested or reserved counts (only mf_memory_stats); use a cuda "
                      "device",
                      dev.type == MF_CPU ? "the cpu allocator" : "this device type");
    mf_cuda_mem_stats s;
    MF_TRY(cuda_mem_stats(dev, &s));
    mf_memory_detail d = {sizeof d, s.requested_bytes, s.peak_requested_bytes, s.reserved_bytes,
                          s.peak_reserved_bytes};
    uint32_t size = out->size < sizeof d ? out->size : (uint32_t)sizeof d;
    memcpy(out, &d, size);
    out->size = size;
    return MF_OK;
}

mf_status mf_memory_reset_peak(mf_device dev) {
    return per_device(dev, "memory stats", mf_cpu_memory_reset_peak, MF_CUDA_RESET_PEAK_SYMBOL);
}

mf_status mf_memory_empty_cache(mf_device dev) {
    return per_device(dev, "memory", mf_cpu_memory_empty_cache, MF_CUDA_EMPTY_CACHE_SYMBOL);
}

mf_status mf_device_synchronize(mf_device dev) {
    const mf_backend *be;
    MF_TRY(mf_backend_get(dev, &be));
    return be->synchronize ? be->synchronize(dev) : MF_OK;
}
