/* Loaders from a `data.<split>` config section. */
#include <stdlib.h>
#include <string.h>

#include "medfm/loader.h"

#define NOL MF_NO_LIMIT
static const mf_key_spec k_loader[] = {
    {"source", MF_KEY_MAP, NULL, "where samples come from ({type: phantom2d, ...})", NOL, NOL, NULL, NULL, false},
    {"transforms", MF_KEY_LIST, "[]", "transform pipeline giving 'image' (without views)", NOL, NOL, NULL, NULL, false},
    {"views", MF_KEY_LIST, "[]", "multi-view: [{count: n, transforms: [...]}] giving view0, coords0, ...", NOL, NOL,
     NULL, NULL, false},
    {"batch_size", MF_KEY_INT, "32", "samples per batch", 1, 1e7, NULL, NULL, false},
    {"workers", MF_KEY_INT, "2", "worker threads (0: build on the caller's thread)", 0, 64, NULL, NULL, false},
    {"prefetch", MF_KEY_INT, "2", "batches built ahead", 1, 64, NULL, NULL, false},
    {"shuffle", MF_KEY_BOOL, "true", "reshuffle every epoch", NOL, NOL, NULL, NULL, false},
    {"drop_last", MF_KEY_BOOL, "false", "drop a last partial batch", NOL, NOL, NULL, NULL, false},
    {"skip_bad", MF_KEY_BOOL, "false", "skip and count samples that fail to load", NOL, NOL, NULL, NULL, false},
    {"sampling", MF_KEY_CHOICE, "sequential", "sample order", NOL, NOL, "sequential|weighted|balanced", NULL, false},
    {"weights", MF_KEY_LIST, "~", "per-sample weights for weighted sampling", NOL, NOL, NULL, NULL, true},
    {"samples_per_epoch", MF_KEY_INT, "0", "draws per epoch (0: the source's size)", 0, 1e12, NULL, NULL, false},
    {"mask_map", MF_KEY_MAP, "~", "label-map values as stored -> class ({0: 0, 255: 1}); every value must be listed",
     NOL, NOL, NULL, NULL, true},
};
static const mf_key_spec k_view[] = {
    {"count", MF_KEY_INT, "1", "views drawn with this pipeline", 1, MF_LOADER_MAX_VIEWS, NULL, NULL, false},
    {"transforms", MF_KEY_LIST, "[]", "the pipeline", NOL, NOL, NULL, NULL, false},
};
static const mf_schema s_view = {"data view", k_view, 2, false};
const mf_schema mf_loader_section_schema = {"data section", k_loader, (int)(sizeof k_loader / sizeof k_loader[0]),
                                            false};

const mf_schema *mf_loader_schema(void) { return &mf_loader_section_schema; }

