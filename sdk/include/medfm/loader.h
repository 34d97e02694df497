/* The loader: draws sample indices (shuffled per epoch, or weighted /
 * class-balanced), builds batches on worker threads with bounded prefetch
 * and hands them out in order. Every sample's augmentation comes from its
 * own stream (seed, epoch, position), and each batch is built by one worker
 * alone, so batches are identical for a seed whatever the worker count. */
#ifndef MEDFM_LOADER_H
#define MEDFM_LOADER_H

#include "medfm/batch.h"
#include "medfm/data.h"
#include "medfm/transforms.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MF_SAMPLE_SEQUENTIAL = 0, MF_SAMPLE_WEIGHTED = 1, MF_SAMPLE_BALANCED = 2 } mf_sampling;

#define MF_LOADER_MAX_VIEWS 12

typedef struct mf_loader_opts {
    int64_t batch_size;
    int workers;       /* 0: batches built on the caller's thread */
    int prefetch;      /* batches built ahead (>= 1) */
    bool shuffle;
    bool drop_last;
    bool skip_bad;     /* drop samples that fail to load, counting them */
    uint64_t seed;
    mf_sampling sampling;
    const double *weights;     /* MF_SAMPLE_WEIGHTED: one per source sample */
    int64_t samples_per_epoch; /* 0: the source's count */
    /* Label-map values as stored -> class indices (e.g. 255 -> 1); every
     * stored value must be listed. n_mask_map == 0: masks pass as stored. */
    int n_mask_map;
    const int64_t *mask_from, *mask_to;
} mf_loader_opts;
void mf_loader_defaults(mf_loader_opts *o);

typedef struct mf_loader mf_loader;
/* Takes ownership of src and the pipelines (also on failure). With no view
 * pipelines, `pipe` (may be NULL) yields "image" (+ "mask"); with views,
 * view v yields "view<v>" and "coords<v>" (B, 2, 3) / (B, 3, 4) f64.
 * Batches also carry "label" (B) i64 when the source has classes,
 * "plane"/"slice" for slice sources, "text_embedding" when present. */
mf_status mf_loader_new(mf_source *src, mf_pipeline *pipe, int n_views, mf_pipeline **views,
                        const mf_loader_opts *o, mf_loader **out);
/* From a `data.<split>` section, e.g. LVM-Med's multi-crop:
 *
 *   train:
 *     source: {type: phantom2d, size: 64, count: 512}
 *     views:
 *       - count: 2                      # global views -> view0, view1
 *         transforms:
 *           - {name: random_resized_crop, size: 64, scale: [0.4, 1.0]}
 *           - {name: hflip}
 *           - {name: color_jitter}
 *           - {name: gaussian_blur}
 *           - {name: normalize, mean: [0.5], std: [0.25]}
 *       - count: 4                      # local views -> view2..view5
 *         transforms: [{name: random_resized_crop, size: 32, scale: [0.05, 0.4]}]
 *     batch_size: 32
 *     workers: 2
 *
 * Without `views`, `transforms` gives "image". Validation phantoms take a
 * disjoint `offset:`. Keys are checked (mf_loader_schema, and one schema per
 * source type and transform): unknown keys are errors naming file:line. */
mf_status mf_loader_from_cfg(mf_cfg *section, uint64_t seed, mf_loader **out);
const mf_schema *mf_loader_schema(void);
/* The same schema as an object, for embedding in other schemas. */
extern const mf_schema mf_loader_section_schema;

/* Starts epoch e (stops and restarts the workers). */
mf_status mf_loader_start_epoch(mf_loader *l, int64_t epoch);
/* Starts epoch e at batch `first_batch` (resuming a run mid-epoch). */
mf_status mf_loader_start_epoch_at(mf_loader *l, int64_t epoch, int64_t first_batch);
/* Next batch of the epoch into *b (cleared first); *done when none left. */
mf_status mf_loader_next(mf_loader *l, mf_batch *b, bool *done);
int64_t mf_loader_num_batches(const mf_loader *l);
int64_t mf_loader_bad_samples(const mf_loader *l);
const mf_source *mf_loader_source(const mf_loader *l);
void mf_loader_free(mf_loader *l);

#ifdef __cplusplus
}
#endif
#endif
