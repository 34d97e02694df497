/* Intensity normalisation: CT windowing (HU range or percentiles) then
 * z-score, MRI z-score over non-zero voxels, min-max to [0, 1]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/data.h"

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (numpy's default). */
static double percentile(const float *sorted, int64_t n, double q) {
    double pos = q / 100.0 * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    if (i >= n - 1)
        return sorted[n - 1];
    double f = pos - (double)i;
    return sorted[i] + f * (sorted[i + 1] - sorted[i]);
}

mf_status mf_intensity_normalize(const mf_tensor *x, const mf_intensity_opts *o, mf_tensor **out) {
    if (!x || !o || !out)
        return MF_ERR(MF_ERR_INVALID, "intensity_normalize: NULL argument");
    if (x->storage->device.type != MF_CPU)
        return MF_ERR(MF_ERR_DEVICE, "intensity_normalize: tensor must be on the CPU");
    int64_t n = mf_tensor_numel(x);
    if (n < 1)
        return MF_ERR(MF_ERR_SHAPE, "intensity_normalize: empty tensor %s", MF_SHAPE(x));
    if (o->clip && !(o->lo <= o->hi))
        return MF_ERR(MF_ERR_INVALID, "intensity_normalize: clip range [%g, %g] is empty", o->lo, o->hi);
    if (o->clip && o->clip_percentiles && (o->lo < 0 || o->hi > 100))
        return MF_ERR(MF_ERR_INVALID, "intensity_normalize: percentiles [%g, %g] outside [0, 100]", o->lo, o->hi);
    mf_tensor *y;
    MF_TRY(mf_tensor_empty(x->ndim, x->shape, MF_F32, MF_DEVICE_CPU, &y));
    float *v = mf_tensor_data(y);
    mf_status st = mf_tensor_to_host(x, MF_F32, v, (size_t)n * sizeof(float));
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    /* values the statistics see */
    float *sel = malloc(sizeof(float) * (size_t)n);
    if (!sel) {
        mf_tensor_release(y);
        return MF_ERR(MF_ERR_NOMEM, "intensity_normalize: out of memory");
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!o->nonzero_mask || v[i] != 0)
            sel[m++] = v[i];
    if (m == 0) { /* all zero under the mask: nothing to normalise */
        free(sel);
        *out = y;
        return MF_OK;
    }
    if (o->clip) {
        double lo = o->lo, hi = o->hi;
        if (o->clip_percentiles) {
            qsort(sel, (size_t)m, sizeof(float), cmp_float);
            lo = percentile(sel, m, o->lo);
            hi = percentile(sel, m, o->hi);
        }
        for (int64_t i = 0; i < n; i++)
            if (!o->nonzero_mask || v[i] != 0)
                v[i] = v[i] < lo ? (float)lo : v[i] > hi ? (float)hi : v[i];
        m = 0;
        for (int64_t i = 0; i < n; i++)
            if (!o->nonzero_mask || v[i] != 0)
                sel[m++] = v[i];
    }
    double a = 1, b = 0; /* y = a x + b */
    if (o->kind == MF_NORM_ZSCORE) {
        double s = 0, ss = 0;
        for (int64_t i = 0; i < m; i++)
            s += sel[i];
        double mean = s / (double)m;
        for (int64_t i = 0; i < m; i++)
            ss += (sel[i] - mean) * (sel[i] - mean);
        double sd = sqrt(ss / (double)m);
        a = 1.0 / (sd > 1e-8 ? sd : 1e-8);
        b = -mean * a;
    } else {
        double lo = sel[0], hi = sel[0];
        for (int64_t i = 1; i < m; i++) {
            lo = sel[i] < lo ? sel[i] : lo;
            hi = sel[i] > hi ? sel[i] : hi;
        }
        a = hi > lo ? 1.0 / (hi - lo) : 0;
        b = -lo * a;
    }
    for (int64_t i = 0; i < n; i++)
        if (!o->nonzero_mask || v[i] != 0)
            v[i] = (float)(a * v[i] + b);
    free(sel);
    *out = y;
    return MF_OK;
}
