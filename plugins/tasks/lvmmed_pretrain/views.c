/* The two distorted views s, t of each image and the geometry that relates
 * them (sec. 3.2.1 and appendix A's `pos`): where each feature-map cell of
 * a view lies in the source image, so the local affinity can pair a cell
 * with its spatially nearest cell in the other view. */
#include <math.h>
#include <stdlib.h>

#include "lvmmed.h"
#include "medfm/autograd.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/index.h"
#include "medfm/ops/pool.h"
#include "medfm/ops/view.h"

mf_status lvm_cell_positions(const mf_tensor *coords, int64_t H, int64_t W, int64_t R, int64_t S, mf_dtype dt,
                             mf_tensor **pos) {
    *pos = NULL;
    if (coords->ndim != 3 || coords->shape[1] != 2 || coords->shape[2] != 3)
        return MF_ERR(MF_ERR_SHAPE, "lvmmed cell positions: coords must be (B, 2, 3), got %s", MF_SHAPE(coords));
    int64_t B = coords->shape[0], P = R * S;
    double *m = malloc(sizeof *m * (size_t)(B * 6)), *p = malloc(sizeof *p * (size_t)(B * P * 2));
    mf_status st = MF_OK;
    if (!m || !p) {
        st = MF_ERR(MF_ERR_NOMEM, "lvmmed cell positions: out of memory");
        goto cleanup;
    }
    MF_CHECK(mf_tensor_to_host(coords, MF_F64, m, sizeof *m * (size_t)(B * 6)));
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < S; c++) {
                /* cell centre in view pixels (pixel centres at integers) */
                double x = (c + 0.5) * (double)W / (double)S - 0.5, y = (r + 0.5) * (double)H / (double)R - 0.5;
                const double *mb = m + b * 6;
                double *o = p + (b * P + r * S + c) * 2;
                o[0] = mb[0] * x + mb[1] * y + mb[2];
                o[1] = mb[3] * x + mb[4] * y + mb[5];
            }
    mf_tensor *p64;
    int64_t shape[3] = {B, P, 2};
    MF_CHECK(mf_tensor_from_data(3, shape, MF_F64, p, &p64));
    mf_tensor *moved = p64;
    if (coords->storage->device.type != MF_CPU) {
        st = mf_to_device(p64, coords->storage->device, &moved);
        mf_tensor_release(p64);
        MF_CHECK(st);
    }
    if (dt == MF_F64) {
        *pos = moved;
    } else {
        st = mf_to_dtype(moved, dt, pos);
        mf_tensor_release(moved);
    }
cleanup:
    free(m);
    free(p);
    return st;
}

static double uniform(mf_rng *rng) {
    uint32_t w[4];
    mf_philox4x32(rng->seed, 0, rng->offset++, w);
    return ((double)w[0] + 0.5) / 4294967296.0;
}

/* One view of image x (1, C, H, W): crop box, resize, optional flip. */
static mf_status one_view(const mf_tensor *x, const lvm_aug_cfg *cfg, mf_rng *rng, mf_tensor **view, double map[6]) {
    int64_t H = x->shape[2], W = x->shape[3];
    double area = (cfg->scale[0] + (cfg->scale[1] - cfg->scale[0]) * uniform(rng)) * (double)(H * W);
    double ratio = exp(log(3.0 / 4.0) + (log(4.0 / 3.0) - log(3.0 / 4.0)) * uniform(rng));
    int64_t h = (int64_t)llround(sqrt(area / ratio)), w = (int64_t)llround(sqrt(area * ratio));
    h = h < 1 ? 1 : h > H ? H : h;
    w = w < 1 ? 1 : w > W ? W : w;
    int64_t top = (int64_t)floor(uniform(rng) * (double)(H - h + 1)), left = (int64_t)floor(uniform(rng) * (double)(W - w + 1));
    top = top > H - h ? H - h : top;
    left = left > W - w ? W - w : left;
    bool flip = uniform(rng) < cfg->flip_p;

    mf_tensor *rows = NULL, *crop = NULL, *resized = NULL, *index = NULL;
    mf_status st;
    MF_CHECK(mf_slice(x, 2, top, top + h, 1, &rows));
    MF_CHECK(mf_slice(rows, 3, left, left + w, 1, &crop));
    int64_t size[2] = {H, W};
    MF_CHECK(mf_upsample(crop, size, MF_UPSAMPLE_LINEAR, false, &resized));
    /* output pixel x samples source left + (x + .5) w / W - .5 (flipped: W - 1 - x) */
    double sx = (double)w / (double)W, sy = (double)h / (double)H;
    if (flip) {
        int64_t *rev = malloc(sizeof *rev * (size_t)W);
        if (!rev) {
            st = MF_ERR(MF_ERR_NOMEM, "lvmmed views: out of memory");
            goto cleanup;
        }
        for (int64_t i = 0; i < W; i++)
            rev[i] = W - 1 - i;
        st = mf_tensor_from_data(1, &W, MF_I64, rev, &index);
        free(rev);
        MF_CHECK(st);
        MF_CHECK(mf_index_select(resized, 3, index, view));
        map[0] = -sx, map[1] = 0, map[2] = (double)left + ((double)W - 0.5) * sx - 0.5;
    } else {
        *view = resized;
        resized = NULL;
        map[0] = sx, map[1] = 0, map[2] = (double)left + 0.5 * sx - 0.5;
    }
    map[3] = 0, map[4] = sy, map[5] = (double)top + 0.5 * sy - 0.5;
cleanup:
    mf_tensor_release(rows);
    mf_tensor_release(crop);
    mf_tensor_release(resized);
    mf_tensor_release(index);
    return st;
}

mf_status lvm_make_views(const mf_tensor *x, const lvm_aug_cfg *cfg, mf_rng *rng, mf_tensor *views[2],
                         mf_tensor *coords[2]) {
    views[0] = views[1] = coords[0] = coords[1] = NULL;
    if (x->ndim != 4)
        return MF_ERR(MF_ERR_SHAPE, "lvmmed views: images must be (B, C, H, W), got %s", MF_SHAPE(x));
    int64_t B = x->shape[0];
    mf_tensor **parts = calloc((size_t)B, sizeof *parts);
    double *maps = malloc(sizeof *maps * (size_t)(B * 6));
    mf_status st = MF_OK;
    bool grad = mf_grad_set_enabled(false);
    if (!parts || !maps) {
        st = MF_ERR(MF_ERR_NOMEM, "lvmmed views: out of memory");
        goto cleanup;
    }
    for (int v = 0; v < 2; v++) {
        for (int64_t b = 0; b < B; b++) {
            mf_tensor *img;
            MF_CHECK(mf_slice(x, 0, b, b + 1, 1, &img));
            st = one_view(img, cfg, rng, &parts[b], maps + b * 6);
            mf_tensor_release(img);
            MF_CHECK(st);
        }
        MF_CHECK(mf_concat((int)B, parts, 0, &views[v]));
        int64_t shape[3] = {B, 2, 3};
        MF_CHECK(mf_tensor_from_data(3, shape, MF_F64, maps, &coords[v]));
        for (int64_t b = 0; b < B; b++)
            mf_tensor_clear(&parts[b]);
    }
cleanup:
    mf_grad_set_enabled(grad);
    if (parts)
        for (int64_t b = 0; b < B; b++)
            mf_tensor_release(parts[b]);
    free(parts);
    free(maps);
    if (st != MF_OK)
        for (int v = 0; v < 2; v++) {
            mf_tensor_clear(&views[v]);
            mf_tensor_clear(&coords[v]);
        }
    return st;
}
