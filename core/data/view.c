/* Views and the 2-D geometric transforms: each resamples the image through
 * an affine map (output pixel -> current pixel) and composes that map into
 * the view's map to the source image, so any view pixel can be traced back
 * to where it came from. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/ops/view.h"
#include "medfm/transforms.h"

mf_status mf_aug_init(mf_aug *v, int dims, mf_tensor *image, mf_tensor *mask) {
    memset(v, 0, sizeof *v);
    if (dims != 2 && dims != 3)
        return MF_ERR(MF_ERR_INVALID, "view: dims must be 2 or 3, got %d", dims);
    if (!image || image->ndim != dims + 1)
        return MF_ERR(MF_ERR_SHAPE, "view: a %d-D image must be (C, %s), got %s", dims, dims == 2 ? "H, W" : "D, H, W",
                      image ? MF_SHAPE(image) : "none");
    if (mask) {
        bool ok = mask->ndim == dims;
        for (int d = 0; ok && d < dims; d++)
            ok = mask->shape[d] == image->shape[d + 1];
        if (!ok)
            return MF_ERR(MF_ERR_SHAPE, "view: mask %s does not match image %s", MF_SHAPE(mask), MF_SHAPE(image));
    }
    v->dims = dims;
    v->image = mf_tensor_retain(image);
    v->mask = mask ? mf_tensor_retain(mask) : NULL;
    for (int r = 0; r < 3; r++)
        v->map[r][r] = 1;
    return MF_OK;
}

void mf_aug_clear(mf_aug *v) {
    mf_tensor_clear(&v->image);
    mf_tensor_clear(&v->mask);
}

void mf_aug_to_source(const mf_aug *v, const double p[3], double src[3]) {
    for (int r = 0; r < 3; r++)
        src[r] = v->map[r][0] * p[0] + v->map[r][1] * p[1] + v->map[r][2] * p[2] + v->map[r][3];
    if (v->dims == 2)
        src[2] = 0;
}

void mf_aug_map2(const mf_aug *v, double m[2][3]) {
    for (int r = 0; r < 2; r++) {
        m[r][0] = v->map[r][0];
        m[r][1] = v->map[r][1];
        m[r][2] = v->map[r][3];
    }
}

/* map <- map o inner (inner: new view pixel -> old view pixel, 3x4 form) */
static void compose(mf_aug *v, const double inner[3][4]) {
    double r[3][4];
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 4; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++)
                s += v->map[i][k] * inner[k][j];
            r[i][j] = s + (j == 3 ? v->map[i][3] : 0);
        }
    }
    memcpy(v->map, r, sizeof r);
}

static float int_scale(mf_dtype dt) { return dt == MF_U8 ? 1.0f / 255 : dt == MF_U16 ? 1.0f / 65535 : 1.0f; }

mf_status mf_aug_to_float(mf_aug *v) {
    mf_tensor *x = v->image;
    if (x->dtype == MF_F32 && mf_tensor_is_contiguous(x) && x->refcount == 1)
        return MF_OK;
    mf_tensor *y;
    MF_TRY(mf_tensor_empty(x->ndim, x->shape, MF_F32, MF_DEVICE_CPU, &y));
    float *d = mf_tensor_data(y);
    int64_t n = mf_tensor_numel(x);
    mf_status st = mf_tensor_to_host(x, MF_F32, d, (size_t)n * sizeof(float));
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    float s = int_scale(x->dtype);
    if (s != 1.0f)
        for (int64_t i = 0; i < n; i++)
            d[i] *= s;
    mf_tensor_release(v->image);
    v->image = y;
    return MF_OK;
}

/* Bilinear warp of a (C, H, W) image; m maps output (x, y) to input (x, y).
 * Samples outside the input's pixel area read 0; inside it, edges clamp. */
