/* Generator state and the public Philox block function. The state is just
 * (seed, offset): every draw is a pure function of them, which is what
 * makes results independent of thread count and device. */
#include "core/base/philox.h"
#include "medfm/ops/random.h"

void mf_rng_init(mf_rng *rng, uint64_t seed) {
    rng->seed = seed;
    rng->offset = 0;
}

void mf_philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]) {
    mf_philox_block(key, counter_hi, counter_lo, out);
}
