/* 3-D preprocessing: resampling, resizing, cube padding and crops against
 * values worked out by hand, geometry kept consistent in world space, and
 * the real ch2 brain with its AAL labels on the same grid. */
#include <math.h>

#include "tests/support/testing.h"

#define CH2 "/usr/share/mricron/templates/ch2.nii.gz"
#define AAL "/usr/share/mricron/templates/aal.nii.gz"

static mf_volume vol(int64_t d, int64_t h, int64_t w, const double *vals, const double sp[3]) {
    mf_volume v = {0};
    v.data = t_from(3, (int64_t[]){d, h, w}, MF_F32, vals);
    for (int r = 0; r < 4; r++)
        v.affine[r][r] = 1;
    for (int c = 0; c < 3; c++) {
        v.affine[c][c] = sp[c];
        v.affine[c][3] = 10.0 * (c + 1); /* some origin */
        v.spacing[c] = sp[c];
    }
    return v;
}

static double at(const mf_tensor *t, int64_t k, int64_t j, int64_t i) {
    return mf_tensor_get_flat(t, (k * t->shape[1] + j) * t->shape[2] + i);
}

static void world(const double a[4][4], double i, double j, double k, double out[3]) {
    for (int r = 0; r < 3; r++)
        out[r] = a[r][0] * i + a[r][1] * j + a[r][2] * k + a[r][3];
}

Test(preprocess, resampling_a_row_to_half_the_spacing_interpolates_and_clamps) {
    mf_volume v = vol(1, 1, 3, (double[]){0, 10, 20}, (double[]){2, 1, 1}), o;
    MF_OK_OR_FAIL(mf_volume_resample(&v, (double[]){1, 1, 1}, MF_INTERP_LINEAR, &o));
    cr_assert_eq(o.data->shape[2], 6);
    double want[6] = {0, 5, 10, 15, 20, 20}; /* voxel 0 fixed: src = i / 2; the last clamps */
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(at(o.data, 0, 0, i), want[i], 1e-5, "voxel %d", i);
    cr_assert_float_eq(o.spacing[0], 1, 1e-12);
    cr_assert_float_eq(o.affine[0][0], 1, 1e-12);
    cr_assert_float_eq(o.affine[0][3], 10, 1e-12); /* voxel 0 stays in place */
    mf_volume_free(&v);
    mf_volume_free(&o);
}

Test(preprocess, bilinear_resampling_of_a_2x2_square_matches_hand_values) {
    mf_volume v = vol(1, 2, 2, (double[]){0, 10, 20, 30}, (double[]){1, 1, 1}), o;
    MF_OK_OR_FAIL(mf_volume_resample(&v, (double[]){0.5, 0.5, 1}, MF_INTERP_LINEAR, &o));
    cr_assert_eq(o.data->shape[1], 4);
    cr_assert_eq(o.data->shape[2], 4);
    cr_assert_float_eq(at(o.data, 0, 0, 1), 5, 1e-5);   /* (x .5, y 0) */
    cr_assert_float_eq(at(o.data, 0, 1, 0), 10, 1e-5);  /* (x 0, y .5) */
    cr_assert_float_eq(at(o.data, 0, 1, 1), 15, 1e-5);  /* centre */
    cr_assert_float_eq(at(o.data, 0, 3, 3), 30, 1e-5);  /* clamped corner */
    mf_volume_free(&v);
    mf_volume_free(&o);
}

Test(preprocess, nearest_resampling_keeps_label_values_and_dtype) {
    mf_volume v = vol(1, 1, 4, (double[]){0, 3, 3, 7}, (double[]){1, 1, 1}), o;
    mf_tensor *lab = NULL;
    MF_OK_OR_FAIL(mf_tensor_empty(3, (int64_t[]){1, 1, 4}, MF_U8, MF_DEVICE_CPU, &lab));
    MF_OK_OR_FAIL(mf_tensor_copy_(lab, v.data));
    mf_tensor_release(v.data);
    v.data = lab;
    MF_OK_OR_FAIL(mf_volume_resample(&v, (double[]){2, 1, 1}, MF_INTERP_NEAREST, &o));
    cr_assert_eq(o.data->dtype, MF_U8);
    cr_assert_eq(o.data->shape[2], 2);
    cr_assert_eq(at(o.data, 0, 0, 0), 0);
    cr_assert_eq(at(o.data, 0, 0, 1), 3); /* source voxel 2 */
    mf_volume_free(&v);
    mf_volume_free(&o);
}

