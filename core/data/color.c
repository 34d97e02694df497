/* 2-D intensity transforms on [0, 1] images: colour jitter (torchvision's
 * factor ranges and random order), grayscale, Gaussian blur, solarise,
 * per-channel normalisation. They leave the view's map untouched. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/transforms.h"

static mf_status prep(mf_aug *v, const char *op) {
    if (!v || !v->image)
        return MF_ERR(MF_ERR_INVALID, "%s: empty view", op);
    return mf_aug_to_float(v);
}

static float clamp01(float x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

static void gray_plane(const float *img, int64_t C, int64_t n, float *g) {
    if (C < 3) {
        memcpy(g, img, sizeof(float) * (size_t)n);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        g[i] = 0.299f * img[i] + 0.587f * img[n + i] + 0.114f * img[2 * n + i];
}

static void blend(float *img, int64_t C, int64_t n, const float *other, float other_scalar, float f) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < n; i++) {
            float o = other ? other[i] : other_scalar;
            img[c * n + i] = clamp01(f * img[c * n + i] + (1 - f) * o);
        }
}

static void hue_shift(float *img, int64_t n, float h) {
    float *r = img, *g = img + n, *b = img + 2 * n;
    for (int64_t i = 0; i < n; i++) {
        float R = r[i], G = g[i], B = b[i];
        float mx = fmaxf(R, fmaxf(G, B)), mn = fminf(R, fminf(G, B)), d = mx - mn;
        float hh = 0, s = mx > 0 ? d / mx : 0, vv = mx;
        if (d > 0) {
            if (mx == R)
                hh = fmodf((G - B) / d, 6.0f);
            else if (mx == G)
                hh = (B - R) / d + 2;
            else
                hh = (R - G) / d + 4;
            hh /= 6.0f;
        }
        hh += h;
        hh -= floorf(hh);
        float hf = hh * 6.0f;
        int k = (int)hf % 6;
        float f = hf - floorf(hf), p = vv * (1 - s), q = vv * (1 - s * f), t = vv * (1 - s * (1 - f));
        float o[6][3] = {{vv, t, p}, {q, vv, p}, {p, vv, t}, {p, q, vv}, {t, p, vv}, {vv, p, q}};
        r[i] = o[k][0], g[i] = o[k][1], b[i] = o[k][2];
    }
}

mf_status mf_tf_color_jitter(mf_aug *v, mf_rng *rng, double brightness, double contrast, double saturation,
                             double hue) {
    MF_TRY(prep(v, "color_jitter"));
    if (brightness < 0 || contrast < 0 || saturation < 0 || hue < 0 || hue > 0.5)
        return MF_ERR(MF_ERR_INVALID, "color_jitter: brightness %g, contrast %g, saturation %g must be >= 0 and hue %g "
                      "in [0, 0.5]", brightness, contrast, saturation, hue);
    int64_t C = v->image->shape[0], n = mf_tensor_numel(v->image) / C;
    float *img = mf_tensor_data(v->image);
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) { /* random permutation, like torch.randperm(4) */
        int j = (int)mf_data_randint(rng, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    double fb = brightness > 0 ? mf_data_range(rng, fmax(0, 1 - brightness), 1 + brightness) : 1;
    double fc = contrast > 0 ? mf_data_range(rng, fmax(0, 1 - contrast), 1 + contrast) : 1;
    double fs = saturation > 0 ? mf_data_range(rng, fmax(0, 1 - saturation), 1 + saturation) : 1;
    double fh = hue > 0 ? mf_data_range(rng, -hue, hue) : 0;
    float *g = NULL;
    if ((contrast > 0 || saturation > 0) && !(g = malloc(sizeof(float) * (size_t)n)))
        return MF_ERR(MF_ERR_NOMEM, "color_jitter: out of memory");
    for (int k = 0; k < 4; k++) {
        switch (order[k]) {
        case 0:
            if (brightness > 0)
                blend(img, C, n, NULL, 0, (float)fb);
            break;
        case 1:
            if (contrast > 0) {
                gray_plane(img, C, n, g);
                double mean = 0;
                for (int64_t i = 0; i < n; i++)
                    mean += g[i];
                blend(img, C, n, NULL, (float)(mean / (double)n), (float)fc);
            }
            break;
        case 2:
            if (saturation > 0 && C >= 3) {
                gray_plane(img, C, n, g);
                blend(img, 3, n, g, 0, (float)fs);
            }
            break;
        case 3:
            if (hue > 0 && C >= 3)
                hue_shift(img, n, (float)fh);
            break;
        }
    }
    free(g);
    return MF_OK;
}

