/* Reorientation to the closest RAS+ voxel order: each voxel axis is
 * assigned the world axis it points along most (greedy on the largest
 * direction cosine, like nibabel's io_orientation), flipped where it points
 * backwards, and the data permuted to match. */
#include <math.h>
#include <string.h>

#include "medfm/volume.h"

mf_status mf_volume_to_canonical(mf_volume *v) {
    double (*A)[4] = v->affine;
    int world_of[3] = {-1, -1, -1}; /* voxel axis -> world axis */
    bool used_v[3] = {0}, used_w[3] = {0};
    for (int step = 0; step < 3; step++) {
        double best = -1;
        int bv = 0, bw = 0;
        for (int a = 0; a < 3; a++)
            for (int w = 0; w < 3; w++)
                if (!used_v[a] && !used_w[w] && fabs(A[w][a]) > best) {
                    best = fabs(A[w][a]);
                    bv = a;
                    bw = w;
                }
        world_of[bv] = bw;
        used_v[bv] = used_w[bw] = true;
    }
    bool flip[3];
    bool identity = true;
    for (int a = 0; a < 3; a++) {
        flip[a] = A[world_of[a]][a] < 0;
        if (flip[a] || world_of[a] != a)
            identity = false;
    }
    if (identity)
        return MF_OK;
    mf_tensor *src = v->data;
    int nd = src->ndim;
    /* Voxel axis a (i=0, j=1, k=2) lives in tensor dim nd-1-a. */
    int64_t n_old[3] = {src->shape[nd - 1], src->shape[nd - 2], src->shape[nd - 3]};
    int64_t n_new[3];
    int voxel_of[3]; /* new axis (= world axis) -> old voxel axis */
    for (int a = 0; a < 3; a++) {
        voxel_of[world_of[a]] = a;
        n_new[world_of[a]] = n_old[a];
    }
    int64_t shape[4];
    memcpy(shape, src->shape, sizeof(int64_t) * (size_t)nd);
    shape[nd - 1] = n_new[0];
    shape[nd - 2] = n_new[1];
    shape[nd - 3] = n_new[2];
    mf_tensor *dst;
    MF_TRY(mf_tensor_empty(nd, shape, src->dtype, MF_DEVICE_CPU, &dst));
    size_t es = mf_dtype_size(src->dtype);
    int64_t nt = nd == 4 ? src->shape[0] : 1;
    int64_t vol = n_old[0] * n_old[1] * n_old[2];
    /* Old strides (contiguous source) for each old voxel axis. */
    int64_t ostride[3] = {1, n_old[0], n_old[0] * n_old[1]};
    const char *s = mf_tensor_data(src);
    char *d = mf_tensor_data(dst);
    for (int64_t t = 0; t < nt; t++)
        for (int64_t z = 0; z < n_new[2]; z++)
            for (int64_t y = 0; y < n_new[1]; y++)
                for (int64_t x = 0; x < n_new[0]; x++) {
                    int64_t newidx[3] = {x, y, z};
                    int64_t off = 0;
                    for (int w = 0; w < 3; w++) {
                        int a = voxel_of[w];
                        int64_t i = flip[a] ? n_old[a] - 1 - newidx[w] : newidx[w];
                        off += i * ostride[a];
                    }
                    int64_t o = ((t * n_new[2] + z) * n_new[1] + y) * n_new[0] + x;
                    memcpy(d + o * (int64_t)es, s + (t * vol + off) * (int64_t)es, es);
                }
    /* New affine: column w is the old column of voxel_of[w], negated when
     * flipped, with the origin moved to the old far end. */
    double B[4][4];
    memset(B, 0, sizeof B);
    for (int r = 0; r < 3; r++)
        B[r][3] = A[r][3];
    for (int w = 0; w < 3; w++) {
        int a = voxel_of[w];
        for (int r = 0; r < 3; r++) {
            B[r][w] = flip[a] ? -A[r][a] : A[r][a];
            if (flip[a])
                B[r][3] += A[r][a] * (double)(n_old[a] - 1);
        }
    }
    B[3][3] = 1;
    double sp[3];
    for (int w = 0; w < 3; w++)
        sp[w] = v->spacing[voxel_of[w]];
    memcpy(v->affine, B, sizeof B);
    memcpy(v->spacing, sp, sizeof sp);
    mf_tensor_release(src);
    v->data = dst;
    return MF_OK;
}
