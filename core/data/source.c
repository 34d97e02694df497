/* Sample sources: the common entry points and the phantom source (the
 * quickstart's default data). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/data.h"

void mf_sample_init(mf_sample *s) {
    memset(s, 0, sizeof *s);
    s->label = -1;
    s->plane = -1;
    s->slice = -1;
}

void mf_sample_clear(mf_sample *s) {
    mf_tensor_release(s->image);
    mf_tensor_release(s->mask);
    mf_tensor_release(s->slice_image);
    mf_tensor_release(s->text_embedding);
    mf_sample_init(s);
}

mf_status mf_source_get(const mf_source *s, int64_t index, mf_rng *rng, mf_sample *out) {
    mf_sample_init(out);
    if (!s)
        return MF_ERR(MF_ERR_INVALID, "source_get: NULL source");
    if (index < 0 || index >= s->count)
        return MF_ERR(MF_ERR_INVALID, "%s source: sample %lld outside [0, %lld)", s->type, (long long)index,
                      (long long)s->count);
    mf_rng local = mf_data_stream(0, 0, (uint64_t)index, 0);
    mf_status st = s->get(s, index, rng ? rng : &local, out);
    if (st != MF_OK)
        mf_sample_clear(out);
    return st;
}

void mf_source_release(mf_source *s) {
    if (!s)
        return;
    if (s->destroy)
        s->destroy(s);
    free(s);
}

typedef struct phantom_ctx {
    mf_phantom_opts o;
    char modality[16];
    uint64_t seed;
    int64_t offset;
} phantom_ctx;

void mf_source_phantom_set_offset(mf_source *s, int64_t offset) {
    if (s && s->get && s->ctx && !strncmp(s->type, "phantom", 7))
        ((phantom_ctx *)s->ctx)->offset = offset;
}

static mf_status phantom_get(const mf_source *s, int64_t index, mf_rng *rng, mf_sample *out) {
    const phantom_ctx *c = s->ctx;
    index += c->offset;
    snprintf(out->id, sizeof out->id, "phantom%dd-%lld", c->o.dims, (long long)index);
    return mf_phantom(&c->o, c->seed, index, &out->image, &out->mask, &out->label);
}

static int64_t phantom_label(const mf_source *s, int64_t index) {
    const phantom_ctx *c = s->ctx;
    /* the class comes from the generator's stream: reproduce only that */
    int64_t cls = -1;
    mf_phantom_opts o = c->o;
    o.size = 8;
    o.dims = 2;
    if (mf_phantom(&o, c->seed, index + c->offset, NULL, NULL, &cls) != MF_OK)
        return -1;
    return cls;
}

static void phantom_destroy(mf_source *s) { free(s->ctx); }

mf_status mf_source_phantom(const mf_phantom_opts *o, uint64_t seed, int64_t count, mf_source **out) {
    if (count < 1)
        return MF_ERR(MF_ERR_INVALID, "phantom source: count %lld must be positive", (long long)count);
    MF_TRY(mf_phantom(&(mf_phantom_opts){.size = 8, .dims = o->dims, .channels = o->channels,
                                          .num_classes = o->num_classes, .noise = o->noise, .modality = o->modality},
                      seed, 0, NULL, NULL, NULL));
    if (o->size < 8)
        return MF_ERR(MF_ERR_INVALID, "phantom source: size %lld (at least 8)", (long long)o->size);
    mf_source *s = calloc(1, sizeof *s);
    phantom_ctx *c = calloc(1, sizeof *c);
    if (!s || !c) {
        free(s);
        free(c);
        return MF_ERR(MF_ERR_NOMEM, "phantom source: out of memory");
    }
    c->o = *o;
    snprintf(c->modality, sizeof c->modality, "%s", o->modality ? o->modality : "mixed");
    c->o.modality = c->modality;
    c->seed = seed;
    s->type = o->dims == 3 ? "phantom3d" : "phantom2d";
    s->count = count;
    s->dims = o->dims;
    s->num_classes = o->num_classes;
    s->get = phantom_get;
    s->label_of = phantom_label;
    s->destroy = phantom_destroy;
    s->ctx = c;
    *out = s;
    return MF_OK;
}
