/* NIfTI reading and writing on real files from Debian packages
 * (mricron-data's ch2 brain, nibabel's test data): values and geometry
 * agree with nibabel (figures computed with it), round trips keep data and
 * geometry for every dtype, and broken files give errors naming them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/support/testing.h"

#define CH2 "/usr/share/mricron/templates/ch2.nii.gz"
#define NIB "/usr/lib/python3/dist-packages/nibabel/tests/data/"

static double tensor_sum(const mf_tensor *t) {
    double s = 0;
    for (int64_t i = 0; i < mf_tensor_numel(t); i++)
        s += mf_tensor_get_flat(t, i);
    return s;
}

static double at3(const mf_tensor *t, int64_t k, int64_t j, int64_t i) {
    return mf_tensor_get_flat(t, (k * t->shape[1] + j) * t->shape[2] + i);
}

Test(nifti, reads_the_ch2_brain_with_its_geometry) {
    mf_volume v;
    MF_OK_OR_FAIL(mf_nifti_read(CH2, NULL, &v));
    cr_assert_eq(v.data->ndim, 3);
    cr_assert(v.data->shape[0] == 181 && v.data->shape[1] == 217 && v.data->shape[2] == 181, "%s", MF_SHAPE(v.data));
    cr_assert_eq(v.data->dtype, MF_U8);
    cr_assert_float_eq(tensor_sum(v.data), 317151210.0, 0.5);
    cr_assert_eq(at3(v.data, 90, 108, 90), 33);
    cr_assert_eq(at3(v.data, 60, 50, 30), 15);
    cr_assert_float_eq(v.affine[0][3], -90.0, 1e-9);
    cr_assert_float_eq(v.affine[1][3], -125.0, 1e-9);
    cr_assert_float_eq(v.affine[2][3], -71.0, 1e-9);
    for (int a = 0; a < 3; a++)
        cr_assert_float_eq(v.spacing[a], 1.0, 1e-9);
    mf_volume_free(&v);
}

Test(nifti, big_endian_las_file_is_swapped_and_flipped_to_ras) {
    mf_nifti_options raw = {.canonical = false};
    mf_volume v, c;
    MF_OK_OR_FAIL(mf_nifti_read(NIB "anatomical.nii", &raw, &v));
    cr_assert_eq(v.data->dtype, MF_I16);
    cr_assert_float_eq(tensor_sum(v.data), 284166082.0, 0.5);
    cr_assert_eq(at3(v.data, 12, 20, 0), 8907);
    cr_assert_float_eq(v.affine[0][0], -2.0, 1e-9);
    MF_OK_OR_FAIL(mf_nifti_read(NIB "anatomical.nii", NULL, &c));
    cr_assert_eq(at3(c.data, 12, 20, 0), 9861);
    cr_assert_float_eq(c.affine[0][0], 2.0, 1e-9);
    cr_assert_float_eq(c.affine[0][3], -32.0, 1e-9);
    cr_assert_float_eq(c.affine[1][3], -40.0, 1e-9);
    cr_assert_float_eq(c.spacing[0], 2.0, 1e-9);
    mf_volume_free(&v);
    mf_volume_free(&c);
}

Test(nifti, nifti2_four_dimensional_series_reads_as_t_d_h_w) {
    mf_nifti_options raw = {.canonical = false};
    mf_volume v, c;
    MF_OK_OR_FAIL(mf_nifti_read(NIB "example_nifti2.nii.gz", &raw, &v));
    cr_assert_eq(v.data->ndim, 4);
    cr_assert(v.data->shape[0] == 2 && v.data->shape[1] == 12 && v.data->shape[2] == 20 && v.data->shape[3] == 32,
              "%s", MF_SHAPE(v.data));
    cr_assert_float_eq(tensor_sum(v.data), 6926802.0, 0.5);
    int64_t idx = ((1 * 12 + 7) * 20 + 6) * 32 + 5;
    cr_assert_eq(mf_tensor_get_flat(v.data, idx), 393);
    MF_OK_OR_FAIL(mf_nifti_read(NIB "example_nifti2.nii.gz", NULL, &c));
    cr_assert_eq(mf_tensor_get_flat(c.data, idx), 413);
    cr_assert_float_eq(c.affine[0][3], 55.8551, 1e-3);
    cr_assert_float_eq(c.affine[2][2], 2.1711, 1e-3);
    mf_volume_free(&v);
    mf_volume_free(&c);
}

Test(nifti, as_float_returns_f32_voxels) {
    mf_nifti_options o = {.canonical = true, .as_float = true};
    mf_volume v;
    MF_OK_OR_FAIL(mf_nifti_read(NIB "anatomical.nii", &o, &v));
    cr_assert_eq(v.data->dtype, MF_F32);
    cr_assert_float_eq(tensor_sum(v.data), 284166082.0, 1.0);
    mf_volume_free(&v);
}

Test(nifti, write_then_read_keeps_data_and_oblique_geometry_for_every_dtype) {
    double aff[4][4] = {{-1.5, 0.1, 0, 10}, {0.05, 2.0, -0.3, -20}, {0, 0.2, 3.0, 5}, {0, 0, 0, 1}};
    mf_dtype dts[] = {MF_U8, MF_I16, MF_I32, MF_F32, MF_F64};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        for (int gz = 0; gz < 2; gz++) {
            mf_tensor *t = t_uniform(i + 1, 3, (int64_t[]){4, 5, 6}, dts[i], 0, 100);
            char path[64];
            snprintf(path, sizeof path, "/tmp/mf_nifti_rt_%d_%zu.nii%s", (int)getpid(), i, gz ? ".gz" : "");
            MF_OK_OR_FAIL(mf_nifti_write(path, t, (const double(*)[4])aff));
            mf_nifti_options raw = {.canonical = false};
            mf_volume v;
            MF_OK_OR_FAIL(mf_nifti_read(path, &raw, &v));
            cr_assert_eq(v.data->dtype, dts[i] == MF_F64 ? MF_F32 : dts[i]);
            t_assert_close(v.data, t, dts[i] == MF_F64 ? 1e-4 : 0, 1e-6, mf_dtype_name(dts[i]));
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++)
                    cr_assert_float_eq(v.affine[r][c], aff[r][c], 1e-4, "affine[%d][%d] %g vs %g", r, c,
                                       v.affine[r][c], aff[r][c]);
            mf_volume_free(&v);
            mf_tensor_release(t);
            unlink(path);
        }
    }
}

Test(nifti, a_prediction_written_with_the_source_affine_overlays_it) {
    mf_volume src;
    MF_OK_OR_FAIL(mf_nifti_read(NIB "anatomical.nii", NULL, &src));
    mf_tensor *labels = t_uniform(3, 3, src.data->shape, MF_U8, 0, 4);
    const char *path = "/tmp/mf_nifti_pred.nii.gz";
    MF_OK_OR_FAIL(mf_nifti_write(path, labels, (const double(*)[4])src.affine));
    mf_volume back;
    MF_OK_OR_FAIL(mf_nifti_read(path, NULL, &back));
    t_assert_close(back.data, labels, 0, 0, "labels");
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            cr_assert_float_eq(back.affine[r][c], src.affine[r][c], 1e-5);
    mf_volume_free(&src);
    mf_volume_free(&back);
    mf_tensor_release(labels);
    unlink(path);
}

static void copy_prefix(const char *from, const char *to, long n) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b);
    char buf[4096];
    long left = n;
    size_t r;
    while (left > 0 && (r = fread(buf, 1, left < 4096 ? (size_t)left : 4096, a)) > 0) {
        fwrite(buf, 1, r, b);
        left -= (long)r;
    }
    fclose(a);
    fclose(b);
}

Test(nifti, broken_files_give_errors_naming_the_file) {
    mf_volume v;
    cr_assert_eq(mf_nifti_read("/tmp/definitely_missing.nii", NULL, &v), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "definitely_missing.nii"));

    const char *trunc = "/tmp/mf_trunc.nii";
    copy_prefix(NIB "anatomical.nii", trunc, 5000); /* header fine, data cut */
    cr_assert_eq(mf_nifti_read(trunc, NULL, &v), MF_ERR_FORMAT);
    cr_assert(strstr(mf_last_error(), "mf_trunc.nii") && strstr(mf_last_error(), "truncated"), "%s", mf_last_error());

    copy_prefix(NIB "anatomical.nii", trunc, 100); /* header cut */
    cr_assert_eq(mf_nifti_read(trunc, NULL, &v), MF_ERR_FORMAT);
    cr_assert(strstr(mf_last_error(), "too short"), "%s", mf_last_error());

    const char *gzbad = "/tmp/mf_trunc.nii.gz";
    copy_prefix(CH2, gzbad, 20000); /* gzip stream cut */
    cr_assert_neq(mf_nifti_read(gzbad, NULL, &v), MF_OK);
    cr_assert(strstr(mf_last_error(), "mf_trunc.nii.gz"), "%s", mf_last_error());

    const char *text = "/tmp/mf_text.nii";
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 100; i++)
        fputs("not a nifti file at all\n", f);
    fclose(f);
    cr_assert_eq(mf_nifti_read(text, NULL, &v), MF_ERR_FORMAT);
    cr_assert(strstr(mf_last_error(), "not a NIfTI file"), "%s", mf_last_error());
    unlink(trunc);
    unlink(gzbad);
    unlink(text);
}

Test(nifti, writer_rejects_bad_shapes_dtypes_and_names) {
    mf_tensor *t2 = t_uniform(1, 2, (int64_t[]){4, 5}, MF_F32, 0, 1);
    mf_tensor *tb = t_uniform(1, 3, (int64_t[]){2, 2, 2}, MF_BOOL, 0, 1);
    double id[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
    cr_assert_eq(mf_nifti_write("/tmp/x.nii", t2, (const double(*)[4])id), MF_ERR_SHAPE);
    cr_assert_eq(mf_nifti_write("/tmp/x.nii", tb, (const double(*)[4])id), MF_ERR_DTYPE);
    mf_tensor *t3 = t_uniform(1, 3, (int64_t[]){2, 2, 2}, MF_F32, 0, 1);
    cr_assert_eq(mf_nifti_write("/tmp/x.png", t3, (const double(*)[4])id), MF_ERR_INVALID);
    cr_assert_eq(mf_nifti_write("/nonexistent/dir/x.nii", t3, (const double(*)[4])id), MF_ERR_IO);
    mf_tensor_release(t2);
    mf_tensor_release(tb);
    mf_tensor_release(t3);
}
