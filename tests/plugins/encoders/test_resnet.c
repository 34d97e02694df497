/* The resnet encoder plugin, loaded through the registry: torchvision's
 * names and shapes for every depth, weight files (good, missing,
 * mis-shaped, prefixed), config keys. Forward/backward goldens are in
 * test_resnet_golden.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "medfm/encoder.h"
#include "medfm/nn.h"
#include "medfm/plugin.h"
#include "medfm/runner.h"
#include "tests/plugins/encoders/resnet_support.h"
#include "tests/support/fixture.h"
#include "tests/support/testing.h"

/* ---- names and shapes ---- */

/* "name:AxBxC;..." of the module's state dict, as gen_resnet.py writes
 * torchvision's (caller frees). */
static char *state_signature(const mf_module *m) {
    mf_named_tensors s;
    MF_OK_OR_FAIL(mf_module_state(m, &s));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    buf[0] = 0;
    for (int i = 0; i < s.n; i++) {
        char item[256];
        int n = snprintf(item, sizeof item, "%s%s:", i ? ";" : "", s.items[i].name);
        for (int d = 0; d < s.items[i].tensor->ndim; d++)
            n += snprintf(item + n, sizeof item - (size_t)n, "%s%lld", d ? "x" : "",
                          (long long)s.items[i].tensor->shape[d]);
        if (len + (size_t)n + 1 > cap)
            buf = realloc(buf, cap *= 2);
        memcpy(buf + len, item, (size_t)n + 1);
        len += (size_t)n;
    }
    mf_named_tensors_free(&s);
    return buf;
}

static void check_names(int depth) {
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(t_fixture_path(FIX), &f));
    char key[32], yaml[64];
    snprintf(key, sizeof key, "names.%d", depth);
    const char *want = mf_safetensors_metadata(f, key);
    cr_assert_not_null(want, "fixture lacks %s", key);
    rn_env env;
    env_open(&env);
    snprintf(yaml, sizeof yaml, "depth: %d\n", depth);
    mf_encoder *e = create(&env, yaml);
    char *got = state_signature(e->module);
    if (strcmp(got, want)) {
        size_t i = 0;
        while (got[i] && got[i] == want[i])
            i++;
        size_t from = i > 60 ? i - 60 : 0;
        cr_assert_fail("resnet%d state differs from torchvision's at ...%.120s\nvs torchvision ...%.120s", depth,
                       got + from, want + from);
    }
    cr_assert_eq(e->embed_dim, depth >= 50 ? 2048 : 512);
    free(got);
    e->destroy(e);
    env_close(&env);
    mf_safetensors_close(f);
}

Test(resnet, resnet18_names_and_shapes_equal_torchvision) { check_names(18); }
Test(resnet, resnet34_names_and_shapes_equal_torchvision) { check_names(34); }
Test(resnet, resnet50_names_and_shapes_equal_torchvision) { check_names(50); }
Test(resnet, resnet101_names_and_shapes_equal_torchvision) { check_names(101); }
Test(resnet, resnet152_names_and_shapes_equal_torchvision) { check_names(152); }

/* ---- weights files ---- */

static const char *tmp_path(const char *what) {
    static char buf[4][256];
    static int slot;
    char *s = buf[slot++ & 3];
    snprintf(s, 256, "/tmp/mf_resnet_%d_%s.safetensors", (int)getpid(), what);
    return s;
}

/* Saves a ResNet-18 state (formula-filled when `filled`) under prefix,
 * without `drop`, with `reshape` given a wrong shape and an extra key when
 * `extra`. */
static void save_r18(const char *path, bool filled, const char *prefix, const char *drop, const char *reshape,
                     bool extra) {
    rn_env env;
    env_open(&env);
    mf_encoder *e = create(&env, "depth: 18\n");
    if (filled)
        fill_model(e);
    mf_named_tensors s;
    MF_OK_OR_FAIL(mf_module_state(e->module, &s));
    const char **names = calloc((size_t)s.n + 1, sizeof *names);
    mf_tensor **ts = calloc((size_t)s.n + 1, sizeof *ts);
    char **owned = calloc((size_t)s.n + 1, sizeof *owned);
    mf_tensor *bad = NULL;
    int n = 0;
    for (int i = 0; i < s.n; i++) {
        if (drop && !strcmp(s.items[i].name, drop))
            continue;
        owned[n] = malloc(strlen(prefix) + strlen(s.items[i].name) + 1);
        sprintf(owned[n], "%s%s", prefix, s.items[i].name);
        names[n] = owned[n];
        ts[n] = s.items[i].tensor;
        if (reshape && !strcmp(s.items[i].name, reshape)) {
            MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){3, 5}, MF_F32, MF_DEVICE_CPU, &bad));
            ts[n] = bad;
        }
        n++;
    }
    mf_tensor *junk = NULL;
    if (extra) {
        MF_OK_OR_FAIL(mf_tensor_zeros(1, (int64_t[]){4}, MF_F32, MF_DEVICE_CPU, &junk));
        names[n] = "head.weight";
        ts[n++] = junk;
    }
    MF_OK_OR_FAIL(mf_safetensors_save(path, n, names, ts, 0, NULL));
    for (int i = 0; i < s.n + 1; i++)
        free(owned[i]);
    free(owned);
    free(names);
    free(ts);
    mf_tensor_release(bad);
    mf_tensor_release(junk);
    mf_named_tensors_free(&s);
    e->destroy(e);
    env_close(&env);
}

