/* Per-sample random streams for the data layer: an mf_rng whose seed mixes
 * (seed, epoch, index, view) and whose draws are Philox4x32-10 blocks at
 * successive counters, so any worker reproduces any sample's draws. */
#include <math.h>

#include "medfm/data.h"

static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Philox4x32-10 (Salmon et al. 2011), kept private to the data layer. */
static void philox(uint64_t key, uint64_t ctr, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

mf_rng mf_data_stream(uint64_t seed, uint64_t epoch, uint64_t index, uint64_t view) {
    mf_rng r;
    r.seed = mix64(mix64(mix64(seed) ^ epoch) ^ (index * 0x100000001B3ull)) ^ mix64(view + 0x51);
    r.offset = 0;
    return r;
}

double mf_data_uniform(mf_rng *rng) {
    uint32_t w[4];
    philox(rng->seed, rng->offset++, w);
    uint64_t bits = ((uint64_t)w[0] << 21) ^ (uint64_t)w[1];
    return (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

double mf_data_range(mf_rng *rng, double lo, double hi) { return lo + (hi - lo) * mf_data_uniform(rng); }

double mf_data_normal(mf_rng *rng) {
    double u = mf_data_uniform(rng), v = mf_data_uniform(rng);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

int64_t mf_data_randint(mf_rng *rng, int64_t n) {
    if (n <= 1)
        return 0;
    int64_t k = (int64_t)(mf_data_uniform(rng) * (double)n);
    return k >= n ? n - 1 : k;
}