mf_status mf_tf_grayscale(mf_aug *v, int out_channels) {
    MF_TRY(prep(v, "grayscale"));
    if (out_channels < 1 || out_channels > 4)
        return MF_ERR(MF_ERR_INVALID, "grayscale: out_channels %d", out_channels);
    int64_t C = v->image->shape[0], H = v->image->shape[1], W = v->image->shape[2], n = H * W;
    mf_tensor *y;
    MF_TRY(mf_tensor_empty(3, (int64_t[]){out_channels, H, W}, MF_F32, MF_DEVICE_CPU, &y));
    float *d = mf_tensor_data(y);
    gray_plane(mf_tensor_data(v->image), C, n, d);
    for (int c = 1; c < out_channels; c++)
        memcpy(d + c * n, d, sizeof(float) * (size_t)n);
    mf_tensor_release(v->image);
    v->image = y;
    return MF_OK;
}

/* Separable blur with reflect padding; kernel radius ceil(3 sigma). */
mf_status mf_tf_gaussian_blur(mf_aug *v, double sigma) {
    MF_TRY(prep(v, "gaussian_blur"));
    if (!(sigma > 0) || sigma > 100)
        return MF_ERR(MF_ERR_INVALID, "gaussian_blur: sigma %g", sigma);
    int64_t C = v->image->shape[0], H = v->image->shape[1], W = v->image->shape[2];
    int r = (int)ceil(3 * sigma);
    float *k = malloc(sizeof(float) * (size_t)(2 * r + 1)), *tmp = malloc(sizeof(float) * (size_t)(H > W ? H : W));
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return MF_ERR(MF_ERR_NOMEM, "gaussian_blur: out of memory");
    }
    double s = 0;
    for (int i = -r; i <= r; i++)
        s += k[i + r] = (float)exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * r; i++)
        k[i] = (float)(k[i] / s);
    float *img = mf_tensor_data(v->image);
#define REFL(i, n) ((n) == 1 ? 0 : (i) < 0 ? -(i) % (2 * (n) - 2) : (i))
    for (int64_t c = 0; c < C; c++) {
        float *p = img + c * H * W;
        for (int64_t y = 0; y < H; y++) {
            float *row = p + y * W;
            for (int64_t x = 0; x < W; x++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    int64_t j = x + i;
                    j = j < 0 ? -j : j;
                    j = j >= W ? 2 * (W - 1) - j : j;
                    j = j < 0 ? 0 : j >= W ? W - 1 : j;
                    acc += k[i + r] * row[j];
                }
                tmp[x] = acc;
            }
            memcpy(row, tmp, sizeof(float) * (size_t)W);
        }
        for (int64_t x = 0; x < W; x++) {
            for (int64_t y = 0; y < H; y++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    int64_t j = y + i;
                    j = j < 0 ? -j : j;
                    j = j >= H ? 2 * (H - 1) - j : j;
                    j = j < 0 ? 0 : j >= H ? H - 1 : j;
                    acc += k[i + r] * p[j * W + x];
                }
                tmp[y] = acc;
            }
            for (int64_t y = 0; y < H; y++)
                p[y * W + x] = tmp[y];
        }
    }
#undef REFL
    free(k);
    free(tmp);
    return MF_OK;
}

mf_status mf_tf_solarize(mf_aug *v, double threshold) {
    MF_TRY(prep(v, "solarize"));
    float *d = mf_tensor_data(v->image);
    int64_t n = mf_tensor_numel(v->image);
    for (int64_t i = 0; i < n; i++)
        if (d[i] >= threshold)
            d[i] = 1.0f - d[i];
    return MF_OK;
}

mf_status mf_tf_normalize(mf_aug *v, const double *mean, const double *std, int n) {
    MF_TRY(prep(v, "normalize"));
    int64_t C = v->image->shape[0];
    if (n != 1 && n != C)
        return MF_ERR(MF_ERR_SHAPE, "normalize: %d mean/std values for an image of %lld channels %s", n, (long long)C,
                      MF_SHAPE(v->image));
    int64_t per = mf_tensor_numel(v->image) / C;
    float *d = mf_tensor_data(v->image);
    for (int64_t c = 0; c < C; c++) {
        double m = mean[n == 1 ? 0 : c], s = std[n == 1 ? 0 : c];
        if (!(s > 0))
            return MF_ERR(MF_ERR_INVALID, "normalize: std %g of channel %lld must be positive", s, (long long)c);
        float a = (float)(1.0 / s), b = (float)(-m / s);
        for (int64_t i = 0; i < per; i++)
            d[c * per + i] = d[c * per + i] * a + b;
    }
    return MF_OK;
}
