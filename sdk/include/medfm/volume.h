/* Volumes with geometry: a voxel tensor plus the affine that places it in
 * world space (RAS+ millimetres), read from and written to NIfTI-1/2. */
#ifndef MEDFM_VOLUME_H
#define MEDFM_VOLUME_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* data: (D, H, W) for 3-D volumes, (T, D, H, W) for 4-D series. The last
 * tensor dim is NIfTI's i (x), then j (y), then k (z).
 * affine maps a voxel index (i, j, k, 1) to world (x, y, z, 1) in mm, RAS+
 * (x to the Right, y Anterior, z Superior). spacing is the length of each
 * voxel axis (i, j, k) in mm. */
typedef struct mf_volume {
    mf_tensor *data;
    double affine[4][4];
    double spacing[3];
} mf_volume;

typedef struct mf_nifti_options {
    /* Reorder and flip the voxel axes so i, j, k run towards R, A, S
     * (nibabel's as_closest_canonical), adjusting the affine to match. */
    bool canonical;
    /* Apply scl_slope/scl_inter and return f32 (integer files without
     * scaling otherwise keep their integer dtype: label maps). */
    bool as_float;
} mf_nifti_options;

/* Reads .nii or .nii.gz (NIfTI-1 or -2; u8, i8, i16, u16, i32, u32, i64,
 * f32, f64; either byte order). Geometry from the sform when its code is
 * set, else the qform, else the voxel sizes. */
mf_status mf_nifti_read(const char *path, const mf_nifti_options *opt, mf_volume *out);
/* Writes `data` (3-D or 4-D CPU tensor; u8, i16, i32, f32 or f64) with
 * the given affine as both qform and sform (.nii or .nii.gz by name). To
 * overlay a prediction on its source, pass the source volume's affine. */
mf_status mf_nifti_write(const char *path, const mf_tensor *data, const double affine[4][4]);
void mf_volume_free(mf_volume *v);

/* Reorients a volume in place to the closest RAS+ axis order. */
mf_status mf_volume_to_canonical(mf_volume *v);

#ifdef __cplusplus
}
#endif
#endif
