/* NIfTI writing: data plus an affine stored as both sform and qform, so a
 * predicted label map overlays its source image in any viewer. */
#include <errno.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medfm/volume.h"

static int nifti_type(mf_dtype dt) {
    switch (dt) {
    case MF_U8: return NIFTI_TYPE_UINT8;
    case MF_I16: return NIFTI_TYPE_INT16;
    case MF_I32: return NIFTI_TYPE_INT32;
    case MF_F32: return NIFTI_TYPE_FLOAT32;
    case MF_F64: return NIFTI_TYPE_FLOAT64;
    case MF_U16: return NIFTI_TYPE_UINT16;
    case MF_I8: return NIFTI_TYPE_INT8;
    case MF_I64: return NIFTI_TYPE_INT64;
    default: return 0;
    }
}

mf_status mf_nifti_write(const char *path, const mf_tensor *data, const double affine[4][4]) {
    if (data->ndim != 3 && data->ndim != 4)
        return MF_ERR(MF_ERR_SHAPE, "%s: NIfTI data must be 3-D (D,H,W) or 4-D (T,D,H,W), got %s", path,
                      MF_SHAPE(data));
    int dt = nifti_type(data->dtype);
    if (!dt)
        return MF_ERR(MF_ERR_DTYPE, "%s: cannot store dtype %s in NIfTI", path, mf_dtype_name(data->dtype));
    size_t len = strlen(path);
    bool gz = len > 7 && !strcmp(path + len - 7, ".nii.gz");
    if (!gz && !(len > 4 && !strcmp(path + len - 4, ".nii")))
        return MF_ERR(MF_ERR_INVALID, "%s: NIfTI file names end in .nii or .nii.gz", path);
    int nd = data->ndim;
    int64_t dims[8] = {nd, data->shape[nd - 1], data->shape[nd - 2], data->shape[nd - 3], nd == 4 ? data->shape[0] : 1,
                       1, 1, 1};
    /* libnifti reports an unwritable place on stderr only: check first. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (access(slash ? (dir[0] ? dir : "/") : ".", W_OK) != 0)
        return MF_ERR(MF_ERR_IO, "%s: cannot write into %s: %s", path, slash ? (dir[0] ? dir : "/") : ".",
                      strerror(errno));
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_make_new_nim(dims, dt, 0);
    if (!nim)
        return MF_ERR(MF_ERR_NOMEM, "%s: cannot create a NIfTI image", path);
    /* Write to a temporary name and rename, so a reader never sees half a file. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%.*s.tmp%d%s", (int)(len - (gz ? 7 : 4)), path, (int)getpid(), gz ? ".nii.gz" : ".nii");
    mf_status st = MF_OK;
    if (nifti_set_filenames(nim, tmp, 0, 1) != 0) {
        st = MF_ERR(MF_ERR_IO, "%s: invalid file name", path);
        goto cleanup;
    }
    nifti_dmat44 m;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            m.m[r][c] = affine[r][c];
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->sto_xyz = m;
    nim->sto_ijk = nifti_dmat44_inverse(m);
    nifti_dmat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                            &nim->qoffset_z, &nim->dx, &nim->dy, &nim->dz, &nim->qfac);
    nim->qto_xyz = nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                                           nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
    nim->pixdim[1] = nim->dx;
    nim->pixdim[2] = nim->dy;
    nim->pixdim[3] = nim->dz;
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->scl_slope = 1.0;
    nim->scl_inter = 0.0;
    /* libnifti frees nim->data with the image: give it its own copy. */
    nim->data = malloc(mf_tensor_nbytes(data) ? mf_tensor_nbytes(data) : 1);
    if (!nim->data) {
        st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if ((st = mf_tensor_to_host(data, data->dtype, nim->data, mf_tensor_nbytes(data))) != MF_OK)
        goto cleanup;
    errno = 0;
    nifti_image_write(nim);
    struct stat sb;
    if (stat(tmp, &sb) != 0 || sb.st_size == 0) {
        st = MF_ERR(MF_ERR_IO, "%s: writing failed%s%s", path, errno ? ": " : "", errno ? strerror(errno) : "");
        unlink(tmp);
        goto cleanup;
    }
    if (rename(tmp, path) != 0) {
        st = MF_ERR(MF_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        unlink(tmp);
    }
cleanup:
    nifti_image_free(nim);
    return st;
}
