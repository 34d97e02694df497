/* im2col / col2im for 1-3 spatial dims (right-aligned in mf_conv_geom).
 * col has Cg*k0*k1*k2 rows (channel-major, then kernel offsets) and
 * out0*out1*out2 columns per image, stored with leading dimension ld so
 * several images can sit side by side in one GEMM operand. */
#ifndef MF_CPU_CONV_IM2COL_H
#define MF_CPU_CONV_IM2COL_H

#include "core/backend/kern_conv.h"

/* col[:, 0:P] (leading dim ld) <- patches of x (cg channels, contiguous). */
void mf__im2col(mf_dtype dt, const void *x, const mf_conv_geom *g, int64_t cg, void *col, int64_t ld);
/* x (cg channels) += scattered col: the adjoint of mf__im2col. */
void mf__col2im(mf_dtype dt, const void *col, int64_t ld, const mf_conv_geom *g, int64_t cg, void *x);

/* The same restricted to output lines [q0, q1) of the flattened (out[0], out[1])
 * grid: col holds (q1 - q0) * out[2] columns per row, line q0 first. */
void mf__im2col_lines(mf_dtype dt, const void *x, const mf_conv_geom *g, int64_t cg, void *col, int64_t ld,
                      int64_t q0, int64_t q1);
void mf__col2im_lines(mf_dtype dt, const void *col, int64_t ld, const mf_conv_geom *g, int64_t cg, void *x,
                      int64_t q0, int64_t q1);

#endif
