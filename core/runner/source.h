/* The runner's batch source: a stand-in for the data layer until its
 * loader lands. A source holds n samples addressable by index; the runner
 * draws a seeded permutation per epoch, so the data position of a run is
 * just its step number. */
#ifndef MEDFM_RUNNER_SOURCE_H
#define MEDFM_RUNNER_SOURCE_H

#include "medfm/batch.h"
#include "medfm/config.h"

typedef struct mf_source mf_source;
struct mf_source {
    int64_t n;
    /* Fills `out` (empty) with the samples idx[0..count). */
    mf_status (*get)(mf_source *s, const int64_t *idx, int count, mf_batch *out);
    void (*destroy)(mf_source *s);
    void *state;
};

/* The schema of a data split section (data.train, data.val, data.test). */
extern const mf_schema mf_source_schema;

/* A source from a split section (validated against mf_source_schema). */
mf_status mf_source_new(const mf_cfg *section, mf_source **out);
void mf_source_free(mf_source *s);

/* Permutation of [0, n) for (seed, epoch): Fisher-Yates on Philox draws. */
void mf_source_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm);

#endif
