/* Walking strided views on the CPU. A layout describes up to four arrays of
 * the same (broadcast) shape, with adjacent dims merged where every array
 * allows it; kernels run a tight inner loop over the last dim and compute
 * row offsets for the outer dims. */
#ifndef MF_CPU_STRIDED_H
#define MF_CPU_STRIDED_H

#include <stdint.h>

#include "medfm/tensor.h"

#define MF_LAYOUT_MAX_ARR 4

typedef struct {
    int ndim;   /* >= 1 after building */
    int narr;
    int64_t shape[MF_MAX_DIMS];
    int64_t stride[MF_LAYOUT_MAX_ARR][MF_MAX_DIMS];
    int64_t rows;  /* product of all dims but the last */
    int64_t inner; /* size of the last dim */
} mf_layout;

/* strides[a] gives the element strides of array a over `shape`. */
void mf_layout_build(mf_layout *L, int ndim, const int64_t *shape, int narr, const int64_t *const *strides);
/* Element offset of the first element of `row` in each array. */
static inline void mf_layout_row(const mf_layout *L, int64_t row, int64_t *off) {
    for (int a = 0; a < L->narr; a++)
        off[a] = 0;
    for (int d = L->ndim - 2; d >= 0; d--) {
        int64_t i = row % L->shape[d];
        row /= L->shape[d];
        for (int a = 0; a < L->narr; a++)
            off[a] += i * L->stride[a][d];
    }
}

/* Grain (in rows) that gives each parallel chunk about 32k elements. */
static inline int64_t mf_layout_grain(const mf_layout *L) {
    int64_t g = 32768 / (L->inner > 0 ? L->inner : 1);
    return g < 1 ? 1 : g;
}

#endif
