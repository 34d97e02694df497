/* The loader: per-epoch sample order (shuffled, weighted or class-balanced,
 * all from counter-based streams), batches built whole by one worker each
 * into a ring of prefetch slots, handed out strictly in order. Because a
 * batch depends only on (seed, epoch, batch index), any worker count gives
 * the same batches. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/loader.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/view.h"

void mf_loader_defaults(mf_loader_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch_size = 32;
    o->workers = 0;
    o->prefetch = 2;
    o->shuffle = true;
    o->drop_last = false;
    o->seed = 0;
    o->sampling = MF_SAMPLE_SEQUENTIAL;
}

typedef struct slot {
    int64_t batch; /* which batch it holds or builds; -1 free */
    int state;     /* 0 free, 1 building, 2 ready */
    mf_batch b;
    mf_status st;
    char msg[2048];
} slot;

struct mf_loader {
    mf_source *src;
    mf_pipeline *pipe;
    int n_views;
    mf_pipeline *views[MF_LOADER_MAX_VIEWS];
    mf_loader_opts o;
    double *weights;
    int64_t *mask_from, *mask_to; /* owned copies of the options' table */
    int64_t epoch, *order, n_order, n_batches;
    /* workers */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t *threads;
    int n_threads;
    slot *slots;
    int n_slots;
    int64_t next_build, next_take;
    bool stop, started;
    int64_t bad;
};

#define SOURCE_STREAM 0xFFFFu
#define ORDER_INDEX 0xFFFFFFFFFFFFull

/* ---- collation ---- */
static mf_status collate(const char *name, mf_tensor **items, int64_t n, char **ids, mf_batch *b) {
    if (n == 0)
        return MF_OK;
    const mf_tensor *f = items[0];
    for (int64_t i = 1; i < n; i++)
        if (!mf_tensor_same_shape(items[i], f) || items[i]->dtype != f->dtype)
            return MF_ERR(MF_ERR_SHAPE, "loader: cannot batch '%s': sample %s has %s %s but %s has %s %s (add a resize "
                          "or crop transform)", name, ids[0], mf_dtype_name(f->dtype), MF_SHAPE(f), ids[i],
                          mf_dtype_name(items[i]->dtype), MF_SHAPE(items[i]));
    int64_t shape[MF_MAX_DIMS];
    shape[0] = n;
    memcpy(shape + 1, f->shape, sizeof(int64_t) * (size_t)f->ndim);
    mf_tensor *t;
    MF_TRY(mf_tensor_empty(f->ndim + 1, shape, f->dtype, MF_DEVICE_CPU, &t));
    size_t per = mf_tensor_nbytes(f);
    char *d = mf_tensor_data(t);
    for (int64_t i = 0; i < n; i++) {
        mf_status st = mf_tensor_to_host(items[i], f->dtype, d + (size_t)i * per, per);
        if (st != MF_OK) {
            mf_tensor_release(t);
            return st;
        }
    }
    return mf_batch_put(b, name, t);
}

static mf_status put_scalars(const char *name, const int64_t *v, int64_t n, mf_batch *b) {
    mf_tensor *t;
    MF_TRY(mf_tensor_from_data(1, (int64_t[]){n}, MF_I64, v, &t));
    return mf_batch_put(b, name, t);
}

typedef struct built {
    int n_aug;
    mf_aug aug[MF_LOADER_MAX_VIEWS];
    mf_sample s;
} built;

/* Stored label values -> class indices through the mask_map table. */
static mf_status map_mask(const mf_loader *l, mf_sample *s) {
    mf_tensor *m = NULL;
    MF_TRY(mf_to_dtype(s->mask, MF_I64, &m));
    int64_t *p = mf_tensor_data(m), n = mf_tensor_numel(m);
    for (int64_t i = 0; i < n; i++) {
        int k = 0;
        while (k < l->o.n_mask_map && l->mask_from[k] != p[i])
            k++;
        if (k == l->o.n_mask_map) {
            mf_status st = MF_ERR(MF_ERR_FORMAT, "label map of %s holds value %lld, which mask_map does not list",
                                  s->id, (long long)p[i]);
            mf_tensor_release(m);
            return st;
        }
        p[i] = l->mask_to[k];
    }
    mf_tensor_release(s->mask);
    s->mask = m;
    return MF_OK;
}

