/* State dicts: strict and non-strict matching, messages listing every
 * offending key (and the prefix that would load a whole model's file),
 * dtype conversion on load, and all-or-nothing loading. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/support/testing.h"

static char path[64];

static void make_path(void) {
    snprintf(path, sizeof path, "/tmp/mf_sd_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
}

static void remove_path(void) { unlink(path); }

TestSuite(state_dict, .init = make_path, .fini = remove_path);

/* A little "model": weight [4, 3], bias [4], running_mean [4] in dtype dt. */
typedef struct {
    mf_tensor *w, *b, *rm;
    mf_named_tensor e[3];
} model;

static void model_init(model *m, mf_dtype dt, uint64_t seed) {
    m->w = t_uniform(seed, 2, (int64_t[]){4, 3}, dt, -1, 1);
    m->b = t_uniform(seed + 1, 1, (int64_t[]){4}, dt, -1, 1);
    m->rm = t_uniform(seed + 2, 1, (int64_t[]){4}, dt, -1, 1);
    m->e[0] = (mf_named_tensor){"fc.weight", m->w};
    m->e[1] = (mf_named_tensor){"fc.bias", m->b};
    m->e[2] = (mf_named_tensor){"bn.running_mean", m->rm};
}

static void model_free(model *m) {
    mf_tensor_release(m->w);
    mf_tensor_release(m->b);
    mf_tensor_release(m->rm);
}

Test(state_dict, save_then_strict_load_restores_every_tensor) {
    model a, b;
    model_init(&a, MF_F32, 1);
    model_init(&b, MF_F32, 50);
    const char *meta[] = {"arch", "toy"};
    MF_OK_OR_FAIL(mf_state_dict_save(path, a.e, 3, 1, meta));
    mf_state_dict_report r;
    MF_OK_OR_FAIL(mf_state_dict_load(path, b.e, 3, true, &r));
    cr_assert_eq(r.n_loaded, 3);
    cr_assert_null(r.details);
    t_assert_close(b.w, a.w, 0, 0, "weight");
    t_assert_close(b.b, a.b, 0, 0, "bias");
    t_assert_close(b.rm, a.rm, 0, 0, "running_mean");
    model_free(&a);
    model_free(&b);
}

Test(state_dict, strict_load_lists_every_missing_and_unexpected_key) {
    mf_tensor *w = t_uniform(1, 2, (int64_t[]){4, 3}, MF_F32, -1, 1);
    mf_tensor *x = t_uniform(2, 1, (int64_t[]){2}, MF_F32, -1, 1);
    mf_tensor *y = t_uniform(3, 1, (int64_t[]){2}, MF_F32, -1, 1);
    MF_OK_OR_FAIL(mf_safetensors_save(path, 3, (const char *[]){"fc.weight", "head.x", "head.y"},
                                      (mf_tensor *[]){w, x, y}, 0, NULL));
    model m;
    model_init(&m, MF_F32, 9);
    mf_tensor *before = t_uniform(9, 2, (int64_t[]){4, 3}, MF_F32, -1, 1);
    mf_state_dict_report r;
    cr_assert_eq(mf_state_dict_load(path, m.e, 3, true, &r), MF_ERR_NOT_FOUND);
    const char *msg = mf_last_error();
    cr_assert(strstr(msg, path), "%s", msg);
    cr_assert(strstr(msg, "2 missing: [fc.bias, bn.running_mean]"), "%s", msg);
    cr_assert(strstr(msg, "2 unexpected: [head.x, head.y]"), "%s", msg);
    cr_assert_eq(r.n_missing, 2);
    cr_assert_eq(r.n_unexpected, 2);
    cr_assert_eq(r.n_loaded, 0);
    cr_assert(r.details && strstr(r.details, "head.y"));
    mf_state_dict_report_free(&r);
    t_assert_close(m.w, before, 0, 0, "a failed load writes nothing");
    model_free(&m);
    mf_tensor_release(before);
    mf_tensor_release(w);
    mf_tensor_release(x);
    mf_tensor_release(y);
}