#define WARP_BODY(T)                                                                                          \
    for (int64_t c = 0; c < C; c++) {                                                                         \
        const T *s = (const T *)src + c * H * W;                                                              \
        float *o = dst + c * oh * ow;                                                                         \
        for (int64_t y = 0; y < oh; y++)                                                                      \
            for (int64_t x = 0; x < ow; x++) {                                                                \
                double sx = m[0][0] * x + m[0][1] * y + m[0][2], sy = m[1][0] * x + m[1][1] * y + m[1][2];    \
                if (sx < -0.5 || sy < -0.5 || sx > W - 0.5 || sy > H - 0.5) {                                 \
                    o[y * ow + x] = 0;                                                                        \
                    continue;                                                                                 \
                }                                                                                             \
                sx = sx < 0 ? 0 : sx > W - 1 ? W - 1 : sx;                                                    \
                sy = sy < 0 ? 0 : sy > H - 1 ? H - 1 : sy;                                                    \
                int64_t x0 = (int64_t)sx, y0 = (int64_t)sy;                                                   \
                int64_t x1 = x0 + 1 < W ? x0 + 1 : x0, y1 = y0 + 1 < H ? y0 + 1 : y0;                         \
                float fx = (float)(sx - x0), fy = (float)(sy - y0);                                           \
                float a = s[y0 * W + x0], b = s[y0 * W + x1], cc = s[y1 * W + x0], d = s[y1 * W + x1];        \
                float top = a + fx * (b - a), bot = cc + fx * (d - cc);                                       \
                o[y * ow + x] = (top + fy * (bot - top)) * scale;                                             \
            }                                                                                                 \
    }

typedef struct tap {
    int64_t i0, i1;
    float f;
    bool in;
} tap;

static void taps(double a, double b, int64_t n_out, int64_t n_in, tap *t) {
    for (int64_t o = 0; o < n_out; o++) {
        double s = a * (double)o + b;
        t[o].in = !(s < -0.5 || s > (double)n_in - 0.5);
        s = s < 0 ? 0 : s > (double)(n_in - 1) ? (double)(n_in - 1) : s;
        t[o].i0 = (int64_t)s;
        t[o].i1 = t[o].i0 + 1 < n_in ? t[o].i0 + 1 : t[o].i0;
        t[o].f = (float)(s - (double)t[o].i0);
    }
}

#define SEP_BODY(T)                                                                                  \
    for (int64_t c = 0; c < C; c++) {                                                                \
        const T *s = (const T *)src + c * H * W;                                                     \
        float *o = dst + c * oh * ow;                                                                \
        for (int64_t y = 0; y < oh; y++) {                                                           \
            const tap *ty = &tyv[y];                                                                 \
            const T *r0 = s + ty->i0 * W, *r1 = s + ty->i1 * W;                                      \
            float fy = ty->f, *orow = o + y * ow;                                                    \
            for (int64_t x = 0; x < ow; x++) {                                                       \
                const tap *tx = &txv[x];                                                             \
                float a = r0[tx->i0], b = r0[tx->i1], cc = r1[tx->i0], d = r1[tx->i1];               \
                float top = a + tx->f * (b - a), bot = cc + tx->f * (d - cc);                        \
                orow[x] = (ty->in && tx->in) ? (top + fy * (bot - top)) * scale : 0.0f;              \
            }                                                                                        \
        }                                                                                            \
    }

static mf_status warp_separable(const void *src, mf_dtype dt, int64_t C, int64_t H, int64_t W, float *dst, int64_t oh,
                                int64_t ow, const double m[2][3], float scale) {
    tap *txv = malloc(sizeof(tap) * (size_t)ow), *tyv = malloc(sizeof(tap) * (size_t)oh);
    if (!txv || !tyv) {
        free(txv);
        free(tyv);
        return MF_ERR(MF_ERR_NOMEM, "warp: out of memory");
    }
    taps(m[0][0], m[0][2], ow, W, txv);
    taps(m[1][1], m[1][2], oh, H, tyv);
    if (dt == MF_U8) {
        SEP_BODY(uint8_t)
    } else {
        SEP_BODY(float)
    }
    free(txv);
    free(tyv);
    return MF_OK;
}

