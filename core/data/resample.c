/* Geometric preprocessing of volumes: resampling to a spacing, resizing,
 * padding to a cube, crop/pad windows. All are axis-aligned maps
 * src = a * out + b per axis, so one kernel does them all and the affine
 * is updated by the same map. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/data.h"

typedef struct axis_map {
    int64_t n_out, n_in;
    double a, b; /* src = a * out + b */
} axis_map;

static mf_status check_volume(const mf_volume *v, const char *op) {
    if (!v || !v->data || v->data->ndim != 3)
        return MF_ERR(MF_ERR_SHAPE, "%s: expects a (D, H, W) volume, got %s", op, v && v->data ? MF_SHAPE(v->data) : "none");
    if (v->data->storage->device.type != MF_CPU)
        return MF_ERR(MF_ERR_DEVICE, "%s: volume must be on the CPU", op);
    for (int k = 0; k < 3; k++)
        if (v->data->shape[k] < 1)
            return MF_ERR(MF_ERR_SHAPE, "%s: empty volume %s", op, MF_SHAPE(v->data));
    return MF_OK;
}

/* m[0] is the D (k) axis, m[2] the W (i) axis. */
static mf_status apply_maps(const mf_volume *v, const axis_map m[3], mf_interp interp, bool clamp, double fill, const char *op,
                            mf_volume *out) {
    mf_status st = MF_OK;
    const mf_tensor *x = v->data;
    int64_t D = x->shape[0], H = x->shape[1], W = x->shape[2];
    int64_t od = m[0].n_out, oh = m[1].n_out, ow = m[2].n_out;
    for (int k = 0; k < 3; k++)
        if (m[k].n_out < 1 || m[k].n_out > (1 << 16))
            return MF_ERR(MF_ERR_INVALID, "%s: output size %lld on axis %d is out of range", op, (long long)m[k].n_out, k);
    memset(out, 0, sizeof *out);
    mf_dtype odt = interp == MF_INTERP_LINEAR ? MF_F32 : x->dtype;
    int64_t shape[3] = {od, oh, ow};
    MF_TRY(mf_tensor_empty(3, shape, odt, MF_DEVICE_CPU, &out->data));
    size_t es = mf_dtype_size(x->dtype);
    int64_t n = D * H * W;
    void *src = malloc((size_t)n * (interp == MF_INTERP_LINEAR ? sizeof(float) : es));
    int64_t *idx[3] = {0};
    double *frac[3] = {0};
    if (!src)
        MF_CHECK(MF_ERR(MF_ERR_NOMEM, "%s: out of memory", op));
    MF_CHECK(mf_tensor_to_host(x, interp == MF_INTERP_LINEAR ? MF_F32 : x->dtype, src,
                               (size_t)n * (interp == MF_INTERP_LINEAR ? sizeof(float) : es)));
    int64_t nin[3] = {D, H, W};
    for (int k = 0; k < 3; k++) {
        idx[k] = malloc(sizeof(int64_t) * 2 * (size_t)m[k].n_out);
        frac[k] = malloc(sizeof(double) * (size_t)m[k].n_out);
        if (!idx[k] || !frac[k])
            MF_CHECK(MF_ERR(MF_ERR_NOMEM, "%s: out of memory", op));
        for (int64_t o = 0; o < m[k].n_out; o++) {
            double s = m[k].a * (double)o + m[k].b;
            if (interp == MF_INTERP_NEAREST) {
                int64_t r = (int64_t)floor(s + 0.5);
                idx[k][2 * o] = (r < 0 || r >= nin[k]) ? -1 : r;
                if (clamp)
                    idx[k][2 * o] = r < 0 ? 0 : r >= nin[k] ? nin[k] - 1 : r;
            }
            if (interp == MF_INTERP_LINEAR) {
                /* crops keep integer coordinates: outside voxels take fill */
                if (!clamp && (s < -0.5 - 1e-9 || s > (double)nin[k] - 0.5 + 1e-9)) {
                    idx[k][2 * o] = -1;
                    idx[k][2 * o + 1] = -1;
                    frac[k][o] = 0;
                    continue;
                }
                if (s < 0)
                    s = 0;
                if (s > (double)(nin[k] - 1))
                    s = (double)(nin[k] - 1);
                int64_t i0 = (int64_t)floor(s);
                int64_t i1 = i0 + 1 < nin[k] ? i0 + 1 : i0;
                idx[k][2 * o] = i0;
                idx[k][2 * o + 1] = i1;
                frac[k][o] = s - (double)i0;
            }
        }
    }
    if (interp == MF_INTERP_LINEAR) {
        const float *s = src;
        float *d = mf_tensor_data(out->data);
        for (int64_t z = 0; z < od; z++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t xx = 0; xx < ow; xx++) {
                    int64_t z0 = idx[0][2 * z], y0 = idx[1][2 * y], x0 = idx[2][2 * xx];
                    float *o = d + (z * oh + y) * ow + xx;
                    if (z0 < 0 || y0 < 0 || x0 < 0) {
                        *o = (float)fill;
                        continue;
                    }
                    int64_t z1 = idx[0][2 * z + 1], y1 = idx[1][2 * y + 1], x1 = idx[2][2 * xx + 1];
                    double fz = frac[0][z], fy = frac[1][y], fx = frac[2][xx];
#define AT(a, b, c) ((double)s[((a) * H + (b)) * W + (c)])
                    double c00 = AT(z0, y0, x0) + fx * (AT(z0, y0, x1) - AT(z0, y0, x0));
                    double c01 = AT(z0, y1, x0) + fx * (AT(z0, y1, x1) - AT(z0, y1, x0));
                    double c10 = AT(z1, y0, x0) + fx * (AT(z1, y0, x1) - AT(z1, y0, x0));
                    double c11 = AT(z1, y1, x0) + fx * (AT(z1, y1, x1) - AT(z1, y1, x0));
#undef AT
                    double c0 = c00 + fy * (c01 - c00), c1 = c10 + fy * (c11 - c10);
                    *o = (float)(c0 + fz * (c1 - c0));
                }
    } else {
        const char *s = src;
        char *d = mf_tensor_data(out->data);
        mf_tensor *fillt = NULL;
        MF_CHECK(mf_tensor_full(1, (int64_t[]){1}, x->dtype, MF_DEVICE_CPU, fill, &fillt));
        char fv[16];
        memcpy(fv, mf_tensor_data(fillt), es);
        mf_tensor_release(fillt);
        for (int64_t z = 0; z < od; z++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t xx = 0; xx < ow; xx++) {
                    int64_t z0 = idx[0][2 * z], y0 = idx[1][2 * y], x0 = idx[2][2 * xx];
                    char *o = d + (size_t)((z * oh + y) * ow + xx) * es;
                    if (z0 < 0 || y0 < 0 || x0 < 0)
                        memcpy(o, fv, es);
                    else
                        memcpy(o, s + (size_t)((z0 * H + y0) * W + x0) * es, es);
                }
    }
    /* affine: voxel (i, j, k) of the output is source (a_i i + b_i, ...). */
    memcpy(out->affine, v->affine, sizeof out->affine);
    for (int r = 0; r < 4; r++) {
        double t = v->affine[r][3];
        for (int c = 0; c < 3; c++) {
            const axis_map *am = &m[2 - c]; /* column c = i, j, k = W, H, D */
            out->affine[r][c] = v->affine[r][c] * am->a;
            t += v->affine[r][c] * am->b;
        }
        out->affine[r][3] = t;
    }
    for (int c = 0; c < 3; c++)
        out->spacing[c] = v->spacing[c] * fabs(m[2 - c].a);
cleanup:
    free(src);
    for (int k = 0; k < 3; k++) {
        free(idx[k]);
        free(frac[k]);
    }
    if (st != MF_OK)
        mf_tensor_clear(&out->data);
    return st;
}