Test(preprocess, resize_uses_half_pixel_centres_like_torch) {
    mf_volume v = vol(1, 1, 2, (double[]){0, 10}, (double[]){1, 1, 1}), o;
    MF_OK_OR_FAIL(mf_volume_resize(&v, (int64_t[]){1, 1, 4}, MF_INTERP_LINEAR, &o));
    double want[4] = {0, 2.5, 7.5, 10}; /* F.interpolate(..., align_corners=False) */
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(at(o.data, 0, 0, i), want[i], 1e-5);
    /* output voxel 0's centre sits a quarter voxel before the source's */
    double w[3];
    world(o.affine, 0, 0, 0, w);
    cr_assert_float_eq(w[0], 10 - 0.25, 1e-12);
    mf_volume_free(&v);
    mf_volume_free(&o);
}

Test(preprocess, crop_and_pad_place_the_window_and_move_the_origin) {
    double vals[5] = {1, 2, 3, 4, 5};
    mf_volume v = vol(1, 1, 5, vals, (double[]){1, 1, 1}), o, p;
    MF_OK_OR_FAIL(mf_volume_crop(&v, (int64_t[]){1, 1, 3}, NULL, 0, &o));
    cr_assert_eq(at(o.data, 0, 0, 0), 2);
    cr_assert_eq(at(o.data, 0, 0, 2), 4);
    double w[3];
    world(o.affine, 0, 0, 0, w);
    cr_assert_float_eq(w[0], 11, 1e-12); /* source voxel 1 */
    MF_OK_OR_FAIL(mf_volume_crop(&v, (int64_t[]){1, 1, 4}, (int64_t[]){0, 0, -2}, -1, &p));
    double want[4] = {-1, -1, 1, 2};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(at(p.data, 0, 0, i), want[i]);
    mf_volume_free(&v);
    mf_volume_free(&o);
    mf_volume_free(&p);
}

Test(preprocess, cube_pads_the_short_sides_then_resizes) {
    double vals[2] = {4, 4};
    mf_volume v = vol(1, 1, 2, vals, (double[]){1, 1, 1}), o;
    MF_OK_OR_FAIL(mf_volume_cube(&v, 2, 0, MF_INTERP_NEAREST, &o));
    /* padded to 2x2x2 with the data in the first slab along D and H */
    cr_assert_eq(o.data->shape[0], 2);
    double s = 0;
    for (int64_t i = 0; i < 8; i++)
        s += mf_tensor_get_flat(o.data, i);
    cr_assert_eq(s, 8);
    mf_volume_free(&v);
    mf_volume_free(&o);
}

Test(preprocess, ct_window_then_zscore_and_percentile_clipping) {
    mf_tensor *x = t_from(1, (int64_t[]){4}, MF_F32, (double[]){-2000, 0, 100, 3000}), *y = NULL;
    mf_intensity_opts o = {.kind = MF_NORM_MINMAX, .clip = true, .lo = -1000, .hi = 1000};
    MF_OK_OR_FAIL(mf_intensity_normalize(x, &o, &y));
    double want[4] = {0, 0.5, 0.55, 1};
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(mf_tensor_get_flat(y, i), want[i], 1e-6);
    mf_tensor_release(y);
    o.kind = MF_NORM_ZSCORE;
    MF_OK_OR_FAIL(mf_intensity_normalize(x, &o, &y));
    double m = 0, s = 0;
    for (int i = 0; i < 4; i++)
        m += mf_tensor_get_flat(y, i) / 4;
    for (int i = 0; i < 4; i++)
        s += pow(mf_tensor_get_flat(y, i) - m, 2) / 4;
    cr_assert_float_eq(m, 0, 1e-6);
    cr_assert_float_eq(s, 1, 1e-5);
    mf_tensor_release(y);
    /* percentiles 0/50 of {-2000, 0, 100, 3000}: [-2000, 50] */
    mf_intensity_opts q = {.kind = MF_NORM_MINMAX, .clip = true, .clip_percentiles = true, .lo = 0, .hi = 50};
    MF_OK_OR_FAIL(mf_intensity_normalize(x, &q, &y));
    cr_assert_float_eq(mf_tensor_get_flat(y, 3), 1, 1e-6);
    cr_assert_float_eq(mf_tensor_get_flat(y, 1), 2000.0 / 2050, 1e-6);
    mf_tensor_release(y);
    mf_tensor_release(x);
}

Test(preprocess, mri_zscore_over_nonzero_voxels_leaves_background_zero) {
    mf_tensor *x = t_from(1, (int64_t[]){4}, MF_F32, (double[]){0, 1, 3, 0}), *y = NULL;
    mf_intensity_opts o = {.kind = MF_NORM_ZSCORE, .nonzero_mask = true};
    MF_OK_OR_FAIL(mf_intensity_normalize(x, &o, &y));
    cr_assert_eq(mf_tensor_get_flat(y, 0), 0);
    cr_assert_float_eq(mf_tensor_get_flat(y, 1), -1, 1e-6);
    cr_assert_float_eq(mf_tensor_get_flat(y, 2), 1, 1e-6);
    cr_assert_eq(mf_tensor_get_flat(y, 3), 0);
    mf_tensor_release(y);
    mf_tensor_release(x);
}