static mf_status warp(mf_aug *v, int64_t oh, int64_t ow, const double m[2][3], const char *op) {
    if (v->dims != 2)
        return MF_ERR(MF_ERR_INVALID, "%s: needs a 2-D view, got a %d-D one", op, v->dims);
    if (oh < 1 || ow < 1 || oh > 65536 || ow > 65536)
        return MF_ERR(MF_ERR_INVALID, "%s: output size %lldx%lld", op, (long long)oh, (long long)ow);
    mf_tensor *x = v->image;
    int64_t C = x->shape[0], H = x->shape[1], W = x->shape[2];
    if (H < 1 || W < 1)
        return MF_ERR(MF_ERR_SHAPE, "%s: empty image %s", op, MF_SHAPE(x));
    mf_tensor *src_t = NULL, *out = NULL, *mout = NULL;
    mf_status st = MF_OK;
    if (!(x->dtype == MF_U8 || x->dtype == MF_F32) || !mf_tensor_is_contiguous(x)) {
        MF_TRY(mf_aug_to_float(v));
        x = v->image;
    }
    src_t = mf_tensor_retain(x);
    MF_CHECK(mf_tensor_empty(3, (int64_t[]){C, oh, ow}, MF_F32, MF_DEVICE_CPU, &out));
    {
        const void *src = mf_tensor_data(src_t);
        float *dst = mf_tensor_data(out);
        float scale = int_scale(x->dtype);
        if (m[0][1] == 0 && m[1][0] == 0) {
            /* axis-aligned (crops, resizes, flips): per-column and per-row
             * tables, so the inner loop is two lerps */
            st = warp_separable(src, x->dtype, C, H, W, dst, oh, ow, m, scale);
            if (st != MF_OK)
                goto cleanup;
        } else if (x->dtype == MF_U8) {
            WARP_BODY(uint8_t)
        } else {
            WARP_BODY(float)
        }
    }
    if (v->mask) { /* nearest neighbour, outside -> 0 */
        mf_tensor *mk = v->mask, *mc = NULL;
        MF_CHECK(mf_contiguous(mk, &mc));
        st = mf_tensor_zeros(2, (int64_t[]){oh, ow}, mk->dtype, MF_DEVICE_CPU, &mout);
        if (st != MF_OK) {
            mf_tensor_release(mc);
            goto cleanup;
        }
        size_t es = mf_dtype_size(mk->dtype);
        const char *s = mf_tensor_data(mc);
        char *d = mf_tensor_data(mout);
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xx = 0; xx < ow; xx++) {
                double sx = m[0][0] * xx + m[0][1] * y + m[0][2], sy = m[1][0] * xx + m[1][1] * y + m[1][2];
                int64_t ix = (int64_t)floor(sx + 0.5), iy = (int64_t)floor(sy + 0.5);
                if (ix >= 0 && iy >= 0 && ix < W && iy < H)
                    memcpy(d + (size_t)(y * ow + xx) * es, s + (size_t)(iy * W + ix) * es, es);
            }
        mf_tensor_release(mc);
        mf_tensor_release(v->mask);
        v->mask = mout;
        mout = NULL;
    }
    mf_tensor_release(v->image);
    v->image = out;
    out = NULL;
    double inner[3][4] = {{m[0][0], m[0][1], 0, m[0][2]}, {m[1][0], m[1][1], 0, m[1][2]}, {0, 0, 1, 0}};
    compose(v, inner);
cleanup:
    mf_tensor_release(src_t);
    mf_tensor_release(out);
    return st;
}

mf_status mf_tf_resized_crop(mf_aug *v, double top, double left, double h, double w, int64_t out_h, int64_t out_w) {
    if (!(h > 0) || !(w > 0))
        return MF_ERR(MF_ERR_INVALID, "resized_crop: box %gx%g is empty", h, w);
    double sx = w / (double)out_w, sy = h / (double)out_h;
    double m[2][3] = {{sx, 0, left + 0.5 * sx - 0.5}, {0, sy, top + 0.5 * sy - 0.5}};
    return warp(v, out_h, out_w, m, "resized_crop");
}