static void vol_n(const mf_volume *v, int64_t n[3]) {
    for (int k = 0; k < 3; k++)
        n[k] = v->data->shape[k];
}

mf_status mf_volume_resample(const mf_volume *v, const double spacing[3], mf_interp interp, mf_volume *out) {
    MF_TRY(check_volume(v, "volume_resample"));
    int64_t n[3];
    vol_n(v, n);
    axis_map m[3];
    for (int k = 0; k < 3; k++) {
        double old = v->spacing[2 - k], nw = spacing[2 - k];
        if (!(nw > 0) || !(old > 0))
            return MF_ERR(MF_ERR_INVALID, "volume_resample: spacing must be positive (target %g, volume %g on axis %d)",
                          nw, old, 2 - k);
        m[k].n_in = n[k];
        m[k].n_out = (int64_t)llround((double)n[k] * old / nw);
        if (m[k].n_out < 1)
            m[k].n_out = 1;
        m[k].a = nw / old;
        m[k].b = 0;
    }
    return apply_maps(v, m, interp, true, 0, "volume_resample", out);
}

mf_status mf_volume_resize(const mf_volume *v, const int64_t size[3], mf_interp interp, mf_volume *out) {
    MF_TRY(check_volume(v, "volume_resize"));
    int64_t n[3];
    vol_n(v, n);
    axis_map m[3];
    for (int k = 0; k < 3; k++) {
        if (size[k] < 1)
            return MF_ERR(MF_ERR_INVALID, "volume_resize: size %lld on axis %d", (long long)size[k], k);
        m[k].n_in = n[k];
        m[k].n_out = size[k];
        m[k].a = (double)n[k] / (double)size[k];
        m[k].b = 0.5 * m[k].a - 0.5;
    }
    return apply_maps(v, m, interp, true, 0, "volume_resize", out);
}

mf_status mf_volume_crop(const mf_volume *v, const int64_t size[3], const int64_t *start, double fill,
                         mf_volume *out) {
    MF_TRY(check_volume(v, "volume_crop"));
    int64_t n[3];
    vol_n(v, n);
    axis_map m[3];
    for (int k = 0; k < 3; k++) {
        if (size[k] < 1)
            return MF_ERR(MF_ERR_INVALID, "volume_crop: size %lld on axis %d", (long long)size[k], k);
        m[k].n_in = n[k];
        m[k].n_out = size[k];
        m[k].a = 1;
        /* centre: floor division like numpy-style centre crops */
        m[k].b = start ? (double)start[k] : (double)((n[k] - size[k]) >= 0 ? (n[k] - size[k]) / 2
                                                                           : -((size[k] - n[k] + 1) / 2));
    }
    return apply_maps(v, m, MF_INTERP_NEAREST, false, fill, "volume_crop", out);
}

mf_status mf_volume_cube(const mf_volume *v, int64_t n, double fill, mf_interp interp, mf_volume *out) {
    MF_TRY(check_volume(v, "volume_cube"));
    if (n < 1)
        return MF_ERR(MF_ERR_INVALID, "volume_cube: size %lld", (long long)n);
    int64_t side = v->data->shape[0];
    for (int k = 1; k < 3; k++)
        if (v->data->shape[k] > side)
            side = v->data->shape[k];
    mf_volume padded;
    MF_TRY(mf_volume_crop(v, (int64_t[]){side, side, side}, NULL, fill, &padded));
    mf_status st = mf_volume_resize(&padded, (int64_t[]){n, n, n}, interp, out);
    mf_volume_free(&padded);
    return st;
}