/* A weights-file test's start: the file at tmp_path(what), saved as
 * save_r18 says, and an open env. */
static const char *weights_open(rn_env *env, const char *what, bool filled, const char *prefix, const char *drop,
                                const char *reshape, bool extra) {
    const char *path = tmp_path(what);
    save_r18(path, filled, prefix, drop, reshape, extra);
    env_open(env);
    return path;
}

/* "depth: 18\nweights: PATH\n" then `more` keys. */
static void weights_yaml(char yaml[512], const char *path, const char *more) {
    snprintf(yaml, 512, "depth: 18\nweights: %s\n%s", path, more);
}

/* A weights-file test's end: the encoder (may be NULL), env and file go. */
static void weights_close(rn_env *env, mf_encoder *e, const char *path) {
    if (e)
        e->destroy(e);
    env_close(env);
    unlink(path);
}

Test(resnet, weights_file_loads_every_parameter_and_buffer) {
    rn_env env;
    const char *path = weights_open(&env, "good", true, "", NULL, NULL, false);
    char yaml[512];
    weights_yaml(yaml, path, "");
    mf_encoder *e = create(&env, yaml);
    mf_named_tensors s;
    MF_OK_OR_FAIL(mf_module_state(e->module, &s));
    for (int i = 0; i < s.n; i++) {
        if (!mf_dtype_is_float(s.items[i].tensor->dtype))
            continue;
        mf_tensor *want = rn_filled(s.items[i].name, s.items[i].tensor->ndim, s.items[i].tensor->shape, MF_F32);
        t_assert_close(s.items[i].tensor, want, 0, 0, s.items[i].name);
        mf_tensor_release(want);
    }
    cr_assert(state_of(e, "layer3.0.conv2.weight")->requires_grad);
    mf_named_tensors_free(&s);
    weights_close(&env, e, path);
}

Test(resnet, a_missing_key_is_named) {
    rn_env env;
    const char *path = weights_open(&env, "missing", false, "", "layer2.0.downsample.1.running_var", NULL, false);
    char yaml[512];
    weights_yaml(yaml, path, "");
    mf_encoder *e = NULL;
    cr_assert_eq(try_create(&env, yaml, &e), MF_ERR_NOT_FOUND);
    cr_assert_null(e);
    cr_assert(strstr(mf_last_error(), "layer2.0.downsample.1.running_var") && strstr(mf_last_error(), "resnet18") &&
                  strstr(mf_last_error(), path),
              "%s", mf_last_error());
    /* strict: false accepts it */
    weights_yaml(yaml, path, "strict: false\n");
    e = create(&env, yaml);
    weights_close(&env, e, path);
}

Test(resnet, a_mis_shaped_key_is_named_with_both_shapes_even_when_not_strict) {
    rn_env env;
    const char *path = weights_open(&env, "shape", false, "", NULL, "layer1.0.conv1.weight", false);
    char yaml[512];
    weights_yaml(yaml, path, "strict: false\n");
    mf_encoder *e = NULL;
    cr_assert_eq(try_create(&env, yaml, &e), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "layer1.0.conv1.weight") && strstr(mf_last_error(), "[3, 5]") &&
                  strstr(mf_last_error(), "[64, 64, 3, 3]"),
              "%s", mf_last_error());
    weights_close(&env, NULL, path);
}

Test(resnet, an_unexpected_key_is_named_unless_strict_is_off) {
    rn_env env;
    const char *path = weights_open(&env, "extra", false, "", NULL, NULL, true);
    char yaml[512];
    weights_yaml(yaml, path, "");
    mf_encoder *e = NULL;
    cr_assert_eq(try_create(&env, yaml, &e), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "head.weight"), "%s", mf_last_error());
    weights_yaml(yaml, path, "strict: false\n");
    e = create(&env, yaml);
    weights_close(&env, e, path);
}