mf_status mf_loader_from_cfg(mf_cfg *sec, uint64_t seed, mf_loader **out) {
    if (!sec || sec->kind != MF_CFG_MAP)
        return MF_ERR(MF_ERR_CONFIG, "%s: a data section is a map", sec ? mf_cfg_where(sec) : "?");
    mf_diag d = {0};
    mf_cfg_validate(sec, mf_loader_schema(), &d);
    mf_status st = mf_diag_status(&d);
    mf_diag_free(&d);
    MF_TRY(st);
    mf_loader_opts o;
    mf_loader_defaults(&o);
    o.seed = seed;
    bool b;
    const char *s;
    MF_TRY(mf_cfg_get_int(sec, "batch_size", 32, &o.batch_size));
    int64_t v;
    MF_TRY(mf_cfg_get_int(sec, "workers", 2, &v));
    o.workers = (int)v;
    MF_TRY(mf_cfg_get_int(sec, "prefetch", 2, &v));
    o.prefetch = (int)v;
    MF_TRY(mf_cfg_get_bool(sec, "shuffle", true, &b));
    o.shuffle = b;
    MF_TRY(mf_cfg_get_bool(sec, "drop_last", false, &b));
    o.drop_last = b;
    MF_TRY(mf_cfg_get_bool(sec, "skip_bad", false, &b));
    o.skip_bad = b;
    MF_TRY(mf_cfg_get_int(sec, "samples_per_epoch", 0, &o.samples_per_epoch));
    MF_TRY(mf_cfg_get_string(sec, "sampling", "sequential", &s));
    o.sampling = !strcmp(s, "weighted") ? MF_SAMPLE_WEIGHTED : !strcmp(s, "balanced") ? MF_SAMPLE_BALANCED
                                                                                       : MF_SAMPLE_SEQUENTIAL;
    mf_source *src = NULL;
    mf_pipeline *pipe = NULL, *views[MF_LOADER_MAX_VIEWS] = {0};
    double *w = NULL;
    int64_t mfrom[256], mto[256];
    const mf_cfg *mm = mf_cfg_find(sec, "mask_map");
    if (mm && mm->kind == MF_CFG_MAP) {
        if (mm->n > 256)
            return MF_ERR(MF_ERR_CONFIG, "%s: mask_map: at most 256 entries", mf_cfg_where(mm));
        for (int i = 0; i < mm->n; i++) {
            char *end;
            long long k = strtoll(mm->items[i]->key, &end, 10);
            if (*end || end == mm->items[i]->key)
                return MF_ERR(MF_ERR_CONFIG, "%s: mask_map: key '%s' is not an integer label value",
                              mf_cfg_where(mm->items[i]), mm->items[i]->key);
            mfrom[i] = k;
            MF_TRY(mf_cfg_as_int(mm->items[i], &mto[i]));
        }
        o.n_mask_map = mm->n;
        o.mask_from = mfrom;
        o.mask_to = mto;
    }
    int nv = 0;
    MF_CHECK(mf_source_from_cfg(mf_cfg_find(sec, "source"), seed, &src));
    const mf_cfg *wl = mf_cfg_find(sec, "weights");
    if (o.sampling == MF_SAMPLE_WEIGHTED) {
        if (!wl || wl->kind != MF_CFG_LIST || wl->n != src->count)
            MF_CHECK(MF_ERR(MF_ERR_CONFIG, "%s: weighted sampling needs 'weights' with one number per sample (%lld)",
                            mf_cfg_where(wl ? wl : sec), (long long)src->count));
        if (!(w = malloc(sizeof(double) * (size_t)wl->n)))
            MF_CHECK(MF_ERR(MF_ERR_NOMEM, "loader: out of memory"));
        for (int i = 0; i < wl->n; i++)
            MF_CHECK(mf_cfg_as_float(wl->items[i], &w[i]));
        o.weights = w;
    }
    MF_CHECK(mf_pipeline_from_cfg(mf_cfg_find(sec, "transforms"), &pipe));
    mf_cfg *vl = mf_cfg_find(sec, "views");
    for (int i = 0; vl && i < vl->n; i++) {
        mf_cfg *vi = vl->items[i];
        mf_diag dv = {0};
        mf_cfg_validate(vi, &s_view, &dv);
        st = mf_diag_status(&dv);
        mf_diag_free(&dv);
        MF_CHECK(st);
        int64_t count;
        MF_CHECK(mf_cfg_get_int(vi, "count", 1, &count));
        for (int64_t k = 0; k < count; k++) {
            if (nv >= MF_LOADER_MAX_VIEWS)
                MF_CHECK(MF_ERR(MF_ERR_CONFIG, "%s: more than %d views", mf_cfg_where(vi), MF_LOADER_MAX_VIEWS));
            MF_CHECK(mf_pipeline_from_cfg(mf_cfg_find(vi, "transforms"), &views[nv]));
            nv++;
        }
    }
    st = mf_loader_new(src, pipe, nv, views, &o, out);
    free(w);
    return st;
cleanup:
    free(w);
    mf_source_release(src);
    mf_pipeline_free(pipe);
    for (int i = 0; i < nv; i++)
        mf_pipeline_free(views[i]);
    return st;
}
