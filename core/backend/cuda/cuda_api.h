/* Functions the CUDA module exports besides its entry point, for tests and
 * tools that look them up with dlsym on libmedfm_cuda.so. Plain C, no CUDA
 * headers, so callers need no toolkit. */
#ifndef MF_CUDA_API_H
#define MF_CUDA_API_H

#include <stdint.h>

#include "medfm/status.h"

typedef struct mf_cuda_mem_stats {
    uint32_t size;            /* sizeof(mf_cuda_mem_stats) of the caller */
    uint64_t current_bytes;   /* handed out to tensors now (size-class bytes) */
    uint64_t peak_bytes;      /* largest current_bytes seen */
    uint64_t cached_bytes;    /* held in free lists, ready for reuse */
    uint64_t device_mallocs;  /* cudaMalloc calls made so far */
    uint64_t cache_hits;      /* allocations served from a free list */
    /* Pinned host staging blocks (pinned.c), same meanings. */
    uint64_t pinned_current_bytes;
    uint64_t pinned_cached_bytes;
    uint64_t pinned_host_allocs; /* cudaHostAlloc calls made so far */
    uint64_t pinned_cache_hits;
    /* Bytes asked for by live tensors, each rounded up to 512 (what
     * torch.cuda.memory_allocated counts), and their peak. */
    uint64_t requested_bytes;
    uint64_t peak_requested_bytes;
    /* Bytes taken from the driver (cudaMalloc less cudaFree: held, cached
     * and graph pools' blocks; torch.cuda.memory_reserved), and their peak. */
    uint64_t reserved_bytes;
    uint64_t peak_reserved_bytes;
} mf_cuda_mem_stats;

/* Allocator statistics of device `index`. */
typedef mf_status (*mf_cuda_memory_stats_fn)(int index, mf_cuda_mem_stats *out);
/* Starts a new peak at the current figure on device `index`. */
typedef mf_status (*mf_cuda_reset_peak_fn)(int index);
/* Returns every cached block of device `index` (device and pinned host
 * memory) to the driver. */
typedef mf_status (*mf_cuda_empty_cache_fn)(int index);

/* TF32 for f32 matmul and convolution: 1 allows (the default), 0 forbids
 * (exact f32), -1 goes back to the environment (MEDFM_CUDA_TF32=0 forbids). */
typedef void (*mf_cuda_set_tf32_fn)(int enabled);

/* How convolutions pick their cuDNN algorithm (conv_algo.c): set_conv_search
 * 1 times the candidates once per shape, 0 takes the heuristics' choice
 * (the default), -1 goes back to the environment (MEDFM_CUDNN_SEARCH=1
 * searches). algo_counts: shapes chosen so far by search and by heuristics. */
typedef void (*mf_cuda_set_conv_search_fn)(int enabled);
typedef void (*mf_cuda_conv_algo_counts_fn)(uint64_t *searched, uint64_t *heuristic);

/* CUDA graphs (graph.c): begin captures the work queued on the compute
 * stream of device `index` instead of running it; end stops and returns an
 * instantiated graph (or an error saying why the capture failed); launch
 * replays it on the compute stream; free destroys it and returns its
 * private memory pool to the allocator. */
typedef mf_status (*mf_cuda_graph_begin_fn)(int index);
typedef mf_status (*mf_cuda_graph_end_fn)(int index, void **graph);
typedef mf_status (*mf_cuda_graph_launch_fn)(void *graph);
typedef void (*mf_cuda_graph_free_fn)(void *graph);

#define MF_CUDA_GRAPH_BEGIN_SYMBOL "mf_cuda_graph_begin"
#define MF_CUDA_GRAPH_END_SYMBOL "mf_cuda_graph_end"
#define MF_CUDA_GRAPH_LAUNCH_SYMBOL "mf_cuda_graph_launch"
#define MF_CUDA_GRAPH_FREE_SYMBOL "mf_cuda_graph_free"
#define MF_CUDA_SET_TF32_SYMBOL "mf_cuda_set_tf32"
#define MF_CUDA_SET_CONV_SEARCH_SYMBOL "mf_cuda_set_conv_search"
#define MF_CUDA_CONV_ALGO_COUNTS_SYMBOL "mf_cuda_conv_algo_counts"
#define MF_CUDA_MEMORY_STATS_SYMBOL "mf_cuda_memory_stats"
#define MF_CUDA_EMPTY_CACHE_SYMBOL "mf_cuda_empty_cache"
#define MF_CUDA_RESET_PEAK_SYMBOL "mf_cuda_reset_peak"

#endif