/* one sample: load, transform each view */
static mf_status build_sample(const mf_loader *l, int64_t pos, built *out) {
    int64_t idx = l->order[pos];
    mf_rng srng = mf_data_stream(l->o.seed, (uint64_t)l->epoch, (uint64_t)pos, SOURCE_STREAM);
    mf_status st = mf_source_get(l->src, idx, &srng, &out->s);
    if (st == MF_OK && out->s.mask && l->o.n_mask_map > 0)
        st = map_mask(l, &out->s);
    if (st != MF_OK)
        return mf_error_context(st, "loader: sample %lld of the %s source", (long long)idx, l->src->type);
    if (!out->s.image)
        return MF_ERR(MF_ERR_FORMAT, "loader: sample %s has no image", out->s.id);
    int dims = out->s.image->ndim - 1;
    int nv = l->n_views ? l->n_views : 1;
    for (int v = 0; v < nv; v++) {
        mf_rng r = mf_data_stream(l->o.seed, (uint64_t)l->epoch, (uint64_t)pos, (uint64_t)v);
        st = mf_pipeline_apply(l->n_views ? l->views[v] : l->pipe, &r, dims, out->s.image, out->s.mask, &out->aug[v]);
        if (st != MF_OK)
            return mf_error_context(st, "loader: sample %s", out->s.id);
        out->n_aug = v + 1;
    }
    return MF_OK;
}

static void built_clear(built *b) {
    for (int v = 0; v < b->n_aug; v++)
        mf_aug_clear(&b->aug[v]);
    b->n_aug = 0;
    mf_sample_clear(&b->s);
}

