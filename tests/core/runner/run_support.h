/* Shared by the runner tests: a config text written to a temporary
 * directory, loaded, checked or run; its problems searched; two weight
 * files compared byte for byte. */
#ifndef MF_TEST_RUN_SUPPORT_H
#define MF_TEST_RUN_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/io.h"
#include "medfm/runner.h"
#include "tests/support/testing.h"

/* A small CNN on 24 phantoms, all but the `train:` line (well under a
 * second for six steps). */
#define RS_TINY_HEAD                                                                                                \
    "name: tiny\n"                                                                                                  \
    "seed: 3\n"                                                                                                     \
    "data:\n"                                                                                                       \
    "  train: {source: {type: phantom2d, count: 24, size: 12, num_classes: 3, seed: 1}, workers: 0}\n"              \
    "  val: {source: {type: phantom2d, count: 12, size: 12, num_classes: 3, seed: 1, offset: 1000}, workers: 0}\n"  \
    "encoder: {plugin: simple_cnn, width: 4, depth: 2}\n"                                                           \
    "task: {plugin: classification, num_classes: 3}\n"                                                              \
    "optim: {name: adam, lr: 0.01}\n"

/* Six steps of it, logged every second step: the runner's and resume's
 * tests. */
static inline const char *rs_tiny(void) {
    return RS_TINY_HEAD "train: {steps: 6, batch_size: 8, val_every: 3, log_every: 2}\n";
}

/* A fresh /tmp/medfm_<prefix>_XXXXXX (caller frees the string). */
static inline char *rs_tmpdir(const char *prefix) {
    char *d = malloc(256);
    snprintf(d, 256, "/tmp/medfm_%s_XXXXXX", prefix);
    cr_assert(mkdtemp(d), "mkdtemp %s", d);
    return d;
}

static inline void rs_rm_tree(const char *d) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    cr_assert_eq(system(cmd), 0);
}

/* dir/cfg.yaml holding `text` (caller frees the path). */
static inline char *rs_write_cfg(const char *dir, const char *text) {
    char *p = malloc(1200);
    snprintf(p, 1200, "%s/cfg.yaml", dir);
    FILE *f = fopen(p, "w");
    cr_assert(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Runs the config `text` with overrides into `dir`, stopping after step
 * `stop` when > 0 (as a signal would). */
static inline mf_status rs_run(const char *dir, const char *text, int n_over, const char *const *over, int64_t stop,
                               mf_run_result *res) {
    char *p = rs_write_cfg(dir, text);
    mf_experiment *e;
    mf_status st = mf_experiment_load(p, n_over, over, NULL, &e);
    free(p);
    if (st != MF_OK)
        return st;
    mf_run_options o = mf_run_options_default();
    o.output_dir = dir;
    o.quiet = true;
    o.stop_after_step = stop;
    st = mf_experiment_run(e, &o, res);
    mf_experiment_free(e);
    return st;
}

/* Every problem loading and checking the config `text` reports. */
static inline mf_diag rs_problems(const char *text, int n_over, const char *const *over) {
    char *d = rs_tmpdir("runner_cfg"), *p = rs_write_cfg(d, text);
    mf_diag diag = {0};
    mf_experiment *e = NULL;
    mf_experiment_load(p, n_over, over, &diag, &e);
    if (e && diag.n == 0)
        mf_experiment_check(e, &diag);
    mf_experiment_free(e);
    rs_rm_tree(d);
    free(d);
    free(p);
    return diag;
}

/* Whether one problem names all of a, b and c (NULL: not asked). */
static inline bool rs_any_has(const mf_diag *d, const char *a, const char *b, const char *c) {
    for (int i = 0; i < d->n; i++)
        if (strstr(d->msgs[i], a) && (!b || strstr(d->msgs[i], b)) && (!c || strstr(d->msgs[i], c)))
            return true;
    return false;
}

/* Whether two safetensors files hold the same bytes under each name (the
 * names and sizes must agree either way). */
static inline bool rs_same_file_tensors(const char *a, const char *b) {
    mf_safetensors *fa, *fb;
    MF_OK_OR_FAIL(mf_safetensors_open(a, &fa));
    MF_OK_OR_FAIL(mf_safetensors_open(b, &fb));
    cr_assert_eq(mf_safetensors_count(fa), mf_safetensors_count(fb));
    bool all = true;
    for (int i = 0; i < mf_safetensors_count(fa); i++) {
        const char *n = mf_safetensors_name(fa, i);
        mf_tensor *x, *y;
        MF_OK_OR_FAIL(mf_safetensors_get(fa, n, &x));
        MF_OK_OR_FAIL(mf_safetensors_get(fb, n, &y));
        cr_assert_eq(mf_tensor_nbytes(x), mf_tensor_nbytes(y), "%s", n);
        all &= memcmp(mf_tensor_data(x), mf_tensor_data(y), mf_tensor_nbytes(x)) == 0;
        mf_tensor_release(x);
        mf_tensor_release(y);
    }
    mf_safetensors_close(fa);
    mf_safetensors_close(fb);
    return all;
}

/* Runs `text` whole into dir a, and into dir b stopped after step `stop`
 * then resumed; asserts both end with byte-identical weights and the same
 * final metric. */
static inline void rs_assert_resume_identical(const char *a, const char *b, const char *text, int n_over,
                                              const char *const *over, int64_t stop, mf_run_result *ra,
                                              mf_run_result *rb) {
    MF_OK_OR_FAIL(rs_run(a, text, n_over, over, 0, ra));
    cr_assert_eq(rs_run(b, text, n_over, over, stop, rb), MF_ERR_INTERRUPTED);
    mf_run_options o = mf_run_options_default();
    o.quiet = true;
    MF_OK_OR_FAIL(mf_run_resume(rb->run_dir, &o, rb));
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/checkpoints/model.safetensors", ra->run_dir);
    snprintf(pb, sizeof pb, "%s/checkpoints/model.safetensors", rb->run_dir);
    cr_assert(rs_same_file_tensors(pa, pb), "the models differ");
    cr_assert_float_eq(ra->final.values[0], rb->final.values[0], 0);
}

#endif
