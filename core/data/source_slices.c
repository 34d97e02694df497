/* 3-D as 2-D: slices of a volume source along one plane, drawn with a
 * chosen share of foreground slices (LVM-Med trains 2-D encoders on slices
 * of 3-D datasets; balancing keeps empty slices from dominating). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/data.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/view.h"

/* A loaded volume with its slice lists. Volumes are large and slow to
 * decode (a gzipped NIfTI), while many slice samples come from each, so the
 * last few are kept; volume sources are deterministic per index, so a
 * cached volume is the one a fresh load would give. */
#define SLICE_CACHE 4
typedef struct vol_entry {
    int64_t index; /* -1: empty */
    uint64_t used;
    mf_tensor *image, *mask;
    int64_t label;
    char id[256];
    int64_t *fg, *bg, nf, nb;
} vol_entry;

typedef struct slices_ctx {
    mf_source *vol;
    mf_plane plane;
    double fg_prob;
    int64_t per_volume;
    pthread_mutex_t mu;
    uint64_t tick;
    vol_entry cache[SLICE_CACHE];
} slices_ctx;

static void entry_clear(vol_entry *e) {
    mf_tensor_clear(&e->image);
    mf_tensor_clear(&e->mask);
    free(e->fg);
    free(e->bg);
    memset(e, 0, sizeof *e);
    e->index = -1;
}

static void slices_destroy(mf_source *s) {
    slices_ctx *c = s->ctx;
    for (int i = 0; i < SLICE_CACHE; i++)
        entry_clear(&c->cache[i]);
    pthread_mutex_destroy(&c->mu);
    mf_source_release(c->vol);
    free(c);
}

/* Loads volume `vi` and lists its foreground / background slices. */
static mf_status load_volume(const slices_ctx *c, int64_t vi, mf_rng *rng, vol_entry *e) {
    mf_sample v;
    MF_TRY(mf_source_get(c->vol, vi, rng, &v));
    mf_status st = MF_OK;
    if (!v.image || v.image->ndim != 4) {
        st = MF_ERR(MF_ERR_SHAPE, "slices: sample %s is not a (C, D, H, W) volume: %s", v.id,
                    v.image ? MF_SHAPE(v.image) : "none");
        goto done;
    }
    int64_t n = v.image->shape[1 + c->plane];
    e->fg = malloc(sizeof(int64_t) * (size_t)n);
    e->bg = malloc(sizeof(int64_t) * (size_t)n);
    char *has = calloc((size_t)n, 1);
    if (!e->fg || !e->bg || !has) {
        free(has);
        st = MF_ERR(MF_ERR_NOMEM, "slices: out of memory");
        goto done;
    }
    if (v.mask) {
        mf_tensor *m = NULL;
        if ((st = mf_to_dtype(v.mask, MF_I64, &m)) != MF_OK) {
            free(has);
            goto done;
        }
        const int64_t *p = mf_tensor_data(m);
        int64_t D = m->shape[0], H = m->shape[1], W = m->shape[2];
        for (int64_t z = 0; z < D; z++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++)
                    if (p[(z * H + y) * W + x] != 0)
                        has[c->plane == MF_PLANE_AXIAL ? z : c->plane == MF_PLANE_CORONAL ? y : x] = 1;
        mf_tensor_release(m);
    }
    for (int64_t k = 0; k < n; k++) {
        if (has[k])
            e->fg[e->nf++] = k;
        else
            e->bg[e->nb++] = k;
    }
    free(has);
    e->index = vi;
    e->image = mf_tensor_retain(v.image);
    e->mask = mf_tensor_retain(v.mask);
    e->label = v.label;
    snprintf(e->id, sizeof e->id, "%s", v.id);
done:
    mf_sample_clear(&v);
    return st;
}

/* *out = a copy of cache entry e holding its own references and slice
 * lists; called with c->mu held, which it releases. */
static mf_status share_and_unlock(slices_ctx *c, const vol_entry *e, vol_entry *out) {
    *out = *e;
    mf_tensor_retain(out->image);
    mf_tensor_retain(out->mask);
    out->fg = malloc(sizeof(int64_t) * (size_t)(e->nf + 1));
    out->bg = malloc(sizeof(int64_t) * (size_t)(e->nb + 1));
    if (out->fg && out->bg) {
        memcpy(out->fg, e->fg, sizeof(int64_t) * (size_t)e->nf);
        memcpy(out->bg, e->bg, sizeof(int64_t) * (size_t)e->nb);
    }
    pthread_mutex_unlock(&c->mu);
    if (!out->fg || !out->bg) {
        entry_clear(out);
        return MF_ERR(MF_ERR_NOMEM, "slices: out of memory");
    }
    return MF_OK;
}

/* A reference-holding copy of the cache entry for volume vi (loaded on a
 * miss, outside the lock, so workers decode different volumes at once). */
static mf_status get_volume(slices_ctx *c, int64_t vi, mf_rng *rng, vol_entry *out) {
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < SLICE_CACHE; i++) {
        vol_entry *e = &c->cache[i];
        if (e->index == vi) {
            e->used = ++c->tick;
            return share_and_unlock(c, e, out);
        }
    }
    pthread_mutex_unlock(&c->mu);
    vol_entry fresh = {.index = -1};
    MF_TRY(load_volume(c, vi, rng, &fresh));
    pthread_mutex_lock(&c->mu);
    int victim = 0;
    for (int i = 1; i < SLICE_CACHE; i++)
        if (c->cache[i].used < c->cache[victim].used)
            victim = i;
    entry_clear(&c->cache[victim]);
    vol_entry *e = &c->cache[victim];
    *e = fresh;
    e->used = ++c->tick;
    return share_and_unlock(c, e, out);
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
    slices_ctx *c = s->ctx;
    vol_entry v = {.index = -1};
    MF_TRY(get_volume(c, i % c->vol->count, rng, &v));
    mf_status st = MF_OK;
    bool pick_fg = v.nf > 0 && (v.nb == 0 || mf_data_uniform(rng) < c->fg_prob);
    int64_t idx = pick_fg ? v.fg[mf_data_randint(rng, v.nf)] : v.bg[mf_data_randint(rng, v.nb)];
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
    entry_clear(&v);
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
    pthread_mutex_init(&c->mu, NULL);
    for (int i = 0; i < SLICE_CACHE; i++)
        c->cache[i].index = -1;
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