static mf_status build_batch(const mf_loader *l, int64_t bi, mf_batch *b, int64_t *bad) {
    int64_t lo = bi * l->o.batch_size, hi = lo + l->o.batch_size;
    hi = hi > l->n_order ? l->n_order : hi;
    int64_t cap = hi - lo, n = 0;
    built *items = calloc((size_t)cap, sizeof(built));
    mf_tensor **tmp = calloc((size_t)cap, sizeof(mf_tensor *));
    char **ids = calloc((size_t)cap, sizeof(char *));
    int64_t *iv = calloc((size_t)cap, sizeof(int64_t));
    mf_status st = MF_OK;
    if (!items || !tmp || !ids || !iv) {
        st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
        goto done;
    }
    for (int64_t p = lo; p < hi; p++) {
        mf_sample_init(&items[n].s);
        st = build_sample(l, p, &items[n]);
        if (st != MF_OK) {
            built_clear(&items[n]);
            if (l->o.skip_bad && st != MF_ERR_NOMEM) {
                fprintf(stderr, "medfm: skipping a bad sample: %s\n", mf_last_error());
                (*bad)++;
                st = MF_OK;
                continue;
            }
            goto done;
        }
        ids[n] = items[n].s.id;
        n++;
    }
    b->size = n;
    if (n == 0)
        goto done;
    int nv = l->n_views ? l->n_views : 1;
    char name[32];
    for (int v = 0; v < nv; v++) {
        for (int64_t i = 0; i < n; i++)
            tmp[i] = items[i].aug[v].image;
        snprintf(name, sizeof name, l->n_views ? "view%d" : "image", v);
        if ((st = collate(name, tmp, n, ids, b)) != MF_OK)
            goto done;
        if (items[0].aug[v].mask) {
            for (int64_t i = 0; i < n; i++)
                if (!(tmp[i] = items[i].aug[v].mask)) {
                    st = MF_ERR(MF_ERR_FORMAT, "loader: sample %s has no mask but %s has", ids[i], ids[0]);
                    goto done;
                }
            snprintf(name, sizeof name, l->n_views ? "mask%d" : "mask", v);
            if ((st = collate(name, tmp, n, ids, b)) != MF_OK)
                goto done;
        }
        int dims = items[0].aug[v].dims;
        mf_tensor *c;
        int64_t cshape[3] = {n, dims, dims + 1};
        if ((st = mf_tensor_empty(3, cshape, MF_F64, MF_DEVICE_CPU, &c)) != MF_OK)
            goto done;
        double *cd = mf_tensor_data(c);
        for (int64_t i = 0; i < n; i++) {
            const mf_aug *a = &items[i].aug[v];
            if (dims == 2)
                mf_aug_map2(a, (double(*)[3])(cd + i * 6));
            else
                memcpy(cd + i * 12, a->map, sizeof a->map);
        }
        snprintf(name, sizeof name, "coords%d", v);
        if ((st = mf_batch_put(b, name, c)) != MF_OK)
            goto done;
    }
    if (items[0].s.label >= 0) {
        for (int64_t i = 0; i < n; i++)
            iv[i] = items[i].s.label;
        if ((st = put_scalars("label", iv, n, b)) != MF_OK)
            goto done;
    }
    if (items[0].s.plane >= 0) {
        for (int64_t i = 0; i < n; i++)
            iv[i] = items[i].s.plane;
        if ((st = put_scalars("plane", iv, n, b)) != MF_OK)
            goto done;
        for (int64_t i = 0; i < n; i++)
            iv[i] = items[i].s.slice;
        if ((st = put_scalars("slice", iv, n, b)) != MF_OK)
            goto done;
    }
    if (items[0].s.slice_image) {
        for (int64_t i = 0; i < n; i++)
            tmp[i] = items[i].s.slice_image;
        if ((st = collate("slice_image", tmp, n, ids, b)) != MF_OK)
            goto done;
    }
    if (items[0].s.text_embedding) {
        for (int64_t i = 0; i < n; i++)
            tmp[i] = items[i].s.text_embedding;
        if ((st = collate("text_embedding", tmp, n, ids, b)) != MF_OK)
            goto done;
    }
    if (!(b->sample_ids = calloc((size_t)n, sizeof(char *)))) {
        st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (!(b->sample_ids[i] = strdup(ids[i]))) {
            st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
            goto done;
        }
done:
    for (int64_t i = 0; items && i < cap; i++)
        built_clear(&items[i]);
    free(items);
    free(tmp);
    free(ids);
    free(iv);
    if (st != MF_OK)
        mf_batch_clear(b);
    return st;
}

/* ---- workers ---- */
static void *worker(void *arg) {
    mf_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !(l->next_build < l->n_batches && l->next_build < l->next_take + l->n_slots))
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop)
            break;
        int64_t bi = l->next_build++;
        slot *s = &l->slots[bi % l->n_slots];
        s->batch = bi;
        s->state = 1;
        pthread_mutex_unlock(&l->mu);
        mf_batch b = {0};
        int64_t bad = 0;
        mf_status st = build_batch(l, bi, &b, &bad);
        pthread_mutex_lock(&l->mu);
        s->b = b;
        s->st = st;
        if (st != MF_OK)
            snprintf(s->msg, sizeof s->msg, "%s", mf_last_error());
        l->bad += bad;
        s->state = 2;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void stop_workers(mf_loader *l) {
    if (!l->started)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_threads; i++)
        pthread_join(l->threads[i], NULL);
    l->n_threads = 0;
    for (int i = 0; i < l->n_slots; i++) {
        mf_batch_clear(&l->slots[i].b);
        l->slots[i].state = 0;
    }
    l->started = false;
}

/* ---- epochs ---- */
static mf_status make_order(mf_loader *l) {
    int64_t N = l->src->count;
    int64_t n = l->o.samples_per_epoch > 0 ? l->o.samples_per_epoch : N;
    free(l->order);
    l->order = malloc(sizeof(int64_t) * (size_t)n);
    if (!l->order)
        return MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
    mf_rng r = mf_data_stream(l->o.seed, (uint64_t)l->epoch, ORDER_INDEX, 0);
    if (l->o.sampling == MF_SAMPLE_SEQUENTIAL) {
        for (int64_t i = 0; i < n; i++)
            l->order[i] = i % N;
        if (l->o.shuffle)
            for (int64_t i = n - 1; i > 0; i--) {
                int64_t j = mf_data_randint(&r, i + 1), t = l->order[i];
                l->order[i] = l->order[j];
                l->order[j] = t;
            }
    } else {
        double *cum = malloc(sizeof(double) * (size_t)N);
        if (!cum)
            return MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
        double acc = 0;
        for (int64_t i = 0; i < N; i++)
            cum[i] = acc += l->weights[i];
        for (int64_t k = 0; k < n; k++) {
            double u = mf_data_uniform(&r) * acc;
            int64_t a = 0, b = N - 1;
            while (a < b) {
                int64_t m = (a + b) / 2;
                if (cum[m] > u)
                    b = m;
                else
                    a = m + 1;
            }
            l->order[k] = a;
        }
        free(cum);
    }
    l->n_order = n;
    l->n_batches = l->o.drop_last ? n / l->o.batch_size : (n + l->o.batch_size - 1) / l->o.batch_size;
    return MF_OK;
}

