/* Synthetic 2D phantoms for classification: one shape per class (disk,
 * square, ring, cross, bars) at a random place, size and brightness on a
 * noisy background. Sample i of seed s is a pure function of (s, i), drawn
 * from Philox, so any subset is reproducible without storing anything. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/runner/source.h"
#include "medfm/ops/random.h"

#define MAX_SHAPES 5

static const mf_key_spec source_keys[] = {
    {"source", MF_KEY_CHOICE, "synthetic", "where samples come from", MF_NO_LIMIT, MF_NO_LIMIT, "synthetic", NULL,
     false},
    {"n", MF_KEY_INT, "512", "number of samples", 1, 1e9, NULL, NULL, false},
    {"size", MF_KEY_INT, "32", "image height and width", 8, 4096, NULL, NULL, false},
    {"channels", MF_KEY_INT, "1", "image channels", 1, 64, NULL, NULL, false},
    {"classes", MF_KEY_INT, "4", "number of shape classes (at most 5)", 2, MAX_SHAPES, NULL, NULL, false},
    {"noise", MF_KEY_FLOAT, "0.2", "standard deviation of the background noise", 0, 10, NULL, NULL, false},
    {"seed", MF_KEY_INT, "0", "generator seed (use different seeds for train and val)", 0, MF_NO_LIMIT, NULL, NULL,
     false},
};
const mf_schema mf_source_schema = {"data split", source_keys, sizeof source_keys / sizeof source_keys[0], false};

typedef struct synth {
    int64_t size, channels, classes;
    double noise;
    uint64_t seed;
} synth;

/* Uniform draws in [0, 1) for sample `i`, stream `k`. */
static void draws(uint64_t seed, int64_t i, uint64_t k, float out[4]) {
    uint32_t w[4];
    mf_philox4x32(seed ^ 0x5eedULL, (uint64_t)i, k, w);
    for (int j = 0; j < 4; j++)
        out[j] = (float)((w[j] >> 8) * (1.0 / 16777216.0));
}

static float inside(int cls, float dx, float dy, float r) {
    float ax = fabsf(dx), ay = fabsf(dy), d = sqrtf(dx * dx + dy * dy);
    switch (cls) {
    case 0: return d <= r;                                    /* disk */
    case 1: return ax <= r * 0.85f && ay <= r * 0.85f;        /* square */
    case 2: return d <= r && d >= r * 0.55f;                  /* ring */
    case 3: return (ax <= r * 0.3f && ay <= r) || (ay <= r * 0.3f && ax <= r); /* cross */
    default: return ax <= r && fmodf(dy + 4 * r, r * 0.8f) < r * 0.4f && ay <= r; /* bars */
    }
}

static void render(const synth *s, int64_t i, float *img, int64_t *label) {
    float u[4], v[4];
    draws(s->seed, i, 0, u);
    int cls = (int)(u[0] * (float)s->classes);
    if (cls >= s->classes)
        cls = (int)s->classes - 1;
    *label = cls;
    const float n = (float)s->size;
    float cx = n * (0.3f + 0.4f * u[1]), cy = n * (0.3f + 0.4f * u[2]);
    float r = n * (0.16f + 0.12f * u[3]);
    draws(s->seed, i, 1, v);
    float bright = 0.6f + 0.4f * v[0];
    int64_t hw = s->size * s->size;
    for (int64_t p = 0; p < hw; p += 2) {
        float g[4];
        draws(s->seed, i, 2 + (uint64_t)p, g);
        /* Box-Muller pair: noise for pixels p and p+1. */
        float rad = sqrtf(-2.f * logf(g[0] + 1e-7f)), th = 6.2831853f * g[1];
        float nz[2] = {rad * cosf(th), rad * sinf(th)};
        for (int q = 0; q < 2 && p + q < hw; q++) {
            int64_t y = (p + q) / s->size, x = (p + q) % s->size;
            float val = bright * inside(cls, (float)x + 0.5f - cx, (float)y + 0.5f - cy, r) +
                        (float)s->noise * nz[q];
            for (int64_t c = 0; c < s->channels; c++)
                img[c * hw + p + q] = val;
        }
    }
}

static mf_status synth_get(mf_source *src, const int64_t *idx, int count, mf_batch *out) {
    const synth *s = src->state;
    int64_t ishape[4] = {count, s->channels, s->size, s->size}, lshape[1] = {count};
    mf_tensor *img, *lab;
    MF_TRY(mf_tensor_empty(4, ishape, MF_F32, MF_DEVICE_CPU, &img));
    mf_status st = mf_tensor_empty(1, lshape, MF_I64, MF_DEVICE_CPU, &lab);
    if (st != MF_OK) {
        mf_tensor_release(img);
        return st;
    }
    float *ip = mf_tensor_data(img);
    int64_t *lp = mf_tensor_data(lab);
    int64_t per = s->channels * s->size * s->size;
    for (int b = 0; b < count; b++) {
        if (idx[b] < 0 || idx[b] >= src->n) {
            mf_tensor_release(img);
            mf_tensor_release(lab);
            return MF_ERR(MF_ERR_INVALID, "synthetic source: sample %lld outside [0, %lld)", (long long)idx[b],
                          (long long)src->n);
        }
        render(s, idx[b], ip + b * per, lp + b);
    }
    out->size = count;
    MF_TRY(mf_batch_put(out, "image", img));
    return mf_batch_put(out, "label", lab);
}

static void synth_destroy(mf_source *s) {
    free(s->state);
    free(s);
}

mf_status mf_source_new(const mf_cfg *section, mf_source **out) {
    *out = NULL;
    int64_t n, size, ch, cls, seed;
    double noise;
    MF_TRY(mf_cfg_get_int(section, "n", 512, &n));
    MF_TRY(mf_cfg_get_int(section, "size", 32, &size));
    MF_TRY(mf_cfg_get_int(section, "channels", 1, &ch));
    MF_TRY(mf_cfg_get_int(section, "classes", 4, &cls));
    MF_TRY(mf_cfg_get_int(section, "seed", 0, &seed));
    MF_TRY(mf_cfg_get_float(section, "noise", 0.2, &noise));
    mf_source *s = calloc(1, sizeof *s);
    synth *p = calloc(1, sizeof *p);
    if (!s || !p) {
        free(s);
        free(p);
        return MF_ERR(MF_ERR_NOMEM, "synthetic source: out of memory");
    }
    *p = (synth){size, ch, cls, noise, (uint64_t)seed};
    *s = (mf_source){n, synth_get, synth_destroy, p};
    *out = s;
    return MF_OK;
}

void mf_source_free(mf_source *s) {
    if (s)
        s->destroy(s);
}

void mf_source_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm) {
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t w[4];
        mf_philox4x32(seed ^ 0xda7aULL, (uint64_t)epoch, (uint64_t)i, w);
        uint64_t r = ((uint64_t)w[0] << 32) | w[1];
        int64_t j = (int64_t)(r % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