Test(state_dict, non_strict_load_skips_missing_and_unexpected_keys) {
    mf_tensor *w = t_uniform(1, 2, (int64_t[]){4, 3}, MF_F32, -1, 1);
    mf_tensor *x = t_uniform(2, 1, (int64_t[]){2}, MF_F32, -1, 1);
    MF_OK_OR_FAIL(mf_safetensors_save(path, 2, (const char *[]){"fc.weight", "fc.extra"}, (mf_tensor *[]){w, x}, 0,
                                      NULL));
    model m;
    model_init(&m, MF_F32, 9);
    mf_state_dict_report r;
    MF_OK_OR_FAIL(mf_state_dict_load(path, m.e, 3, false, &r));
    cr_assert_eq(r.n_loaded, 1);
    cr_assert_eq(r.n_missing, 2);
    cr_assert_eq(r.n_unexpected, 1);
    cr_assert(r.details && strstr(r.details, "1 unexpected: [fc.extra]"), "%s", r.details);
    mf_state_dict_report_free(&r);
    t_assert_close(m.w, w, 0, 0, "weight");
    model_free(&m);
    mf_tensor_release(w);
    mf_tensor_release(x);
}

Test(state_dict, mis_shaped_keys_fail_even_when_not_strict_naming_both_shapes) {
    mf_tensor *w = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, -1, 1);
    mf_tensor *b = t_uniform(2, 1, (int64_t[]){5}, MF_F32, -1, 1);
    MF_OK_OR_FAIL(mf_safetensors_save(path, 2, (const char *[]){"fc.weight", "fc.bias"}, (mf_tensor *[]){w, b}, 0,
                                      NULL));
    model m;
    model_init(&m, MF_F32, 9);
    cr_assert_eq(mf_state_dict_load(path, m.e, 3, false, NULL), MF_ERR_SHAPE);
    const char *msg = mf_last_error();
    cr_assert(strstr(msg, "2 mis-shaped: [fc.weight (file [3, 4], model [4, 3]), fc.bias (file [5], model [4])]"),
              "%s", msg);
    cr_assert(strstr(msg, "1 missing: [bn.running_mean]"), "%s", msg);
    model_free(&m);
    mf_tensor_release(w);
    mf_tensor_release(b);
}

Test(state_dict, float_files_convert_into_f32_parameters) {
    static const mf_dtype dts[] = {MF_F64, MF_F16, MF_BF16};
    for (int i = 0; i < 3; i++) {
        model src, dst;
        model_init(&src, dts[i], 3);
        model_init(&dst, MF_F32, 70);
        MF_OK_OR_FAIL(mf_state_dict_save(path, src.e, 3, 0, NULL));
        MF_OK_OR_FAIL(mf_state_dict_load(path, dst.e, 3, true, NULL));
        cr_assert_eq(dst.w->dtype, MF_F32);
        t_assert_close(dst.w, src.w, 1e-7, 1e-7, mf_dtype_name(dts[i])); /* exact: f32 holds each */
        model_free(&src);
        model_free(&dst);
    }
}

Test(state_dict, integer_to_float_dtype_changes_are_rejected) {
    mf_tensor *w = t_uniform(1, 2, (int64_t[]){4, 3}, MF_I64, 0, 9);
    MF_OK_OR_FAIL(mf_safetensors_save(path, 1, (const char *[]){"fc.weight"}, &w, 0, NULL));
    model m;
    model_init(&m, MF_F32, 9);
    cr_assert_eq(mf_state_dict_load(path, m.e, 1, true, NULL), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "fc.weight (file i64, model f32)"), "%s", mf_last_error());
    model_free(&m);
    mf_tensor_release(w);
}

Test(state_dict, duplicate_entry_names_are_invalid) {
    model m;
    model_init(&m, MF_F32, 9);
    m.e[1].name = "fc.weight";
    cr_assert_eq(mf_state_dict_save(path, m.e, 3, 0, NULL), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "'fc.weight'"), "%s", mf_last_error());
    model_free(&m);
}

Test(state_dict, loads_into_non_contiguous_destinations) {
    mf_tensor *w = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F64, -1, 1);
    MF_OK_OR_FAIL(mf_safetensors_save(path, 1, (const char *[]){"w"}, &w, 0, NULL));
    mf_tensor *base = t_uniform(2, 2, (int64_t[]){4, 3}, MF_F32, -1, 1), *view;
    MF_OK_OR_FAIL(mf_transpose(base, 0, 1, &view));
    mf_named_tensor e = {"w", view};
    MF_OK_OR_FAIL(mf_state_dict_load(path, &e, 1, true, NULL));
    t_assert_close(view, w, 1e-6, 1e-6, "transposed destination");
    mf_tensor_release(w);
    mf_tensor_release(base);
    mf_tensor_release(view);
}

