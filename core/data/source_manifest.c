/* Manifest source: one sample per manifest row (optionally one split):
 * 2-D images or NIfTI volumes, with label maps, classes, and Med3DInsight's
 * volume / plane / slice / slice image / text embedding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/source_files.h"
#include "medfm/ops/view.h"

typedef struct manifest_ctx {
    mf_manifest m;
    int64_t *rows; /* selected row indices */
} manifest_ctx;

static void man_destroy(mf_source *s) {
    manifest_ctx *c = s->ctx;
    mf_manifest_free(&c->m);
    free(c->rows);
    free(c);
}

static mf_status load(const mf_manifest *m, const mf_manifest_row *r, const char *what, const char *rel, bool mask,
                      mf_tensor **out) {
    char *p = mf_path_join(m->dir, rel);
    if (!p)
        return MF_ERR(MF_ERR_NOMEM, "%s:%d: out of memory", m->name, r->line);
    mf_status st = mask ? mf_load_mask_file(p, out) : mf_load_image_file(p, out);
    free(p);
    if (st != MF_OK)
        return mf_error_context(st, "%s:%d: %s '%s'", m->name, r->line, what, rel);
    return MF_OK;
}

static mf_status man_get(const mf_source *s, int64_t i, mf_rng *rng, mf_sample *out) {
    const manifest_ctx *c = s->ctx;
    const mf_manifest *m = &c->m;
    const mf_manifest_row *r = &m->rows[c->rows[i]];
    const char *name = r->image ? r->image : r->volume ? r->volume : r->slice_image;
    const char *base = strrchr(name, '/');
    snprintf(out->id, sizeof out->id, "%s", base ? base + 1 : name);
    if (r->plane >= 0)
        snprintf(out->id + strlen(out->id), sizeof out->id - strlen(out->id), "@%s:%lld",
                 mf_plane_name((mf_plane)r->plane), (long long)r->slice);
    out->label = r->cls;
    out->plane = r->plane;
    out->slice = r->slice;
    if (r->image)
        MF_TRY(load(m, r, "image", r->image, false, &out->image));
    else if (r->volume)
        MF_TRY(load(m, r, "volume", r->volume, false, &out->image));
    if (r->mask) {
        MF_TRY(load(m, r, "label map", r->mask, true, &out->mask));
        bool ok = out->image && out->mask->ndim == out->image->ndim - 1;
        for (int d = 0; ok && d < out->mask->ndim; d++)
            ok = out->mask->shape[d] == out->image->shape[d + 1];
        if (!ok)
            return MF_ERR(MF_ERR_SHAPE, "%s:%d: label map %s does not match image %s", m->name, r->line,
                          MF_SHAPE(out->mask), out->image ? MF_SHAPE(out->image) : "none");
    }
    if (r->slice_image) {
        MF_TRY(load(m, r, "slice image", r->slice_image, false, &out->slice_image));
    } else if (r->volume && r->plane >= 0 && r->slice >= 0) {
        mf_tensor *vol = out->image;
        if (vol->ndim != 4 || vol->shape[0] != 1)
            return MF_ERR(MF_ERR_SHAPE, "%s:%d: volume %s cannot be sliced", m->name, r->line, MF_SHAPE(vol));
        mf_tensor *sq = NULL;
        mf_status st = mf_squeeze(vol, 0, &sq);
        if (st == MF_OK)
            st = mf_volume_slice(sq, (mf_plane)r->plane, r->slice, &out->slice_image);
        mf_tensor_release(sq);
        if (st != MF_OK)
            return mf_error_context(st, "%s:%d", m->name, r->line);
    }
    if (r->embedding) {
        MF_TRY(mf_tensor_from_data(1, (int64_t[]){r->embedding_len}, MF_F32, r->embedding, &out->text_embedding));
    } else if (r->text_embedding) {
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s:%d: text_embedding '%s' must be given inline as numbers", m->name,
                      r->line, r->text_embedding);
    }
    return MF_OK;
}

static int64_t man_label(const mf_source *s, int64_t i) {
    const manifest_ctx *c = s->ctx;
    return c->m.rows[c->rows[i]].cls;
}

mf_status mf_source_manifest(const char *path, const char *split, mf_source **out) {
    manifest_ctx *c = calloc(1, sizeof *c);
    mf_source *s = calloc(1, sizeof *s);
    mf_status st = MF_OK;
    if (!c || !s) {
        free(c);
        free(s);
        return MF_ERR(MF_ERR_NOMEM, "manifest source: out of memory");
    }
    MF_CHECK(mf_manifest_read(path, &c->m));
    c->rows = malloc(sizeof(int64_t) * (size_t)(c->m.n + 1));
    if (!c->rows)
        MF_CHECK(MF_ERR(MF_ERR_NOMEM, "manifest source: out of memory"));
    int64_t n = 0, maxcls = -1;
    for (int64_t i = 0; i < c->m.n; i++) {
        const mf_manifest_row *r = &c->m.rows[i];
        if (split && (!r->split || strcmp(r->split, split)))
            continue;
        c->rows[n++] = i;
        maxcls = r->cls > maxcls ? r->cls : maxcls;
    }
    if (n == 0)
        MF_CHECK(MF_ERR(MF_ERR_NOT_FOUND, "%s: no rows%s%s", path, split ? " in split " : "", split ? split : ""));
    const mf_manifest_row *r0 = &c->m.rows[c->rows[0]];
    s->type = "manifest";
    s->count = n;
    s->dims = (r0->volume || (r0->image && mf_path_is_nifti(r0->image))) ? 3 : 2;
    s->num_classes = c->m.n_classes ? c->m.n_classes : (int)(maxcls + 1);
    s->get = man_get;
    s->label_of = man_label;
    s->destroy = man_destroy;
    s->ctx = c;
    *out = s;
    return MF_OK;
cleanup:
    mf_manifest_free(&c->m);
    free(c->rows);
    free(c);
    free(s);
    return st;
}
