/* OpenBLAS helpers shared by the CPU kernels: a dtype-generic GEMM on raw
 * pointers. Thread policy: OpenBLAS runs single-threaded (set once on first
 * use) and all parallelism comes from the medfm pool, either around many
 * GEMMs (per image, per batch entry) or inside one (mf__gemm_par splits it
 * into blocks). Mixing the two pools oversubscribes the cores: OpenBLAS
 * threads spin after each call while pool workers want the same cores. */
#ifndef MF_CPU_BLAS_H
#define MF_CPU_BLAS_H

#include <stdbool.h>
#include <stdint.h>

#include "medfm/tensor.h"

/* Row-major C = alpha op(A) op(B) + beta C on f32 or f64 data. */
void mf__gemm(mf_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
              int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc);
/* The same product split over the medfm pool in row or column blocks. */
void mf__gemm_par(mf_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
                  int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc);

#endif
