/* Synthetic phantoms: a body ellipse(oid) holding two organs and 0..K-1
 * lesions, with per-structure textures, noise and CT- or MR-like contrast.
 * The image class is the number of lesions (capped), so it is visible and
 * learnable. Deterministic per (seed, index): every number comes from the
 * sample's own Philox stream and a per-pixel hash. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/data.h"

void mf_phantom_defaults(mf_phantom_opts *o, int dims) {
    o->size = dims == 3 ? 32 : 64;
    o->dims = dims;
    o->channels = 1;
    o->num_classes = 2;
    o->noise = 0.03;
    o->modality = "mixed";
}

typedef struct shape {
    double c[3], r[3]; /* centre, radii (x, y, z) in pixels */
    double cs, sn;     /* in-plane rotation */
    uint8_t label;
} shape;

static uint32_t hash32(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* paints the shape's label over its bounding box */
static void paint(uint8_t *lab, int64_t S, int dims, const shape *s) {
    double R = fmax(s->r[0], s->r[1]);
    int64_t x0 = (int64_t)floor(s->c[0] - R), x1 = (int64_t)ceil(s->c[0] + R);
    int64_t y0 = (int64_t)floor(s->c[1] - R), y1 = (int64_t)ceil(s->c[1] + R);
    int64_t z0 = 0, z1 = 0;
    if (dims == 3) {
        z0 = (int64_t)floor(s->c[2] - s->r[2]);
        z1 = (int64_t)ceil(s->c[2] + s->r[2]);
    }
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0, z0 = z0 < 0 ? 0 : z0;
    x1 = x1 >= S ? S - 1 : x1, y1 = y1 >= S ? S - 1 : y1, z1 = z1 >= S ? S - 1 : z1;
    double ia = 1 / (s->r[0] * s->r[0]), ib = 1 / (s->r[1] * s->r[1]), ic = dims == 3 ? 1 / (s->r[2] * s->r[2]) : 0;
    for (int64_t z = z0; z <= z1; z++) {
        double dz = dims == 3 ? (double)z - s->c[2] : 0, qz = dz * dz * ic;
        if (qz > 1)
            continue;
        for (int64_t y = y0; y <= y1; y++) {
            double dy = (double)y - s->c[1];
            uint8_t *row = lab + (z * S + y) * S;
            for (int64_t x = x0; x <= x1; x++) {
                double dx = (double)x - s->c[0];
                double u = dx * s->cs + dy * s->sn, v = -dx * s->sn + dy * s->cs;
                if (u * u * ia + v * v * ib + qz <= 1)
                    row[x] = s->label;
            }
        }
    }
}

mf_status mf_phantom(const mf_phantom_opts *o, uint64_t seed, int64_t index, mf_tensor **image, mf_tensor **mask,
                     int64_t *cls) {
    if (!o || (o->dims != 2 && o->dims != 3) || o->size < 8 || o->size > (o->dims == 3 ? 512 : 8192))
        return MF_ERR(MF_ERR_INVALID, "phantom: size %lld / dims %d out of range (size 8.., dims 2 or 3)",
                      o ? (long long)o->size : 0LL, o ? o->dims : 0);
    if (o->channels != 1 && o->channels != 3)
        return MF_ERR(MF_ERR_INVALID, "phantom: channels %d (1 or 3)", o->channels);
    if (o->num_classes < 1 || o->num_classes > 8)
        return MF_ERR(MF_ERR_INVALID, "phantom: num_classes %d (1..8)", o->num_classes);
    const char *mod = o->modality ? o->modality : "mixed";
    int mr;
    if (!strcmp(mod, "ct"))
        mr = 0;
    else if (!strcmp(mod, "mr"))
        mr = 1;
    else if (!strcmp(mod, "mixed"))
        mr = (int)(index & 1);
    else
        return MF_ERR(MF_ERR_INVALID, "phantom: modality '%s' (ct, mr or mixed)", mod);
    int dims = o->dims;
    int64_t S = o->size, n = dims == 3 ? S * S * S : S * S;
    mf_rng rng = mf_data_stream(seed, 0x9a47, (uint64_t)index, 0);
    double h = (double)S / 2;
    shape sh[16];
    int ns = 0;
    double ang = mf_data_range(&rng, -0.3, 0.3);
    shape body = {{h + mf_data_range(&rng, -2, 2) * S / 64, h + mf_data_range(&rng, -2, 2) * S / 64, h},
                  {S * mf_data_range(&rng, 0.38, 0.46), S * mf_data_range(&rng, 0.30, 0.40), S * 0.40},
                  cos(ang), sin(ang), 1};
    sh[ns++] = body;
    for (int k = 0; k < 2; k++) { /* organs: left (2) and right (3) of centre */
        double side = k == 0 ? -1 : 1, a2 = mf_data_range(&rng, -1, 1);
        shape org = {{body.c[0] + side * body.r[0] * mf_data_range(&rng, 0.35, 0.5), body.c[1] + body.r[1] * mf_data_range(&rng, -0.2, 0.2),
                      h + mf_data_range(&rng, -0.1, 0.1) * S},
                     {body.r[0] * mf_data_range(&rng, 0.25, 0.4), body.r[1] * mf_data_range(&rng, 0.3, 0.55),
                      S * mf_data_range(&rng, 0.15, 0.25)},
                     cos(a2), sin(a2), (uint8_t)(2 + k)};
        sh[ns++] = org;
    }
    int lesions = (int)mf_data_randint(&rng, o->num_classes);
    for (int k = 0; k < lesions; k++) {
        double rad = S * mf_data_range(&rng, 0.05, 0.08), t = mf_data_range(&rng, 0, 6.283185307179586);
        double f = mf_data_range(&rng, 0.1, 0.55);
        shape les = {{body.c[0] + cos(t) * f * body.r[0], body.c[1] + sin(t) * f * body.r[1], h + mf_data_range(&rng, -0.15, 0.15) * S},
                     {rad, rad, rad}, 1, 0, 4};
        sh[ns++] = les;
    }
    mf_tensor *lab_t = NULL, *img_t = NULL;
    int64_t mshape[3] = {S, S, S}, ishape[4] = {o->channels, S, S, S};
    MF_TRY(mf_tensor_zeros(dims, mshape, MF_U8, MF_DEVICE_CPU, &lab_t));
    uint8_t *lab = mf_tensor_data(lab_t);
    for (int k = 0; k < ns; k++)
        paint(lab, S, dims, &sh[k]);
    static const float ct[5] = {0.02f, 0.35f, 0.55f, 0.72f, 0.92f}, mrc[5] = {0.0f, 0.45f, 0.25f, 0.80f, 0.10f};
    const float *tab = mr ? mrc : ct;
    float base[5], amp[5];
    for (int l = 0; l < 5; l++) {
        base[l] = tab[l] + (float)mf_data_range(&rng, -0.03, 0.03);
        amp[l] = l == 0 ? 0 : (float)mf_data_range(&rng, 0.02, 0.06);
    }
    /* texture: separable sinusoids, tables per axis */
    double kx = mf_data_range(&rng, 0.2, 0.6), ky = mf_data_range(&rng, 0.2, 0.6), ph = mf_data_range(&rng, 0, 6.28);
    float *tx = malloc(sizeof(float) * 2 * (size_t)S), *ty = malloc(sizeof(float) * 2 * (size_t)S);
    mf_status st = MF_OK;
    if (!tx || !ty) {
        st = MF_ERR(MF_ERR_NOMEM, "phantom: out of memory");
        goto cleanup;
    }
    for (int64_t i = 0; i < S; i++) {
        tx[2 * i] = (float)sin(kx * i + ph), tx[2 * i + 1] = (float)cos(kx * i + ph);
        ty[2 * i] = (float)sin(ky * i), ty[2 * i + 1] = (float)cos(ky * i);
    }
    if (image) {
        MF_CHECK(mf_tensor_empty(dims + 1, ishape, MF_U8, MF_DEVICE_CPU, &img_t));
        uint8_t *im = mf_tensor_data(img_t);
        float nz = (float)o->noise * 2.0f / 4294967296.0f * 1.7320508f; /* uniform with std = noise */
        uint64_t hk = (uint64_t)rng.seed;
        for (int64_t i = 0; i < n; i++) {
            int64_t x = i % S, y = (i / S) % S;
            uint8_t l = lab[i];
            float tex = tx[2 * x] * ty[2 * y + 1] + tx[2 * x + 1] * ty[2 * y]; /* sin(kx x + ky y + ph) */
            float v = base[l] + amp[l] * tex + nz * ((float)hash32(hk + (uint64_t)i) - 2147483648.0f);
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            im[i] = (uint8_t)(v * 255.0f + 0.5f);
        }
        for (int c = 1; c < o->channels; c++) { /* faint tint per channel */
            float g = c == 1 ? 0.95f : 0.9f;
            for (int64_t i = 0; i < n; i++)
                im[c * n + i] = (uint8_t)(im[i] * g);
        }
    }
    if (cls)
        *cls = lesions < o->num_classes ? lesions : o->num_classes - 1;
    if (image) {
        *image = img_t;
        img_t = NULL;
    }
    if (mask) {
        *mask = lab_t;
        lab_t = NULL;
    }
cleanup:
    free(tx);
    free(ty);
    mf_tensor_release(lab_t);
    mf_tensor_release(img_t);
    return st;
}
