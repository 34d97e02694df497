/* The medfm executable: exit codes, --help on every verb, validate listing
 * several problems, plugins --describe, a tiny run. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/testing.h"

#define MEDFM MEDFM_BUILD_DIR "/bin/medfm"

/* Runs `medfm args` through the shell; returns the exit code and the
 * combined output in out. */
static int sh(const char *args, char *out, size_t cap) {
    size_t len = strlen(MEDFM) + strlen(args) + 16;
    char *cmd = malloc(len);
    snprintf(cmd, len, "%s %s 2>&1", MEDFM, args);
    FILE *p = popen(cmd, "r");
    free(cmd);
    cr_assert(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char out[1 << 16];

Test(cli, version_prints_and_exits_zero) {
    cr_assert_eq(sh("--version", out, sizeof out), 0);
    cr_assert(strstr(out, "medfm "));
}

Test(cli, every_verb_has_help) {
    const char *verbs[] = {"run", "validate", "plugins", "embed", "eval"};
    for (int i = 0; i < 5; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s --help", verbs[i]);
        cr_assert_eq(sh(a, out, sizeof out), 0, "%s", verbs[i]);
        cr_assert(strstr(out, "usage: medfm"), "%s: %s", verbs[i], out);
    }
    cr_assert_eq(sh("--help", out, sizeof out), 0);
}

Test(cli, unknown_verbs_and_missing_arguments_exit_two) {
    cr_assert_eq(sh("rn", out, sizeof out), 2);
    cr_assert(strstr(out, "did you mean 'run'"), "%s", out);
    cr_assert_eq(sh("run", out, sizeof out), 2);
    cr_assert_eq(sh("eval", out, sizeof out), 2);
    cr_assert_eq(sh("embed cfg.yaml", out, sizeof out), 2);
    cr_assert_eq(sh("run /nonexistent.yaml", out, sizeof out), 2);
}

static char dir[64];

static void write_file(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void) {
    strcpy(dir, "/tmp/medfm_cli_XXXXXX");
    cr_assert(mkdtemp(dir));
}
static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(cli, validate_lists_every_problem_and_exits_two, .init = setup, .fini = teardown) {
    write_file("bad.yaml", "name: t\nencoder: {plugin: simple_cnn, depht: 2}\ntask: {plugin: clasification}\n"
                           "optim: {lr: fast}\ntrain: {steps: 1}\n");
    char a[256];
    snprintf(a, sizeof a, "validate %s/bad.yaml", dir);
    cr_assert_eq(sh(a, out, sizeof out), 2);
    cr_assert(strstr(out, "depht") && strstr(out, "clasification") && strstr(out, "optim.lr"), "%s", out);
    cr_assert(strstr(out, "3 problems"), "%s", out);
}

static const char *tiny = "name: tiny\ndata:\n  train: {source: {type: phantom2d, count: 16, size: 12, num_classes: 2, seed: 1}, workers: 0}\n"
                          "  val: {source: {type: phantom2d, count: 8, size: 12, num_classes: 2, seed: 1, offset: 1000}, workers: 0}\n"
                          "encoder: {plugin: simple_cnn, width: 4, depth: 2}\n"
                          "task: {plugin: classification, num_classes: 2}\n"
                          "train: {steps: 2, batch_size: 8}\n";

Test(cli, validate_a_good_config_says_ok, .init = setup, .fini = teardown) {
    write_file("ok.yaml", tiny);
    char a[256];
    snprintf(a, sizeof a, "validate %s/ok.yaml", dir);
    cr_assert_eq(sh(a, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "ok"));
}

Test(cli, plugins_lists_and_describes_keys) {
    cr_assert_eq(sh("plugins --kind encoder", out, sizeof out), 0);
    cr_assert(strstr(out, "simple_cnn") && !strstr(out, "classification"), "%s", out);
    cr_assert_eq(sh("plugins --describe simple_cnn", out, sizeof out), 0);
    cr_assert(strstr(out, "width") && strstr(out, "int") && strstr(out, "default: 16"), "%s", out);
    cr_assert_eq(sh("plugins --describe simple_cn", out, sizeof out), 2);
    cr_assert(strstr(out, "did you mean 'simple_cnn'"), "%s", out);
}

Test(cli, run_eval_and_embed_a_tiny_experiment, .init = setup, .fini = teardown) {
    write_file("tiny.yaml", tiny);
    char a[512];
    snprintf(a, sizeof a, "run %s/tiny.yaml --output %s/runs train.steps=3", dir, dir);
    cr_assert_eq(sh(a, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "step 3/3"), "%s", out); /* plain lines when not a terminal */
    snprintf(a, sizeof a, "eval %s/tiny.yaml --checkpoint %s/runs/tiny", dir, dir);
    cr_assert_eq(sh(a, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "accuracy"), "%s", out);
    snprintf(a, sizeof a, "run --resume %s/runs/tiny", dir);
    cr_assert_eq(sh(a, out, sizeof out), 0, "%s", out); /* already complete: nothing to do */
    /* key=value after --resume: where it goes on, not what it computes */
    snprintf(a, sizeof a, "run --resume %s/runs/tiny train.log_every=1 device=cpu", dir);
    cr_assert_eq(sh(a, out, sizeof out), 0, "%s", out);
    snprintf(a, sizeof a, "run --resume %s/runs/tiny optim.lr=1", dir);
    cr_assert_eq(sh(a, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "'optim.lr' cannot change when a run continues"), "%s", out);
}

Test(cli, embed_reads_images_and_volumes_through_the_eval_transforms, .init = setup, .fini = teardown) {
    /* Eval transforms resize every image to 16x16, so two images of
     * another size come out as a batch of two; a volume goes to a 3-D CNN. */
    write_file("e.yaml", "name: e\ndata:\n  val:\n    source: {type: phantom2d, count: 4}\n"
                         "    transforms: [{name: resize, size: 16}]\n"
                         "encoder: {plugin: simple_cnn, width: 4, depth: 2}\n"
                         "task: {plugin: classification, num_classes: 2}\ntrain: {steps: 1}\n");
    char a[2048];
    const char *png = MEDFM_TEST_DATA_DIR "/images/gray8.png";
    snprintf(a, sizeof a, "embed %s/e.yaml --input %s --input %s --output %s/f.safetensors --all", dir, png, png, dir);
    cr_assert_eq(sh(a, out, sizeof out), 0, "%s", out);
    snprintf(a, sizeof a, "%s/f.safetensors", dir);
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(a, &f));
    mf_tensor *pooled, *f0;
    MF_OK_OR_FAIL(mf_safetensors_get(f, "pooled", &pooled));
    MF_OK_OR_FAIL(mf_safetensors_get(f, "features.0", &f0));
    mf_safetensors_close(f);
    cr_assert(pooled->ndim == 2 && pooled->shape[0] == 2, "%s", MF_SHAPE(pooled));
    cr_assert(f0->shape[2] == 16 && f0->shape[3] == 16, "eval transforms not applied: %s", MF_SHAPE(f0));
    for (int64_t j = 0; j < pooled->shape[1]; j++) /* the same image twice */
        cr_assert_eq(mf_tensor_get_flat(pooled, j), mf_tensor_get_flat(pooled, pooled->shape[1] + j));
    mf_tensor_release(pooled);
    mf_tensor_release(f0);
    snprintf(a, sizeof a,
             "embed %s/e.yaml --input /usr/lib/python3/dist-packages/nibabel/tests/data/anatomical.nii "
             "--output %s/v.safetensors data.val.transforms=[] encoder.rank=3",
             dir, dir);
    cr_assert_eq(sh(a, out, sizeof out), 0, "%s", out);
    snprintf(a, sizeof a, "embed %s/e.yaml --input %s/missing.png --output %s/m.safetensors", dir, dir, dir);
    cr_assert_eq(sh(a, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "missing.png"), "%s", out);
}

Test(cli, embed_keeps_every_one_of_many_inputs_and_names_a_bad_device, .init = setup, .fini = teardown) {
    /* 300 inputs (more than any fixed table): all 300 rows come out, in order */
    write_file("e.yaml", "name: e\ndata:\n  val:\n    source: {type: phantom2d, count: 4}\n"
                         "    transforms: [{name: resize, size: 8}]\n"
                         "encoder: {plugin: simple_cnn, width: 4, depth: 2}\n"
                         "task: {plugin: classification, num_classes: 2}\ntrain: {steps: 1}\n");
    const char *png = MEDFM_TEST_DATA_DIR "/images/gray8.png";
    size_t cap = 300 * (strlen(png) + 16) + 512;
    char *a = malloc(cap);
    int n = snprintf(a, cap, "embed %s/e.yaml --output %s/many.safetensors", dir, dir);
    for (int i = 0; i < 300; i++)
        n += snprintf(a + n, cap - (size_t)n, " --input %s", png);
    cr_assert_eq(sh(a, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "pooled [300, "), "%s", out);
    /* a device that does not parse: a usage error naming the option */
    snprintf(a, cap, "embed %s/e.yaml --input %s --output %s/d.safetensors --device gpu", dir, png, dir);
    cr_assert_eq(sh(a, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "--device") && strstr(out, "'gpu'"), "%s", out);
    free(a);
}
