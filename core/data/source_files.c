/* Loading one image or label map from disk for the file-backed sources:
 * the format follows the file name (NIfTI) or its first bytes (PNG/JPEG). */
#include <stdlib.h>
#include <string.h>

#include "core/data/source_files.h"
#include "medfm/image.h"
#include "medfm/ops/view.h"

bool mf_path_is_nifti(const char *p) {
    size_t n = strlen(p);
    return (n > 4 && !strcmp(p + n - 4, ".nii")) || (n > 7 && !strcmp(p + n - 7, ".nii.gz"));
}

char *mf_path_join(const char *dir, const char *rel) {
    if (!rel)
        return NULL;
    if (rel[0] == '/' || !dir)
        dir = "";
    size_t a = strlen(dir), b = strlen(rel);
    char *s = malloc(a + b + 1);
    if (s) {
        memcpy(s, dir, a);
        memcpy(s + a, rel, b + 1);
    }
    return s;
}

static mf_status read_nifti(const char *path, mf_volume *v) {
    mf_nifti_options o = {.canonical = true, .as_float = false};
    MF_TRY(mf_nifti_read(path, &o, v));
    if (v->data->ndim != 3) {
        mf_status st = MF_ERR(MF_ERR_SHAPE, "%s: expected a 3-D volume, got %s", path, MF_SHAPE(v->data));
        mf_volume_free(v);
        return st;
    }
    return MF_OK;
}

mf_status mf_load_image_file(const char *path, mf_tensor **out) {
    if (mf_path_is_nifti(path)) {
        mf_volume v;
        MF_TRY(read_nifti(path, &v));
        mf_status st = mf_unsqueeze(v.data, 0, out);
        mf_volume_free(&v);
        return st;
    }
    return mf_image_read(path, out);
}

mf_status mf_load_mask_file(const char *path, mf_tensor **out) {
    if (mf_path_is_nifti(path)) {
        mf_volume v;
        MF_TRY(read_nifti(path, &v));
        *out = v.data;
        return MF_OK;
    }
    mf_tensor *img;
    MF_TRY(mf_image_read(path, &img));
    if (img->shape[0] != 1) {
        mf_status st = MF_ERR(MF_ERR_SHAPE, "%s: a label map must have one channel, got %s", path, MF_SHAPE(img));
        mf_tensor_release(img);
        return st;
    }
    mf_status st = mf_squeeze(img, 0, out);
    mf_tensor_release(img);
    return st;
}
