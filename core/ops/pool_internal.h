/* Helpers shared by the pool family's op files (pool.c, upsample.c, pad.c,
 * roll.c): the N-C-spatial input check, the kernel geometry, and
 * differentiable per-dim index gathers (pool_common.c). */
#ifndef MF_OPS_POOL_INTERNAL_H
#define MF_OPS_POOL_INTERNAL_H

#include "core/backend/kern_pool.h"
#include "core/ops/internal.h"

/* Error unless x is a float (N, C, 1-3 spatial) tensor; *nsp = spatial dims. */
mf_status mf__pool_input(const char *op, const mf_tensor *x, int *nsp);
/* Geometry with planes and in[] filled from x (spatial dims right-aligned
 * in the three slots), every other slot neutral (size 1, kernel 1). */
void mf__pool_geom_init(const mf_tensor *x, int nsp, mf_pool_geom *g);

/* Per-dim index maps: map[d] has shape[d] entries, a source index or -1. */
typedef struct mf__index_maps {
    int ndim;
    int64_t shape[MF_MAX_DIMS];
    int64_t *map[MF_MAX_DIMS];
} mf__index_maps;

mf_status mf__maps_new(const char *op, int ndim, const int64_t *shape, mf__index_maps **out);
void mf__maps_free(void *maps);
/* y[o] = x[maps(o)] (fill where -1), recorded for autograd (scatter-add
 * backward). Takes ownership of maps, also on failure. */
mf_status mf__gather_maps(const char *op, const mf_tensor *x, mf__index_maps *maps, double fill, mf_tensor **out);

#endif
