/* Kernel table of the index family. Ops in core/ops/index_*.c shape the
 * arguments so that two kernels cover gather, index_select and their
 * backwards: an index_select is a gather whose index is a 1-D tensor
 * expanded (stride 0) over the output shape. Index tensors are int64 and
 * go through `bounds` first. A backend may check on the device and report
 * at its next host read instead (CUDA: device_checks.c); its gather and
 * scatter_add then must not touch memory for an index out of range. */
#ifndef MF_KERN_INDEX_H
#define MF_KERN_INDEX_H

#include "medfm/tensor.h"

struct mf_kern_index {
    /* Counts indices outside [0, size) and reports the first one (flat
     * row-major position and value); *n_bad = 0 when all are in range (or
     * when the check is deferred to the device, see above). */
    mf_status (*bounds)(const mf_tensor *index, int64_t size, int64_t *n_bad, int64_t *first_pos,
                        int64_t *first_val);
    /* out[c] = x[c with c[dim] = index[c]]; out and index share a shape,
     * x has out's shape except along dim. Any dtype (out's == x's). */
    mf_status (*gather)(mf_tensor *out, const mf_tensor *x, int dim, const mf_tensor *index);
    /* out[c with c[dim] = index[c]] += src[c] for every c of index's shape
     * (src may be larger: only its leading index-shaped part is read).
     * Deterministic: each output element sums its contributions in index
     * order along dim. f32/f64 (others through double). */
    mf_status (*scatter_add)(mf_tensor *out, int dim, const mf_tensor *index, const mf_tensor *src);
    /* Pairwise distances (the vtable has no distance family; cdist is a
     * gather-like row pairing, so it lives here). a (..., N, D), b (..., M, D),
     * out (..., N, M) share the (already broadcast) batch dims, which may
     * have stride 0 in a and b; p is 1 or 2. f32/f64, sums in double. */
    mf_status (*cdist)(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double p);
    /* Gradients of sum(g * cdist(a, b)) into contiguous ga (..., N, D) and
     * gb (..., M, D) of the batch shape of g (either may be NULL). d is the
     * forward output; p = 2 gives (a - b) / d, zero where d == 0; p = 1
     * gives sign(a - b). */
    mf_status (*cdist_backward)(mf_tensor *ga, mf_tensor *gb, const mf_tensor *g, const mf_tensor *a,
                                const mf_tensor *b, const mf_tensor *d, double p);
};

#endif
