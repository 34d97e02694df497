/* 3-D augmentations of (C, D, H, W) views: crops and flips (tracked in the
 * view's 3x4 map like the 2-D ones), intensity scale/shift, Gaussian noise. */
#include <string.h>

#include "medfm/ops/view.h"
#include "medfm/transforms.h"

static mf_status need3(mf_aug *v, const char *op) {
    if (!v || v->dims != 3 || !v->image)
        return MF_ERR(MF_ERR_INVALID, "%s: needs a 3-D view", op);
    return MF_OK;
}

static void compose(mf_aug *v, const double inner[3][4]) {
    double r[3][4];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            double s = j == 3 ? v->map[i][3] : 0;
            for (int k = 0; k < 3; k++)
                s += v->map[i][k] * inner[k][j];
            r[i][j] = s;
        }
    memcpy(v->map, r, sizeof r);
}

/* Copies (C, D, H, W) with per-axis index maps src = a * out + b (a = +-1). */
static mf_status remap(mf_tensor *x, int lead, const int64_t size[3], const int64_t a[3], const int64_t b[3],
                       mf_tensor **out) {
    mf_tensor *c = NULL;
    MF_TRY(mf_contiguous(x, &c));
    int64_t shape[4], C = lead ? x->shape[0] : 1;
    int nd = 0;
    if (lead)
        shape[nd++] = C;
    for (int k = 0; k < 3; k++)
        shape[nd++] = size[k];
    mf_status st = mf_tensor_empty(nd, shape, x->dtype, MF_DEVICE_CPU, out);
    if (st != MF_OK) {
        mf_tensor_release(c);
        return st;
    }
    size_t es = mf_dtype_size(x->dtype);
    int64_t D = x->shape[lead], H = x->shape[lead + 1], W = x->shape[lead + 2];
    const char *s = mf_tensor_data(c);
    char *d = mf_tensor_data(*out);
    for (int64_t ch = 0; ch < C; ch++)
        for (int64_t z = 0; z < size[0]; z++)
            for (int64_t y = 0; y < size[1]; y++) {
                int64_t sz = a[0] * z + b[0], sy = a[1] * y + b[1];
                const char *srow = s + (size_t)(((ch * D + sz) * H + sy) * W) * es;
                char *drow = d + (size_t)(((ch * size[0] + z) * size[1] + y) * size[2]) * es;
                if (a[2] == 1)
                    memcpy(drow, srow + (size_t)b[2] * es, (size_t)size[2] * es);
                else
                    for (int64_t xx = 0; xx < size[2]; xx++)
                        memcpy(drow + (size_t)xx * es, srow + (size_t)(b[2] - xx) * es, es);
            }
    mf_tensor_release(c);
    return MF_OK;
}

static mf_status apply(mf_aug *v, const int64_t size[3], const int64_t a[3], const int64_t b[3]) {
    mf_tensor *img = NULL, *mk = NULL;
    MF_TRY(remap(v->image, 1, size, a, b, &img));
    if (v->mask) {
        mf_status st = remap(v->mask, 0, size, a, b, &mk);
        if (st != MF_OK) {
            mf_tensor_release(img);
            return st;
        }
        mf_tensor_release(v->mask);
        v->mask = mk;
    }
    mf_tensor_release(v->image);
    v->image = img;
    /* view axes x, y, z = tensor dims W, H, D = index 2, 1, 0 */
    double inner[3][4] = {{(double)a[2], 0, 0, (double)b[2]}, {0, (double)a[1], 0, (double)b[1]},
                          {0, 0, (double)a[0], (double)b[0]}};
    compose(v, inner);
    return MF_OK;
}

mf_status mf_tf3_crop(mf_aug *v, const int64_t start[3], const int64_t size[3]) {
    MF_TRY(need3(v, "crop3d"));
    for (int k = 0; k < 3; k++)
        if (size[k] < 1 || start[k] < 0 || start[k] + size[k] > v->image->shape[k + 1])
            return MF_ERR(MF_ERR_SHAPE, "crop3d: window start %lld size %lld on axis %d does not fit %s",
                          (long long)start[k], (long long)size[k], k, MF_SHAPE(v->image));
    return apply(v, size, (int64_t[]){1, 1, 1}, start);
}

mf_status mf_tf3_random_crop(mf_aug *v, mf_rng *rng, const int64_t size[3]) {
    MF_TRY(need3(v, "random_crop3d"));
    int64_t start[3];
    for (int k = 0; k < 3; k++) {
        int64_t room = v->image->shape[k + 1] - size[k];
        if (room < 0 || size[k] < 1)
            return MF_ERR(MF_ERR_SHAPE, "random_crop3d: crop %lld on axis %d larger than the volume %s (pad first)",
                          (long long)size[k], k, MF_SHAPE(v->image));
        start[k] = mf_data_randint(rng, room + 1);
    }
    return mf_tf3_crop(v, start, size);
}

mf_status mf_tf3_flip(mf_aug *v, int axis) {
    MF_TRY(need3(v, "flip3d"));
    if (axis < 0 || axis > 2)
        return MF_ERR(MF_ERR_INVALID, "flip3d: axis %d (0 = x, 1 = y, 2 = z)", axis);
    int dim = 2 - axis;
    int64_t size[3] = {v->image->shape[1], v->image->shape[2], v->image->shape[3]};
    int64_t a[3] = {1, 1, 1}, b[3] = {0, 0, 0};
    a[dim] = -1;
    b[dim] = size[dim] - 1;
    return apply(v, size, a, b);
}

mf_status mf_tf3_scale_shift(mf_aug *v, double scale, double shift) {
    MF_TRY(need3(v, "scale_shift3d"));
    MF_TRY(mf_aug_to_float(v));
    float *d = mf_tensor_data(v->image);
    int64_t n = mf_tensor_numel(v->image);
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)(d[i] * scale + shift);
    return MF_OK;
}

mf_status mf_tf3_noise(mf_aug *v, mf_rng *rng, double std) {
    MF_TRY(need3(v, "noise3d"));
    MF_TRY(mf_aug_to_float(v));
    float *d = mf_tensor_data(v->image);
    int64_t n = mf_tensor_numel(v->image);
    /* one Philox stream per view: draws follow the element order */
    for (int64_t i = 0; i < n; i++)
        d[i] += (float)(std * mf_data_normal(rng));
    return MF_OK;
}
