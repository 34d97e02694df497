/* Builds merged layouts for strided CPU kernels. */
#include "core/backend/cpu/strided.h"

#include <stdbool.h>

void mf_layout_build(mf_layout *L, int ndim, const int64_t *shape, int narr, const int64_t *const *strides) {
    L->narr = narr;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) {
            L->ndim = 1;
            L->shape[0] = 0;
            for (int a = 0; a < narr; a++)
                L->stride[a][0] = 1;
            L->inner = 0;
            L->rows = 0;
            return;
        }
    }
    int n = 0;
    /* Drop size-1 dims; merge a dim into the one outside it when every
     * array steps through both as one run. */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1)
            continue;
        if (n > 0) {
            bool merge = true;
            for (int a = 0; a < narr; a++)
                if (L->stride[a][n - 1] != strides[a][d] * shape[d])
                    merge = false;
            if (merge) {
                L->shape[n - 1] *= shape[d];
                for (int a = 0; a < narr; a++)
                    L->stride[a][n - 1] = strides[a][d];
                continue;
            }
        }
        L->shape[n] = shape[d];
        for (int a = 0; a < narr; a++)
            L->stride[a][n] = strides[a][d];
        n++;
    }
    if (n == 0) { /* a single element */
        n = 1;
        L->shape[0] = 1;
        for (int a = 0; a < narr; a++)
            L->stride[a][0] = 0;
    }
    L->ndim = n;
    L->inner = L->shape[n - 1];
    L->rows = 1;
    for (int d = 0; d < n - 1; d++)
        L->rows *= L->shape[d];
}