Test(state_dict, a_prefix_selects_a_subtree_and_ignores_other_keys) {
    mf_tensor *w = t_uniform(1, 2, (int64_t[]){4, 3}, MF_F32, -1, 1);
    mf_tensor *b = t_uniform(2, 1, (int64_t[]){4}, MF_F32, -1, 1);
    mf_tensor *h = t_uniform(3, 1, (int64_t[]){7}, MF_F32, -1, 1);
    mf_tensor *x = t_uniform(4, 1, (int64_t[]){2}, MF_F32, -1, 1);
    MF_OK_OR_FAIL(mf_safetensors_save(path, 4, (const char *[]){"encoder.fc.weight", "encoder.fc.bias", "head.w",
                                                                "encoder.extra"},
                                      (mf_tensor *[]){w, b, h, x}, 0, NULL));
    model m;
    model_init(&m, MF_F32, 9);
    mf_state_dict_report r;
    cr_assert_eq(mf_state_dict_load_prefix(path, "encoder.", m.e, 3, true, &r), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "1 missing: [encoder.bn.running_mean]; 1 unexpected: [encoder.extra]"), "%s",
              mf_last_error());
    mf_state_dict_report_free(&r);
    MF_OK_OR_FAIL(mf_state_dict_load_prefix(path, "encoder.", m.e, 2, false, &r));
    cr_assert_eq(r.n_loaded, 2);
    cr_assert_eq(r.n_unexpected, 1); /* encoder.extra; head.w lies outside the prefix */
    mf_state_dict_report_free(&r);
    t_assert_close(m.b, b, 0, 0, "bias");
    model_free(&m);
    mf_tensor_release(w);
    mf_tensor_release(b);
    mf_tensor_release(h);
    mf_tensor_release(x);
}

/* A whole model's file loaded into one part of it (no prefix, or a wrong
 * one): the message names the prefix that holds every entry. */
Test(state_dict, a_whole_models_file_names_the_prefix_that_would_load) {
    model a, b;
    model_init(&a, MF_F32, 1);
    model_init(&b, MF_F32, 5);
    mf_tensor *h = t_uniform(3, 1, (int64_t[]){7}, MF_F32, -1, 1);
    MF_OK_OR_FAIL(mf_safetensors_save(path, 4,
                                      (const char *[]){"model.encoder.fc.weight", "model.encoder.fc.bias",
                                                       "model.encoder.bn.running_mean", "model.head.w"},
                                      (mf_tensor *[]){a.w, a.b, a.rm, h}, 0, NULL));
    mf_state_dict_report r;
    const char *hint = "the file holds every entry under 'model.encoder.': load with that prefix (for an encoder: "
                       "encoder.weights_prefix=model.encoder.)";
    cr_assert_eq(mf_state_dict_load(path, b.e, 3, true, &r), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), hint), "%s", mf_last_error());
    mf_state_dict_report_free(&r);
    cr_assert_eq(mf_state_dict_load_prefix(path, "encoder.", b.e, 3, true, &r), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), hint), "%s", mf_last_error());
    mf_state_dict_report_free(&r);
    /* Only some entries under a prefix: no hint (it would not load). */
    MF_OK_OR_FAIL(mf_safetensors_save(path, 2, (const char *[]){"model.encoder.fc.weight", "model.encoder.fc.bias"},
                                      (mf_tensor *[]){a.w, a.b}, 0, NULL));
    cr_assert_eq(mf_state_dict_load(path, b.e, 3, true, &r), MF_ERR_NOT_FOUND);
    cr_assert_null(strstr(mf_last_error(), "holds every entry"), "%s", mf_last_error());
    mf_state_dict_report_free(&r);
    /* The hinted prefix loads. */
    MF_OK_OR_FAIL(mf_safetensors_save(path, 4,
                                      (const char *[]){"model.encoder.fc.weight", "model.encoder.fc.bias",
                                                       "model.encoder.bn.running_mean", "model.head.w"},
                                      (mf_tensor *[]){a.w, a.b, a.rm, h}, 0, NULL));
    MF_OK_OR_FAIL(mf_state_dict_load_prefix(path, "model.encoder.", b.e, 3, true, &r));
    mf_state_dict_report_free(&r);
    t_assert_close(b.w, a.w, 0, 0, "weight");
    model_free(&a);
    model_free(&b);
    mf_tensor_release(h);
}
