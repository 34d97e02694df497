/* dtype names and sizes, device names, and the IEEE half conversions. */
#include "core/tensor/dtype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
    bool is_float;
} dtype_info[MF_DTYPE_COUNT] = {
    [MF_F32] = {"f32", 4, true},  [MF_F64] = {"f64", 8, true},   [MF_I32] = {"i32", 4, false},
    [MF_I64] = {"i64", 8, false}, [MF_U8] = {"u8", 1, false},    [MF_BOOL] = {"bool", 1, false},
    [MF_BF16] = {"bf16", 2, true}, [MF_F16] = {"f16", 2, true},  [MF_I8] = {"i8", 1, false},
    [MF_I16] = {"i16", 2, false}, [MF_U16] = {"u16", 2, false},
};

size_t mf_dtype_size(mf_dtype dt) { return (unsigned)dt < MF_DTYPE_COUNT ? dtype_info[dt].size : 0; }

const char *mf_dtype_name(mf_dtype dt) { return (unsigned)dt < MF_DTYPE_COUNT ? dtype_info[dt].name : "?"; }

bool mf_dtype_is_float(mf_dtype dt) { return (unsigned)dt < MF_DTYPE_COUNT && dtype_info[dt].is_float; }

bool mf_device_equal(mf_device a, mf_device b) {
    return a.type == b.type && (a.type == MF_CPU || a.index == b.index);
}

const char *mf_device_name(mf_device d) {
    static _Thread_local char buf[4][32];
    static _Thread_local int slot;
    char *s = buf[slot++ & 3];
    if (d.type == MF_CPU)
        snprintf(s, 32, "cpu");
    else if (d.type == MF_CUDA)
        snprintf(s, 32, "cuda:%d", d.index);
    else
        snprintf(s, 32, "device%d:%d", d.type, d.index);
    return s;
}

mf_status mf_device_parse(const char *s, mf_device *out) {
    if (!s)
        return MF_ERR(MF_ERR_INVALID, "device: missing name (expected cpu, cuda or cuda:N)");
    if (strcmp(s, "cpu") == 0) {
        *out = MF_DEVICE_CPU;
        return MF_OK;
    }
    if (strcmp(s, "cuda") == 0) {
        *out = (mf_device){MF_CUDA, 0};
        return MF_OK;
    }
    if (strncmp(s, "cuda:", 5) == 0 && s[5]) {
        char *end;
        long v = strtol(s + 5, &end, 10);
        if (*end == '\0' && v >= 0 && v < 1024) {
            *out = (mf_device){MF_CUDA, (int32_t)v};
            return MF_OK;
        }
    }
    return MF_ERR(MF_ERR_INVALID, "device '%s' is not one of cpu, cuda, cuda:N", s);
}

float mf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t mf_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (absu >= 0x477ff000u)                 /* rounds to >= 65520: inf */
        return (uint16_t)(sign | 0x7c00u);
    if (absu < 0x38800000u) {
        /* Below the smallest normal half: the subnormal step is 2^-24, and
         * scaling by 2^24 is exact, so rintf gives round-to-nearest-even. */
        float mag;
        memcpy(&mag, &absu, 4);
        return (uint16_t)(sign | (uint32_t)rintf(mag * 16777216.0f));
    }
    uint32_t r = absu - 0x38000000u; /* rebias exponent 127 -> 15 */
    uint32_t res = r >> 13;
    uint32_t rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (res & 1u)))
        res++;
    return (uint16_t)(sign | res);
}
