/* Kernel table of the random family, and the stream layout every backend
 * must reproduce bit for bit.
 *
 * Element i (row-major order of the view) of a draw with generator state
 * (seed, offset) reads 32-bit words from the Philox4x32-10 block with key
 * `seed` and counter (hi = attempt, lo = offset + i / per_block), where an
 * element takes `wpe` words (mf_rand_words_per_elem) and per_block = 4/wpe:
 *  - uniform: u = top 24 bits * 2^-24 (one word) or top 53 bits of
 *    (w0 << 32 | w1) * 2^-53 (two words, f64), value lo + (hi - lo) u;
 *  - normal (Box-Muller): elements 2j and 2j+1 of a block share one pair of
 *    uniforms (u1 from the pair's first wpe words, u2 from the next wpe;
 *    u1 made open at 0 by adding half a step); r = sqrt(-2 ln u1): 2j gets
 *    r cos(2 pi u2), 2j+1 gets r sin(2 pi u2);
 *  - gumbel: loc - scale ln(-ln u), u the open uniform;
 *  - trunc_normal: the normal value of attempt 0, 1, ... (counter hi) until
 *    it lies in [a, b] (MF_RAND_MAX_ATTEMPTS, then clamped);
 *  - bernoulli: one word per element whatever the dtype: scale where
 *    u >= p, else 0 (a dropout keep mask).
 * A draw of n elements consumes mf_rand_blocks(kind, dtype, n) counters. */
#ifndef MF_KERN_RANDOM_H
#define MF_KERN_RANDOM_H

#include "medfm/tensor.h"

typedef enum {
    MF_RAND_UNIFORM,      /* p[0] = lo, p[1] = hi */
    MF_RAND_NORMAL,       /* p[0] = mean, p[1] = std */
    MF_RAND_GUMBEL,       /* p[0] = loc, p[1] = scale */
    MF_RAND_TRUNC_NORMAL, /* p[0] = mean, p[1] = std, p[2] = a, p[3] = b */
    MF_RAND_BERNOULLI,    /* p[0] = drop probability, p[1] = value kept */
} mf_rand_kind;

#define MF_RAND_MAX_ATTEMPTS 256

static inline int mf_rand_words_per_elem(mf_rand_kind kind, mf_dtype dt) {
    return kind != MF_RAND_BERNOULLI && dt == MF_F64 ? 2 : 1;
}

static inline uint64_t mf_rand_blocks(mf_rand_kind kind, mf_dtype dt, int64_t n) {
    uint64_t per = (uint64_t)(4 / mf_rand_words_per_elem(kind, dt));
    return ((uint64_t)n + per - 1) / per;
}

struct mf_kern_random {
    /* Fills t (f32 or f64, any strides) as described above. */
    mf_status (*fill)(mf_rand_kind kind, mf_tensor *t, uint64_t seed, uint64_t offset, const double p[4]);
};

#endif
