/* Point-by-point correspondence between two views of one image: for each
 * feature cell of view s, the feature cell of view t whose centre is
 * nearest in source-image coordinates (LVM-Med's m(p) in eq. 2). */
#include <math.h>
#include <stdlib.h>

#include "medfm/transforms.h"

static bool invert2(const double m[2][3], double inv[2][3]) {
    double det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    if (!(fabs(det) > 1e-12))
        return false;
    inv[0][0] = m[1][1] / det;
    inv[0][1] = -m[0][1] / det;
    inv[1][0] = -m[1][0] / det;
    inv[1][1] = m[0][0] / det;
    inv[0][2] = -(inv[0][0] * m[0][2] + inv[0][1] * m[1][2]);
    inv[1][2] = -(inv[1][0] * m[0][2] + inv[1][1] * m[1][2]);
    return true;
}

mf_status mf_view_nearest(const double ms[2][3], int64_t hs, int64_t ws, const double mt[2][3], int64_t ht,
                          int64_t wt, int64_t stride, int64_t *out) {
    if (stride < 1 || hs < stride || ws < stride || ht < stride || wt < stride)
        return MF_ERR(MF_ERR_INVALID, "view_nearest: stride %lld does not fit views %lldx%lld and %lldx%lld",
                      (long long)stride, (long long)hs, (long long)ws, (long long)ht, (long long)wt);
    double inv[2][3];
    if (!invert2(mt, inv))
        return MF_ERR(MF_ERR_INVALID, "view_nearest: view t's map is singular");
    int64_t rs = hs / stride, cs = ws / stride, rt = ht / stride, ct = wt / stride;
    /* With orthogonal columns (crops, flips, rot90, resizes) the cell
     * lattice of t is rectangular in source space, so rounding in t's
     * own coordinates finds the nearest centre; otherwise search all. */
    double dot = mt[0][0] * mt[0][1] + mt[1][0] * mt[1][1];
    bool ortho = fabs(dot) < 1e-9 * (fabs(mt[0][0]) + fabs(mt[1][1]) + fabs(mt[0][1]) + fabs(mt[1][0]));
    double st = (double)stride;
    for (int64_t r = 0; r < rs; r++)
        for (int64_t c = 0; c < cs; c++) {
            double x = (c + 0.5) * st - 0.5, y = (r + 0.5) * st - 0.5;
            double sx = ms[0][0] * x + ms[0][1] * y + ms[0][2], sy = ms[1][0] * x + ms[1][1] * y + ms[1][2];
            double tx = inv[0][0] * sx + inv[0][1] * sy + inv[0][2], ty = inv[1][0] * sx + inv[1][1] * sy + inv[1][2];
            int64_t *o = &out[r * cs + c];
            if (tx < -0.5 || ty < -0.5 || tx > wt - 0.5 || ty > ht - 0.5) {
                *o = -1;
                continue;
            }
            if (ortho) {
                int64_t cc = (int64_t)floor((tx + 0.5) / st), rr = (int64_t)floor((ty + 0.5) / st);
                cc = cc < 0 ? 0 : cc >= ct ? ct - 1 : cc;
                rr = rr < 0 ? 0 : rr >= rt ? rt - 1 : rr;
                *o = rr * ct + cc;
                continue;
            }
            double best = INFINITY;
            for (int64_t rr = 0; rr < rt; rr++)
                for (int64_t cc = 0; cc < ct; cc++) {
                    double u = (cc + 0.5) * st - 0.5, w = (rr + 0.5) * st - 0.5;
                    double dx = mt[0][0] * u + mt[0][1] * w + mt[0][2] - sx, dy = mt[1][0] * u + mt[1][1] * w + mt[1][2] - sy;
                    double d = dx * dx + dy * dy;
                    if (d < best) {
                        best = d;
                        *o = rr * ct + cc;
                    }
                }
        }
    return MF_OK;
}

mf_status mf_view_nearest_batch(const mf_tensor *cs_, int64_t hs, int64_t ws, const mf_tensor *ct_, int64_t ht,
                                int64_t wt, int64_t stride, mf_tensor **out) {
    if (!cs_ || !ct_ || cs_->ndim != 3 || cs_->shape[1] != 2 || cs_->shape[2] != 3 || !mf_tensor_same_shape(cs_, ct_))
        return MF_ERR(MF_ERR_SHAPE, "view_nearest_batch: coords must both be (B, 2, 3), got %s and %s",
                      cs_ ? MF_SHAPE(cs_) : "none", ct_ ? MF_SHAPE(ct_) : "none");
    if (stride < 1)
        return MF_ERR(MF_ERR_INVALID, "view_nearest_batch: stride %lld", (long long)stride);
    int64_t B = cs_->shape[0], n = (hs / stride) * (ws / stride);
    double *a = malloc(sizeof(double) * 6 * (size_t)B), *b = malloc(sizeof(double) * 6 * (size_t)B);
    mf_status st = MF_OK;
    if (!a || !b) {
        st = MF_ERR(MF_ERR_NOMEM, "view_nearest_batch: out of memory");
        goto done;
    }
    if ((st = mf_tensor_to_host(cs_, MF_F64, a, sizeof(double) * 6 * (size_t)B)) != MF_OK ||
        (st = mf_tensor_to_host(ct_, MF_F64, b, sizeof(double) * 6 * (size_t)B)) != MF_OK)
        goto done;
    if ((st = mf_tensor_empty(2, (int64_t[]){B, n}, MF_I64, MF_DEVICE_CPU, out)) != MF_OK)
        goto done;
    int64_t *o = mf_tensor_data(*out);
    for (int64_t i = 0; i < B && st == MF_OK; i++)
        st = mf_view_nearest((const double(*)[3])(a + 6 * i), hs, ws, (const double(*)[3])(b + 6 * i), ht, wt, stride,
                             o + i * n);
    if (st != MF_OK)
        mf_tensor_clear(out);
done:
    free(a);
    free(b);
    return st;
}
