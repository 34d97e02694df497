/* Running f32 CPU kernels on bf16/f16 tensors: inputs are converted to f32
 * scratch copies, the kernel runs on them, and outputs are rounded back to
 * the low dtype. The CPU has no fast bf16 arithmetic worth a second set of
 * kernels; what mixed precision needs here is the same numbers as a GPU's
 * f32-accumulating bf16 GEMM, which this gives. */
#ifndef MF_CPU_LOWP_H
#define MF_CPU_LOWP_H

#include "medfm/tensor.h"

#define MF_LOWP_MAX 16

typedef struct mf_lowp_frame {
    int n;
    mf_tensor *scratch[MF_LOWP_MAX]; /* owned f32 twins */
    mf_tensor *dst[MF_LOWP_MAX];     /* low-precision outputs they go back to (NULL: an input) */
} mf_lowp_frame;

static inline bool mf__lowp(mf_dtype dt) { return dt == MF_BF16 || dt == MF_F16; }

/* f32 twins: in32[i] for ins[i] (the tensor itself unless bf16/f16; NULL
 * stays NULL), out32[i] for outs[i] (contents loaded when load_out, else
 * uninitialised). Outputs go back on mf__lowp_end. */
mf_status mf__lowp_begin(mf_lowp_frame *f, int n_in, const mf_tensor *const *ins, const mf_tensor **in32,
                         int n_out, mf_tensor *const *outs, mf_tensor **out32, bool load_out);
/* When st is MF_OK, rounds each f32 output twin into its output; frees the
 * twins; returns st or the copy's error. */
mf_status mf__lowp_end(mf_lowp_frame *f, mf_status st);

#endif
