/* A process-wide pthread pool for CPU kernels. Size: MEDFM_NUM_THREADS, or
 * the number of online CPUs. Calls from inside a parallel region run inline,
 * so kernels may nest freely. */
#ifndef MEDFM_PARALLEL_H
#define MEDFM_PARALLEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*mf_range_fn)(void *ctx, int64_t begin, int64_t end);

/* Runs fn over [0, n) split into chunks of at least `grain` items. */
void mf_parallel_for(int64_t n, int64_t grain, mf_range_fn fn, void *ctx);
int mf_num_threads(void);
/* Changes the pool size (>= 1); takes effect for later calls. */
void mf_set_num_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