Test(resnet, weights_under_a_prefix_load_with_weights_prefix) {
    rn_env env;
    const char *path = weights_open(&env, "prefix", true, "encoder.", NULL, NULL, true);
    char yaml[512];
    weights_yaml(yaml, path, "weights_prefix: encoder.\n");
    mf_encoder *e = create(&env, yaml);
    mf_tensor *want = rn_filled("layer4.1.bn2.running_var", 1, (int64_t[]){512}, MF_F32);
    t_assert_close(state_of(e, "layer4.1.bn2.running_var"), want, 0, 0, "prefixed load");
    mf_tensor_release(want);
    weights_close(&env, e, path);
}

/* ---- config ---- */

Test(resnet, num_classes_adds_torchvisions_fc_and_pooled_becomes_logits) {
    rn_env env;
    env_open(&env);
    mf_encoder *e = create(&env, "depth: 18\nnum_classes: 10\n");
    cr_assert_eq(state_of(e, "fc.weight")->shape[0], 10);
    cr_assert_eq(state_of(e, "fc.weight")->shape[1], 512);
    cr_assert_eq(state_of(e, "fc.bias")->shape[0], 10);
    cr_assert_eq(e->embed_dim, 10);
    mf_tensor *x = t_uniform(3, 4, (int64_t[]){2, 3, 32, 32}, MF_F32, -1, 1);
    mf_encoder_output o;
    mf_module_train(e->module, false);
    MF_OK_OR_FAIL(e->forward(e, x, false, &o));
    cr_assert(o.pooled->ndim == 2 && o.pooled->shape[0] == 2 && o.pooled->shape[1] == 10, "%s",
              MF_SHAPE(o.pooled));
    mf_encoder_output_clear(&o);
    mf_tensor_release(x);
    e->destroy(e);
    env_close(&env);
}

Test(resnet, default_init_is_torchvisions_and_zero_init_residual_zeroes_the_last_bn) {
    rn_env env;
    env_open(&env);
    mf_encoder *e = create(&env, "depth: 18\nzero_init_residual: true\n");
    mf_tensor *w = state_of(e, "layer3.1.bn2.weight"), *w1 = state_of(e, "layer3.1.bn1.weight");
    for (int64_t i = 0; i < mf_tensor_numel(w); i++)
        cr_assert(mf_tensor_get_flat(w, i) == 0 && mf_tensor_get_flat(w1, i) == 1);
    /* kaiming_normal_(fan_out, relu): std sqrt(2 / (256 * 9)) */
    mf_tensor *c = state_of(e, "layer3.1.conv1.weight");
    double s = 0, sq = 0;
    int64_t n = mf_tensor_numel(c);
    for (int64_t i = 0; i < n; i++) {
        double v = mf_tensor_get_flat(c, i);
        s += v;
        sq += v * v;
    }
    double std = sqrt(sq / (double)n - (s / (double)n) * (s / (double)n)), want = sqrt(2.0 / (256 * 9));
    cr_assert(fabs(std - want) < 0.02 * want, "conv std %g, want %g", std, want);
    e->destroy(e);
    env_close(&env);
}

Test(resnet, bad_depth_and_bad_input_are_errors_naming_the_value) {
    rn_env env;
    env_open(&env);
    mf_encoder *e = NULL;
    cr_assert_eq(try_create(&env, "depth: 42\n", &e), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "depth 42"), "%s", mf_last_error());
    cr_assert_eq(try_create(&env, "depht: 50\n", &e), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "depth"), "did-you-mean: %s", mf_last_error());
    e = create(&env, "depth: 18\nin_channels: 1\n");
    mf_tensor *x = t_uniform(3, 4, (int64_t[]){1, 3, 32, 32}, MF_F32, -1, 1);
    mf_encoder_output o;
    cr_assert_eq(e->forward(e, x, true, &o), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "resnet18") && strstr(mf_last_error(), "[1, 3, 32, 32]"), "%s",
              mf_last_error());
    cr_assert_null(o.pooled);
    mf_tensor_release(x);
    e->destroy(e);
    env_close(&env);
}

Test(resnet, the_runner_leaves_weights_to_the_plugin_so_prefix_and_strict_apply) {
    rn_env env;
    const char *path = weights_open(&env, "runner", true, "encoder.", NULL, NULL, true);
    char yaml[512];
    snprintf(yaml, sizeof yaml, "plugin: resnet\ndepth: 18\nweights: %s\nweights_prefix: encoder.\n", path);
    MF_OK_OR_FAIL(mf_cfg_parse_string(yaml, "encoder", &env.cfg));
    mf_rng rng;
    mf_rng_init(&rng, 1);
    mf_encoder *e;
    MF_OK_OR_FAIL(mf_plugin_create_encoder(env.reg, env.cfg, &rng, &e));
    mf_tensor *want = rn_filled("layer2.1.conv2.weight", 4, (int64_t[]){128, 128, 3, 3}, MF_F32);
    t_assert_close(state_of(e, "layer2.1.conv2.weight"), want, 0, 0, "weights through the runner");
    mf_tensor_release(want);
    weights_close(&env, e, path);
}
