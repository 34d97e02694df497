/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11) as an inline function for kernels. A 128-bit counter and a
 * 64-bit key name each block of four 32-bit words; the word order follows
 * Random123 (ctr[0] is the low word of the low half). */
#ifndef MF_BASE_PHILOX_H
#define MF_BASE_PHILOX_H

#include <stdint.h>

#define MF_PHILOX_M0 0xD2511F53u
#define MF_PHILOX_M1 0xCD9E8D57u
#define MF_PHILOX_W0 0x9E3779B9u
#define MF_PHILOX_W1 0xBB67AE85u

static inline void mf_philox_block(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32), c2 = (uint32_t)ctr_hi,
             c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 += MF_PHILOX_W0;
            k1 += MF_PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)MF_PHILOX_M0 * c0, p1 = (uint64_t)MF_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

#endif