Test(preprocess, slices_along_each_plane_pick_the_right_voxels) {
    double vals[24];
    for (int i = 0; i < 24; i++)
        vals[i] = i;
    mf_tensor *v = t_from(3, (int64_t[]){2, 3, 4}, MF_F32, vals), *s = NULL;
    MF_OK_OR_FAIL(mf_volume_slice(v, MF_PLANE_AXIAL, 1, &s));
    cr_assert(s->ndim == 3 && s->shape[1] == 3 && s->shape[2] == 4);
    cr_assert_eq(mf_tensor_get_flat(s, 5), at(v, 1, 1, 1));
    mf_tensor_release(s);
    MF_OK_OR_FAIL(mf_volume_slice(v, MF_PLANE_CORONAL, 2, &s));
    cr_assert(s->shape[1] == 2 && s->shape[2] == 4);
    cr_assert_eq(mf_tensor_get_flat(s, 4 + 3), at(v, 1, 2, 3));
    mf_tensor_release(s);
    MF_OK_OR_FAIL(mf_volume_slice(v, MF_PLANE_SAGITTAL, 3, &s));
    cr_assert(s->shape[1] == 2 && s->shape[2] == 3);
    cr_assert_eq(mf_tensor_get_flat(s, 3 + 1), at(v, 1, 1, 3));
    mf_tensor_release(s);
    cr_assert_eq(mf_volume_slice(v, MF_PLANE_AXIAL, 2, &s), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "axial slice 2"));
    mf_tensor_release(v);
}

Test(preprocess, ch2_brain_and_aal_labels_resample_to_2mm_on_the_same_grid) {
    mf_volume t1, aal, t2, a2;
    MF_OK_OR_FAIL(mf_nifti_read(CH2, NULL, &t1));
    MF_OK_OR_FAIL(mf_nifti_read(AAL, NULL, &aal));
    cr_assert(mf_tensor_same_shape(t1.data, aal.data));
    MF_OK_OR_FAIL(mf_volume_resample(&t1, (double[]){2, 2, 2}, MF_INTERP_LINEAR, &t2));
    MF_OK_OR_FAIL(mf_volume_resample(&aal, (double[]){2, 2, 2}, MF_INTERP_NEAREST, &a2));
    for (int k = 0; k < 3; k++) {
        int64_t n = t1.data->shape[k];
        cr_assert_eq(t2.data->shape[k], (int64_t)llround(n / 2.0), "axis %d", k);
        cr_assert(mf_tensor_same_shape(t2.data, a2.data));
    }
    cr_assert_eq(a2.data->dtype, aal.data->dtype);
    /* 1 mm -> 2 mm with voxel 0 fixed: new voxel v is old voxel 2v exactly */
    int64_t probes[4][3] = {{10, 20, 30}, {45, 54, 45}, {30, 60, 40}, {0, 0, 0}};
    for (int p = 0; p < 4; p++) {
        int64_t k = probes[p][0], j = probes[p][1], i = probes[p][2];
        cr_assert_float_eq(at(t2.data, k, j, i), at(t1.data, 2 * k, 2 * j, 2 * i), 1e-3);
        cr_assert_eq(at(a2.data, k, j, i), at(aal.data, 2 * k, 2 * j, 2 * i));
        double w0[3], w1[3];
        world(t2.affine, (double)i, (double)j, (double)k, w0);
        world(t1.affine, 2.0 * i, 2.0 * j, 2.0 * k, w1);
        for (int c = 0; c < 3; c++)
            cr_assert_float_eq(w0[c], w1[c], 1e-6);
    }
    /* labels survive: the brain still holds many AAL regions */
    int seen[256] = {0}, n_regions = 0;
    for (int64_t q = 0; q < mf_tensor_numel(a2.data); q++) {
        int l = (int)mf_tensor_get_flat(a2.data, q);
        if (l > 0 && l < 256 && !seen[l]++)
            n_regions++;
    }
    cr_assert_gt(n_regions, 100);
    mf_volume_free(&t1);
    mf_volume_free(&aal);
    mf_volume_free(&t2);
    mf_volume_free(&a2);
}

Test(preprocess, bad_volumes_give_errors_not_crashes) {
    mf_volume v = {0}, o;
    v.data = t_from(2, (int64_t[]){2, 2}, MF_F32, (double[]){1, 2, 3, 4});
    cr_assert_eq(mf_volume_resample(&v, (double[]){1, 1, 1}, MF_INTERP_LINEAR, &o), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "volume_resample"));
    mf_volume_free(&v);
    mf_volume w = vol(1, 1, 2, (double[]){1, 2}, (double[]){1, 1, 1});
    cr_assert_eq(mf_volume_resample(&w, (double[]){0, 1, 1}, MF_INTERP_LINEAR, &o), MF_ERR_INVALID);
    mf_volume_free(&w);
}