mf_status mf_loader_start_epoch(mf_loader *l, int64_t epoch) { return mf_loader_start_epoch_at(l, epoch, 0); }

mf_status mf_loader_start_epoch_at(mf_loader *l, int64_t epoch, int64_t first_batch) {
    stop_workers(l);
    l->epoch = epoch;
    MF_TRY(make_order(l));
    if (first_batch < 0 || first_batch > l->n_batches)
        return MF_ERR(MF_ERR_INVALID, "loader: batch %lld is outside epoch %lld's %lld batches", (long long)first_batch,
                      (long long)epoch, (long long)l->n_batches);
    /* Batches depend only on (seed, epoch, position): starting mid-epoch
     * gives exactly the batches an uninterrupted epoch would from there. */
    l->next_build = l->next_take = first_batch;
    l->stop = false;
    if (l->o.workers > 0) {
        l->started = true;
        for (int i = 0; i < l->o.workers; i++) {
            if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
                stop_workers(l);
                return MF_ERR(MF_ERR_STATE, "loader: cannot start worker thread %d", i);
            }
            l->n_threads++;
        }
    }
    return MF_OK;
}

mf_status mf_loader_next(mf_loader *l, mf_batch *b, bool *done) {
    mf_batch_clear(b);
    *done = false;
    if (l->next_take >= l->n_batches) {
        *done = true;
        return MF_OK;
    }
    int64_t bi = l->next_take;
    if (l->o.workers == 0) {
        int64_t bad = 0;
        mf_status st = build_batch(l, bi, b, &bad);
        l->bad += bad;
        l->next_take++;
        return st;
    }
    pthread_mutex_lock(&l->mu);
    slot *s = &l->slots[bi % l->n_slots];
    while (!(s->batch == bi && s->state == 2))
        pthread_cond_wait(&l->cv, &l->mu);
    *b = s->b;
    memset(&s->b, 0, sizeof s->b);
    mf_status st = s->st;
    char msg[sizeof s->msg];
    memcpy(msg, s->msg, sizeof msg);
    s->state = 0;
    s->batch = -1;
    l->next_take++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (st != MF_OK)
        return mf_error_at(st, __FILE__, __LINE__, "%s", msg);
    return MF_OK;
}

int64_t mf_loader_num_batches(const mf_loader *l) { return l->n_batches; }
int64_t mf_loader_bad_samples(const mf_loader *l) { return l->bad; }
const mf_source *mf_loader_source(const mf_loader *l) { return l->src; }

void mf_loader_free(mf_loader *l) {
    if (!l)
        return;
    stop_workers(l);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    mf_source_release(l->src);
    mf_pipeline_free(l->pipe);
    for (int v = 0; v < l->n_views; v++)
        mf_pipeline_free(l->views[v]);
    free(l->weights);
    free(l->mask_from);
    free(l->mask_to);
    free(l->order);
    free(l->threads);
    free(l->slots);
    free(l);
}

