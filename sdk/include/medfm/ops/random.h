/* Random numbers from a counter-based Philox4x32-10 generator: a seed and
 * an offset name every draw, so a seed reproduces bit for bit on any
 * thread count, and the CUDA backend can produce the same streams. */
#ifndef MEDFM_OPS_RANDOM_H
#define MEDFM_OPS_RANDOM_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_rng {
    uint64_t seed;
    uint64_t offset; /* advances by the counters each draw consumes */
} mf_rng;

void mf_rng_init(mf_rng *rng, uint64_t seed);
/* Element i of a draw reads block (key = seed, counter = offset + i / 4)
 * for f32 (i / 2 for f64, which takes 64 bits per value); the exact layout
 * every backend reproduces is in core/backend/kern_random.h. */
/* One Philox4x32-10 block: 4 words from (key, counter). */
void mf_philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]);

/* Fill in place (no autograd). */
mf_status mf_rand_uniform_(mf_tensor *t, mf_rng *rng, double lo, double hi);
mf_status mf_rand_normal_(mf_tensor *t, mf_rng *rng, double mean, double std);
mf_status mf_rand_gumbel_(mf_tensor *t, mf_rng *rng, double loc, double scale);
/* mean-0 draws truncated to [a, b] (resampled, like timm's trunc_normal_). */
mf_status mf_rand_trunc_normal_(mf_tensor *t, mf_rng *rng, double mean, double std, double a, double b);

/* Inverted dropout: zeroes with probability p and scales by 1/(1-p) when
 * training; identity otherwise (then *out is x itself with one more
 * reference, like mf_contiguous). The mask uses one 32-bit word per
 * element whatever the dtype, so f32 and f64 runs drop the same elements. */
mf_status mf_dropout(const mf_tensor *x, double p, bool training, mf_rng *rng, mf_tensor **out);
/* Stochastic depth: drops whole samples (dim 0) with probability p. */
mf_status mf_drop_path(const mf_tensor *x, double p, bool training, mf_rng *rng, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
