/* 2-D slices of volumes along the three anatomical planes, keeping the
 * slice index (Med3DInsight pairs a volume with plane + index). */
#include <string.h>

#include "medfm/data.h"
#include "medfm/ops/view.h"

static const char *plane_names[3] = {"axial", "coronal", "sagittal"};

mf_status mf_plane_parse(const char *s, mf_plane *out) {
    for (int p = 0; p < 3; p++)
        if (s && strcmp(s, plane_names[p]) == 0) {
            *out = (mf_plane)p;
            return MF_OK;
        }
    return MF_ERR(MF_ERR_INVALID, "unknown plane '%s' (axial, coronal or sagittal)", s ? s : "(null)");
}

const char *mf_plane_name(mf_plane p) { return (unsigned)p < 3 ? plane_names[p] : "?"; }

/* tensor dim fixed by each plane: axial D (0), coronal H (1), sagittal W (2) */
int64_t mf_plane_count(const mf_tensor *vol, mf_plane p) {
    if (!vol || vol->ndim < 3 || (unsigned)p > 2)
        return 0;
    return vol->shape[vol->ndim - 3 + (int)p];
}

mf_status mf_volume_slice(const mf_tensor *vol, mf_plane p, int64_t index, mf_tensor **out) {
    if (!vol || vol->ndim != 3)
        return MF_ERR(MF_ERR_SHAPE, "volume_slice: expects a (D, H, W) tensor, got %s", vol ? MF_SHAPE(vol) : "none");
    if ((unsigned)p > 2)
        return MF_ERR(MF_ERR_INVALID, "volume_slice: plane %d", (int)p);
    int64_t n = vol->shape[p];
    if (index < 0 || index >= n)
        return MF_ERR(MF_ERR_INVALID, "volume_slice: %s slice %lld outside [0, %lld) of %s", plane_names[p],
                      (long long)index, (long long)n, MF_SHAPE(vol));
    /* select the slice (keeping its dim), move that dim first, copy */
    int perm[3][3] = {{0, 1, 2}, {1, 0, 2}, {2, 0, 1}};
    mf_tensor *sl = NULL, *pm = NULL;
    MF_TRY(mf_slice(vol, (int)p, index, index + 1, 1, &sl));
    mf_status st = mf_permute(sl, perm[p], &pm);
    if (st == MF_OK)
        st = mf_clone(pm, out);
    mf_tensor_release(sl);
    mf_tensor_release(pm);
    return st;
}