mf_status mf_loader_new(mf_source *src, mf_pipeline *pipe, int n_views, mf_pipeline **views, const mf_loader_opts *o,
                        mf_loader **out) {
    mf_status st = MF_OK;
    mf_loader *l = calloc(1, sizeof *l);
    if (!l) {
        st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
        goto fail;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->src = src;
    l->pipe = pipe;
    pipe = NULL;
    if (n_views < 0 || n_views > MF_LOADER_MAX_VIEWS) {
        st = MF_ERR(MF_ERR_INVALID, "loader: %d views (at most %d)", n_views, MF_LOADER_MAX_VIEWS);
        goto fail;
    }
    for (int v = 0; v < n_views; v++) {
        l->views[v] = views[v];
        views[v] = NULL;
    }
    l->n_views = n_views;
    n_views = 0;
    src = NULL;
    l->o = *o;
    if (!l->src) {
        st = MF_ERR(MF_ERR_INVALID, "loader: no source");
        goto fail;
    }
    if (o->batch_size < 1 || o->workers < 0 || o->workers > 64 || o->samples_per_epoch < 0) {
        st = MF_ERR(MF_ERR_INVALID, "loader: batch_size %lld (>= 1), workers %d (0..64), samples_per_epoch %lld",
                    (long long)o->batch_size, o->workers, (long long)o->samples_per_epoch);
        goto fail;
    }
    if (o->n_mask_map < 0 || (o->n_mask_map > 0 && (!o->mask_from || !o->mask_to))) {
        st = MF_ERR(MF_ERR_INVALID, "loader: mask_map of %d entries without its tables", o->n_mask_map);
        goto fail;
    }
    if (o->n_mask_map > 0) {
        l->mask_from = malloc(sizeof(int64_t) * (size_t)o->n_mask_map);
        l->mask_to = malloc(sizeof(int64_t) * (size_t)o->n_mask_map);
        if (!l->mask_from || !l->mask_to) {
            st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
            goto fail;
        }
        memcpy(l->mask_from, o->mask_from, sizeof(int64_t) * (size_t)o->n_mask_map);
        memcpy(l->mask_to, o->mask_to, sizeof(int64_t) * (size_t)o->n_mask_map);
    }
    l->o.mask_from = l->mask_from;
    l->o.mask_to = l->mask_to;
    l->o.prefetch = o->prefetch < 1 ? 1 : o->prefetch;
    l->n_slots = l->o.prefetch + (o->workers > 0 ? o->workers : 0);
    l->slots = calloc((size_t)l->n_slots, sizeof(slot));
    l->threads = calloc((size_t)(o->workers + 1), sizeof(pthread_t));
    if (!l->slots || !l->threads) {
        st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
        goto fail;
    }
    for (int i = 0; i < l->n_slots; i++)
        l->slots[i].batch = -1;
    int64_t N = l->src->count;
    if (o->sampling != MF_SAMPLE_SEQUENTIAL) {
        if (!(l->weights = malloc(sizeof(double) * (size_t)N))) {
            st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
            goto fail;
        }
        if (o->sampling == MF_SAMPLE_WEIGHTED) {
            if (!o->weights) {
                st = MF_ERR(MF_ERR_INVALID, "loader: weighted sampling needs one weight per sample");
                goto fail;
            }
            for (int64_t i = 0; i < N; i++) {
                if (!(o->weights[i] >= 0)) {
                    st = MF_ERR(MF_ERR_INVALID, "loader: weight %g of sample %lld is negative", o->weights[i],
                                (long long)i);
                    goto fail;
                }
                l->weights[i] = o->weights[i];
            }
        } else {
            int64_t *lab = malloc(sizeof(int64_t) * (size_t)N), maxc = -1;
            int64_t *cnt = NULL;
            if (!lab) {
                st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
                goto fail;
            }
            for (int64_t i = 0; i < N; i++) {
                lab[i] = l->src->label_of ? l->src->label_of(l->src, i) : -1;
                if (lab[i] < 0) {
                    free(lab);
                    st = MF_ERR(MF_ERR_INVALID, "loader: balanced sampling needs classes, but sample %lld of the %s "
                                "source has none", (long long)i, l->src->type);
                    goto fail;
                }
                maxc = lab[i] > maxc ? lab[i] : maxc;
            }
            cnt = calloc((size_t)maxc + 1, sizeof(int64_t));
            if (!cnt) {
                free(lab);
                st = MF_ERR(MF_ERR_NOMEM, "loader: out of memory");
                goto fail;
            }
            for (int64_t i = 0; i < N; i++)
                cnt[lab[i]]++;
            for (int64_t i = 0; i < N; i++)
                l->weights[i] = 1.0 / (double)cnt[lab[i]];
            free(lab);
            free(cnt);
        }
    }
    if ((st = mf_loader_start_epoch(l, 0)) != MF_OK)
        goto fail;
    *out = l;
    return MF_OK;
fail:
    mf_source_release(src);
    mf_pipeline_free(pipe);
    for (int v = 0; v < n_views; v++)
        mf_pipeline_free(views[v]);
    mf_loader_free(l);
    return st;
}
