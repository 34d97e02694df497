/* linear_gelu's fused epilogue on the CPU (gelu_epilogue.c), entries of the
 * linalg kernel table (core/backend/kern_linalg.h). */
#ifndef MF_CPU_GELU_EPILOGUE_H
#define MF_CPU_GELU_EPILOGUE_H

#include "medfm/tensor.h"

mf_status mf__cpu_bias_gelu(mf_tensor *y, mf_tensor *pre, const mf_tensor *bias);
mf_status mf__cpu_bias_gelu_backward(mf_tensor *gpre, mf_tensor *gbias, const mf_tensor *gy, const mf_tensor *pre);

#endif
