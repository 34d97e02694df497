/* Scalar conversions between dtypes, for CPU kernels and host-side access.
 * bf16/f16 are storage formats: they convert through float. */
#ifndef MF_DTYPE_CONVERT_H
#define MF_DTYPE_CONVERT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "medfm/tensor.h"

static inline float mf_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t mf_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a quiet NaN */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float mf_f16_to_f32(uint16_t h);
uint16_t mf_f32_to_f16(float f);

/* Reads element at p (of dtype dt) as double. */
static inline double mf_load_as_f64(const void *p, mf_dtype dt) {
    switch (dt) {
    case MF_F32: return *(const float *)p;
    case MF_F64: return *(const double *)p;
    case MF_I32: return *(const int32_t *)p;
    case MF_I64: return (double)*(const int64_t *)p;
    case MF_U8: return *(const uint8_t *)p;
    case MF_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
    case MF_BF16: return mf_bf16_to_f32(*(const uint16_t *)p);
    case MF_F16: return mf_f16_to_f32(*(const uint16_t *)p);
    case MF_I8: return *(const int8_t *)p;
    case MF_I16: return *(const int16_t *)p;
    case MF_U16: return *(const uint16_t *)p;
    default: return NAN;
    }
}

/* Writes v at p as dtype dt (integers truncate toward zero like a C cast,
 * with saturation so out-of-range values never invoke undefined behaviour). */
static inline void mf_store_from_f64(void *p, mf_dtype dt, double v) {
#define MF_SAT(T, lo, hi) (isnan(v) ? (T)0 : v <= (double)(lo) ? (T)(lo) : v >= (double)(hi) ? (T)(hi) : (T)v)
    switch (dt) {
    case MF_F32: *(float *)p = (float)v; break;
    case MF_F64: *(double *)p = v; break;
    case MF_I32: *(int32_t *)p = MF_SAT(int32_t, INT32_MIN, INT32_MAX); break;
    case MF_I64: *(int64_t *)p = MF_SAT(int64_t, -9.2233720368547758e18, 9.2233720368547748e18); break;
    case MF_U8: *(uint8_t *)p = MF_SAT(uint8_t, 0, 255); break;
    case MF_BOOL: *(uint8_t *)p = v != 0.0; break;
    case MF_BF16: *(uint16_t *)p = mf_f32_to_bf16((float)v); break;
    case MF_F16: *(uint16_t *)p = mf_f32_to_f16((float)v); break;
    case MF_I8: *(int8_t *)p = MF_SAT(int8_t, -128, 127); break;
    case MF_I16: *(int16_t *)p = MF_SAT(int16_t, -32768, 32767); break;
    case MF_U16: *(uint16_t *)p = MF_SAT(uint16_t, 0, 65535); break;
    default: break;
    }
#undef MF_SAT
}

#endif
