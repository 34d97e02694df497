/* Host stand-ins for the half-precision helpers the kernels use (CPU
 * emulation only, see ../build.sh). */
#include <stdint.h>
#include <string.h>
extern "C" float mf_f16_to_f32(uint16_t h);
extern "C" uint16_t mf_f32_to_f16(float f);
typedef struct { unsigned short x; } __half;
static inline __half __ushort_as_half(unsigned short u) { __half h; h.x = u; return h; }
static inline unsigned short __half_as_ushort(__half h) { return h.x; }
static inline float __half2float(__half h) { return mf_f16_to_f32(h.x); }
static inline __half __float2half_rn(float f) { __half h; h.x = mf_f32_to_f16(f); return h; }