mf_status mf_tf_resize(mf_aug *v, int64_t out_h, int64_t out_w) {
    if (v->dims != 2)
        return MF_ERR(MF_ERR_INVALID, "resize: needs a 2-D view");
    return mf_tf_resized_crop(v, 0, 0, (double)v->image->shape[1], (double)v->image->shape[2], out_h, out_w);
}

mf_status mf_tf_random_resized_crop(mf_aug *v, mf_rng *rng, int64_t out_h, int64_t out_w, const double scale[2],
                                    const double ratio[2]) {
    if (v->dims != 2)
        return MF_ERR(MF_ERR_INVALID, "random_resized_crop: needs a 2-D view");
    if (!(scale[0] > 0 && scale[0] <= scale[1]) || !(ratio[0] > 0 && ratio[0] <= ratio[1]))
        return MF_ERR(MF_ERR_INVALID, "random_resized_crop: scale [%g, %g] / ratio [%g, %g] must be positive ranges",
                      scale[0], scale[1], ratio[0], ratio[1]);
    double H = (double)v->image->shape[1], W = (double)v->image->shape[2], area = H * W;
    double lr0 = log(ratio[0]), lr1 = log(ratio[1]);
    for (int t = 0; t < 10; t++) {
        double a = area * mf_data_range(rng, scale[0], scale[1]);
        double r = exp(mf_data_range(rng, lr0, lr1));
        double w = floor(sqrt(a * r) + 0.5), h = floor(sqrt(a / r) + 0.5);
        if (w > 0 && h > 0 && w <= W && h <= H) {
            double top = (double)mf_data_randint(rng, (int64_t)(H - h) + 1);
            double left = (double)mf_data_randint(rng, (int64_t)(W - w) + 1);
            return mf_tf_resized_crop(v, top, left, h, w, out_h, out_w);
        }
    }
    double in_ratio = W / H, w = W, h = H;
    if (in_ratio < ratio[0])
        h = floor(w / ratio[0] + 0.5);
    else if (in_ratio > ratio[1])
        w = floor(h * ratio[1] + 0.5);
    return mf_tf_resized_crop(v, floor((H - h) / 2), floor((W - w) / 2), h, w, out_h, out_w);
}

mf_status mf_tf_hflip(mf_aug *v) {
    if (v->dims != 2)
        return MF_ERR(MF_ERR_INVALID, "hflip: needs a 2-D view");
    double W = (double)v->image->shape[2];
    double m[2][3] = {{-1, 0, W - 1}, {0, 1, 0}};
    return warp(v, v->image->shape[1], v->image->shape[2], m, "hflip");
}

mf_status mf_tf_vflip(mf_aug *v) {
    if (v->dims != 2)
        return MF_ERR(MF_ERR_INVALID, "vflip: needs a 2-D view");
    double H = (double)v->image->shape[1];
    double m[2][3] = {{1, 0, 0}, {0, -1, H - 1}};
    return warp(v, v->image->shape[1], v->image->shape[2], m, "vflip");
}

/* torch.rot90(x, k, dims=(H, W)): k = 1 sends out[i][j] = in[j][W-1-i]. */
mf_status mf_tf_rot90(mf_aug *v, int k) {
    if (v->dims != 2)
        return MF_ERR(MF_ERR_INVALID, "rot90: needs a 2-D view");
    k = ((k % 4) + 4) % 4;
    int64_t H = v->image->shape[1], W = v->image->shape[2];
    if (k == 0)
        return MF_OK;
    if (k == 2) {
        double m[2][3] = {{-1, 0, (double)W - 1}, {0, -1, (double)H - 1}};
        return warp(v, H, W, m, "rot90");
    }
    if (k == 1) { /* out (H'=W, W'=H): out(y, x) = in(x, W-1-y) -> src x = W-1-y, src y = x */
        double m[2][3] = {{0, -1, (double)W - 1}, {1, 0, 0}};
        return warp(v, W, H, m, "rot90");
    }
    /* k == 3: out(y, x) = in(H-1-x, y) -> src x = y, src y = H-1-x */
    double m[2][3] = {{0, 1, 0}, {-1, 0, (double)H - 1}};
    return warp(v, W, H, m, "rot90");
}
