/* NIfTI-1/2 reading through libnifti (nifti2_io handles both versions,
 * gzip and byte swapping). The file is checked before libnifti sees it so
 * that a missing, truncated or foreign file gives a message naming it
 * rather than libnifti's stderr noise. */
#include <errno.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "medfm/volume.h"

/* First 352 bytes of the (possibly gzipped) file, for a header check. */
static mf_status peek_header(const char *path, unsigned char *buf, int *got) {
    gzFile g = gzopen(path, "rb");
    if (!g)
        return MF_ERR(MF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int n = gzread(g, buf, 540);
    gzclose(g);
    if (n < 0)
        return MF_ERR(MF_ERR_FORMAT, "%s: corrupt gzip stream", path);
    *got = n;
    return MF_OK;
}

static mf_status check_header(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return MF_ERR(errno == ENOENT ? MF_ERR_NOT_FOUND : MF_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return MF_ERR(MF_ERR_IO, "%s: not a regular file", path);
    unsigned char h[540];
    int n;
    MF_TRY(peek_header(path, h, &n));
    if (n < 348)
        return MF_ERR(MF_ERR_FORMAT, "%s: %d bytes is too short for a NIfTI header (348 for NIfTI-1, 540 for NIfTI-2)",
                      path, n);
    int32_t sz;
    memcpy(&sz, h, 4);
    int32_t swapped = (int32_t)__builtin_bswap32((uint32_t)sz);
    if (sz == 348 || swapped == 348) {
        if (memcmp(h + 344, "n+1", 4) != 0 && memcmp(h + 344, "ni1", 4) != 0)
            return MF_ERR(MF_ERR_FORMAT, "%s: NIfTI-1 sized header without the 'n+1' magic (Analyze files are not "
                                         "supported)", path);
        return MF_OK;
    }
    if (sz == 540 || swapped == 540) {
        if (n < 540)
            return MF_ERR(MF_ERR_FORMAT, "%s: truncated NIfTI-2 header (%d of 540 bytes)", path, n);
        return MF_OK;
    }
    return MF_ERR(MF_ERR_FORMAT, "%s: not a NIfTI file (header size field is %d, expected 348 or 540)", path, sz);
}

static mf_status dtype_of(const nifti_image *nim, const char *path, mf_dtype *dt) {
    switch (nim->datatype) {
    case NIFTI_TYPE_UINT8: *dt = MF_U8; return MF_OK;
    case NIFTI_TYPE_INT8: *dt = MF_I8; return MF_OK;
    case NIFTI_TYPE_INT16: *dt = MF_I16; return MF_OK;
    case NIFTI_TYPE_UINT16: *dt = MF_U16; return MF_OK;
    case NIFTI_TYPE_INT32: *dt = MF_I32; return MF_OK;
    case NIFTI_TYPE_FLOAT32: *dt = MF_F32; return MF_OK;
    case NIFTI_TYPE_FLOAT64: *dt = MF_F64; return MF_OK;
    case NIFTI_TYPE_INT64: *dt = MF_I64; return MF_OK;
    case NIFTI_TYPE_UINT32: *dt = MF_I64; return MF_OK; /* widened */
    default:
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s: NIfTI datatype %d (%s) is not supported", path, nim->datatype,
                      nifti_datatype_string(nim->datatype));
    }
}

mf_status mf_nifti_read(const char *path, const mf_nifti_options *opt, mf_volume *out) {
    mf_nifti_options def = {.canonical = true, .as_float = false};
    if (!opt)
        opt = &def;
    memset(out, 0, sizeof *out);
    MF_TRY(check_header(path));
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim)
        return MF_ERR(MF_ERR_FORMAT, "%s: invalid NIfTI header (libnifti rejected it)", path);
    mf_status st = MF_OK;
    mf_tensor *t = NULL;
    if (nifti_image_load(nim) != 0 || !nim->data) {
        st = MF_ERR(MF_ERR_FORMAT, "%s: voxel data is missing or truncated (expected %lld voxels of %d bytes)", path,
                    (long long)nim->nvox, nim->nbyper);
        goto cleanup;
    }
    int nd = nim->ndim;
    if (nd < 1 || nd > 7) {
        st = MF_ERR(MF_ERR_FORMAT, "%s: invalid number of dimensions %d", path, nd);
        goto cleanup;
    }
    /* Higher dims beyond 4 are folded into T. */
    int64_t nx = nim->nx, ny = nd >= 2 ? nim->ny : 1, nz = nd >= 3 ? nim->nz : 1, nt = 1;
    for (int d = 4; d <= nd; d++)
        nt *= nim->dim[d];
    if (nx < 1 || ny < 1 || nz < 1 || nt < 1 || nx * ny * nz * nt != nim->nvox) {
        st = MF_ERR(MF_ERR_FORMAT, "%s: inconsistent dimensions", path);
        goto cleanup;
    }
    mf_dtype raw;
    if ((st = dtype_of(nim, path, &raw)) != MF_OK)
        goto cleanup;
    int64_t shape4[4] = {nt, nz, ny, nx};
    int ndim = nt > 1 ? 4 : 3;
    const int64_t *shape = nt > 1 ? shape4 : shape4 + 1;
    bool scale = nim->scl_slope != 0 && isfinite(nim->scl_slope) && !(nim->scl_slope == 1 && nim->scl_inter == 0);
    bool to_float = opt->as_float || scale || raw == MF_F64;
    mf_tensor *rawt = NULL;
    if (nim->datatype == NIFTI_TYPE_UINT32) {
        if ((st = mf_tensor_empty(ndim, shape, MF_I64, MF_DEVICE_CPU, &rawt)) != MF_OK)
            goto cleanup;
        const uint32_t *src = nim->data;
        int64_t *dst = mf_tensor_data(rawt);
        for (int64_t i = 0; i < nim->nvox; i++)
            dst[i] = src[i];
    } else if ((st = mf_tensor_from_data(ndim, shape, raw, nim->data, &rawt)) != MF_OK) {
        goto cleanup;
    }
    if (to_float) {
        st = mf_tensor_empty(ndim, shape, MF_F32, MF_DEVICE_CPU, &t);
        if (st == MF_OK)
            st = mf_tensor_copy_(t, rawt);
        mf_tensor_release(rawt);
        if (st != MF_OK)
            goto cleanup;
        if (scale) {
            float *p = mf_tensor_data(t);
            for (int64_t i = 0; i < nim->nvox; i++)
                p[i] = (float)(p[i] * nim->scl_slope + nim->scl_inter);
        }
    } else {
        t = rawt;
    }
    nifti_dmat44 m;
    if (nim->sform_code > 0)
        m = nim->sto_xyz;
    else
        m = nim->qto_xyz; /* libnifti sets it from pixdim when qform_code == 0 */
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            out->affine[r][c] = m.m[r][c];
    for (int a = 0; a < 3; a++)
        out->spacing[a] = sqrt(m.m[0][a] * m.m[0][a] + m.m[1][a] * m.m[1][a] + m.m[2][a] * m.m[2][a]);
    out->data = t;
    t = NULL;
    if (opt->canonical)
        st = mf_volume_to_canonical(out);
cleanup:
    mf_tensor_release(t);
    nifti_image_free(nim);
    if (st != MF_OK)
        mf_volume_free(out);
    return st;
}

void mf_volume_free(mf_volume *v) {
    if (!v)
        return;
    mf_tensor_clear(&v->data);
}
