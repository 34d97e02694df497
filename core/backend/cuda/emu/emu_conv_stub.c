/* conv.c needs cuDNN, which the CPU emulation does not mock: convolution is
 * reported as unsupported there (see build.sh). */
#include "core/backend/backend.h"
#include "core/backend/kern_conv.h"
const struct mf_kern_conv mf_cuda_conv = {0};
