/* 3-D as 2-D: slices of a volume source along one plane, drawn with a
 * chosen share of foreground slices (LVM-Med trains 2-D encoders on slices
 * of 3-D datasets; balancing keeps empty slices from dominating). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/data.h"
#include "medfm/ops/view.h"

typedef struct slices_ctx {
    mf_source *vol;
    mf_plane plane;
    double fg_prob;
    int64_t per_volume;
} slices_ctx;

static void slices_destroy(mf_source *s) {
    slices_ctx *c = s->ctx;
    mf_source_release(c->vol);
    free(c);
}

/* (C, D, H, W) -> slice (C, a, b) */
static mf_status slice_channels(const mf_tensor *x, mf_plane p, int64_t idx, mf_tensor **out) {
    mf_tensor *sl = NULL, *sq = NULL;
    MF_TRY(mf_slice(x, (int)p + 1, idx, idx + 1, 1, &sl));
    mf_status st = mf_squeeze(sl, (int)p + 1, &sq);
    if (st == MF_OK)
        st = mf_clone(sq, out);
    mf_tensor_release(sl);
    mf_tensor_release(sq);
    return st;
}

static mf_status slices_get(const mf_source *s, int64_t i, mf_rng *rng, mf_sample *out) {
    const slices_ctx *c = s->ctx;
    mf_sample v;
    MF_TRY(mf_source_get(c->vol, i % c->vol->count, rng, &v));
    mf_status st = MF_OK;
    int64_t *fg = NULL, *bg = NULL;
    if (!v.image || v.image->ndim != 4) {
        st = MF_ERR(MF_ERR_SHAPE, "slices: sample %s is not a (C, D, H, W) volume: %s", v.id,
                    v.image ? MF_SHAPE(v.image) : "none");
        goto done;
    }
    int64_t n = v.image->shape[1 + c->plane], nf = 0, nb = 0;
    fg = malloc(sizeof(int64_t) * (size_t)n);
    bg = malloc(sizeof(int64_t) * (size_t)n);
    if (!fg || !bg) {
        st = MF_ERR(MF_ERR_NOMEM, "slices: out of memory");
        goto done;
    }
    if (v.mask) {
        mf_tensor *m = NULL;
        if ((st = mf_contiguous(v.mask, &m)) != MF_OK)
            goto done;
        int64_t D = m->shape[0], H = m->shape[1], W = m->shape[2];
        char *has = calloc((size_t)n, 1);
        if (!has) {
            mf_tensor_release(m);
            st = MF_ERR(MF_ERR_NOMEM, "slices: out of memory");
            goto done;
        }
        int64_t total = D * H * W;
        for (int64_t k = 0; k < total; k++)
            if (mf_tensor_get_flat(m, k) != 0) {
                int64_t z = k / (H * W), y = (k / W) % H, x = k % W;
                has[c->plane == MF_PLANE_AXIAL ? z : c->plane == MF_PLANE_CORONAL ? y : x] = 1;
            }
        for (int64_t k = 0; k < n; k++) {
            if (has[k])
                fg[nf++] = k;
            else
                bg[nb++] = k;
        }
        free(has);
        mf_tensor_release(m);
    } else {
        for (int64_t k = 0; k < n; k++)
            bg[nb++] = k;
    }
    bool pick_fg = nf > 0 && (nb == 0 || mf_data_uniform(rng) < c->fg_prob);
    int64_t idx = pick_fg ? fg[mf_data_randint(rng, nf)] : bg[mf_data_randint(rng, nb)];
    if ((st = slice_channels(v.image, c->plane, idx, &out->image)) != MF_OK)
        goto done;
    if (v.mask) {
        mf_tensor *sm = NULL;
        if ((st = mf_volume_slice(v.mask, c->plane, idx, &sm)) != MF_OK)
            goto done;
        st = mf_squeeze(sm, 0, &out->mask);
        mf_tensor_release(sm);
        if (st != MF_OK)
            goto done;
    }
    out->label = v.label;
    out->plane = (int)c->plane;
    out->slice = idx;
    snprintf(out->id, sizeof out->id, "%.200s@%s:%lld", v.id, mf_plane_name(c->plane), (long long)idx);
done:
    free(fg);
    free(bg);
    mf_sample_clear(&v);
    return st;
}

static int64_t slices_label(const mf_source *s, int64_t i) {
    const slices_ctx *c = s->ctx;
    return c->vol->label_of ? c->vol->label_of(c->vol, i % c->vol->count) : -1;
}

mf_status mf_source_slices(mf_source *volumes, mf_plane plane, double fg_prob, int64_t per_volume, mf_source **out) {
    mf_status st = MF_OK;
    if (!volumes)
        return MF_ERR(MF_ERR_INVALID, "slices source: no volume source");
    if (volumes->dims != 3)
        st = MF_ERR(MF_ERR_INVALID, "slices source: the %s source is %d-D, not 3-D", volumes->type, volumes->dims);
    else if ((unsigned)plane > 2 || !(fg_prob >= 0 && fg_prob <= 1) || per_volume < 1)
        st = MF_ERR(MF_ERR_INVALID, "slices source: plane %d, fg_prob %g (0..1), per_volume %lld (>= 1)", (int)plane,
                    fg_prob, (long long)per_volume);
    mf_source *s = st == MF_OK ? calloc(1, sizeof *s) : NULL;
    slices_ctx *c = st == MF_OK ? calloc(1, sizeof *c) : NULL;
    if (st == MF_OK && (!s || !c))
        st = MF_ERR(MF_ERR_NOMEM, "slices source: out of memory");
    if (st != MF_OK) {
        free(s);
        free(c);
        mf_source_release(volumes);
        return st;
    }
    c->vol = volumes;
    c->plane = plane;
    c->fg_prob = fg_prob;
    c->per_volume = per_volume;
    s->type = "slices";
    s->count = volumes->count * per_volume;
    s->dims = 2;
    s->num_classes = volumes->num_classes;
    s->get = slices_get;
    s->label_of = slices_label;
    s->destroy = slices_destroy;
    s->ctx = c;
    *out = s;
    return MF_OK;
}
