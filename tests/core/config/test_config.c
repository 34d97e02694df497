/* Configs: parsing with provenance, schema errors with file:line:col and
 * "did you mean", base inheritance, overrides, ${VAR}, and re-emitting. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "medfm/config.h"
#include "tests/support/testing.h"

static char dir[64];

static void write_file(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static const char *in_dir(const char *name) {
    static char p[4][256];
    static int slot;
    char *s = p[slot++ & 3];
    snprintf(s, 256, "%s/%s", dir, name);
    return s;
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/mf_cfg_XXXXXX");
    cr_assert(mkdtemp(dir));
}

static const mf_key_spec optim_keys[] = {
    {.name = "name", .type = MF_KEY_CHOICE, .def = "adam", .doc = "optimiser", .choices = "sgd|adam|adamw",
     .min = MF_NO_LIMIT, .max = MF_NO_LIMIT},
    {.name = "lr", .type = MF_KEY_FLOAT, .def = "1e-3", .doc = "learning rate", .min = 0, .max = MF_NO_LIMIT},
    {.name = "momentum", .type = MF_KEY_FLOAT, .def = "0.9", .doc = "SGD momentum", .min = 0, .max = 1},
};
static const mf_schema optim_schema = {"optim", optim_keys, 3, false};
static const mf_key_spec top_keys[] = {
    {.name = "name", .type = MF_KEY_STRING, .def = NULL, .doc = "run name", .min = MF_NO_LIMIT, .max = MF_NO_LIMIT},
    {.name = "seed", .type = MF_KEY_INT, .def = "0", .doc = "seed", .min = 0, .max = MF_NO_LIMIT},
    {.name = "optim", .type = MF_KEY_SECTION, .def = "{}", .doc = "optimiser", .section = &optim_schema,
     .min = MF_NO_LIMIT, .max = MF_NO_LIMIT},
};
static const mf_schema top_schema = {"experiment", top_keys, 3, false};

Test(config, values_remember_file_line_and_column, .init = setup) {
    write_file("a.yaml", "name: x\noptim:\n  lr: 0.1\n");
    mf_cfg *c;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("a.yaml"), &c));
    mf_cfg *lr = mf_cfg_find(c, "optim.lr");
    cr_assert(lr);
    cr_assert(strstr(mf_cfg_where(lr), "a.yaml:3:3"), "%s", mf_cfg_where(lr));
    cr_assert_str_eq(mf_cfg_path(lr), "optim.lr");
    double v;
    MF_OK_OR_FAIL(mf_cfg_as_float(lr, &v));
    cr_assert_float_eq(v, 0.1, 1e-15);
    mf_cfg_free(c);
}

Test(config, unknown_key_is_reported_with_place_and_suggestion, .init = setup) {
    write_file("a.yaml", "name: x\noptim:\n  name: adam\n  lrr: 0.1\n");
    mf_cfg *c;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("a.yaml"), &c));
    mf_diag d = {0};
    mf_cfg_validate(c, &top_schema, &d);
    cr_assert_eq(d.n, 1);
    cr_assert(strstr(d.msgs[0], "a.yaml:4:3") && strstr(d.msgs[0], "unknown key 'lrr'") &&
                  strstr(d.msgs[0], "did you mean 'lr'"),
              "%s", d.msgs[0]);
    mf_diag_free(&d);
    mf_cfg_free(c);
}

Test(config, every_problem_is_listed_at_once, .init = setup) {
    write_file("a.yaml", "seed: -3\noptim:\n  name: adan\n  lr: fast\n  momentum: 2\n");
    mf_cfg *c;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("a.yaml"), &c));
    mf_diag d = {0};
    mf_cfg_validate(c, &top_schema, &d);
    cr_assert_eq(d.n, 5, "got %d problems", d.n);
    char all[4096] = "";
    for (int i = 0; i < d.n; i++) {
        strcat(all, d.msgs[i]);
        strcat(all, "\n");
    }
    cr_assert(strstr(all, "seed: -3 is outside the allowed range [0, inf]"), "%s", all);
    cr_assert(strstr(all, "'adan' is not one of sgd|adam|adamw (did you mean 'adam'?)"), "%s", all);
    cr_assert(strstr(all, "optim.lr: expected a number, got 'fast'"), "%s", all);
    cr_assert(strstr(all, "optim.momentum: 2 is outside the allowed range [0, 1]"), "%s", all);
    cr_assert(strstr(all, "required key 'name'"), "%s", all);
    cr_assert_eq(mf_diag_status(&d), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "5 problems"));
    mf_diag_free(&d);
    mf_cfg_free(c);
}

Test(config, defaults_fill_missing_keys, .init = setup) {
    write_file("a.yaml", "name: x\n");
    mf_cfg *c;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("a.yaml"), &c));
    mf_diag d = {0};
    mf_cfg_validate(c, &top_schema, &d);
    cr_assert_eq(d.n, 0);
    double lr;
    MF_OK_OR_FAIL(mf_cfg_get_float(c, "optim.lr", -1, &lr));
    cr_assert_float_eq(lr, 1e-3, 1e-18);
    cr_assert(mf_cfg_find(c, "optim.lr")->is_default);
    mf_cfg_free(c);
}

Test(config, base_files_deep_merge_under_the_including_file, .init = setup) {
    write_file("base.yaml", "name: base\nseed: 1\noptim:\n  name: sgd\n  lr: 0.5\n");
    write_file("mid.yaml", "base: base.yaml\noptim:\n  lr: 0.25\n");
    write_file("top.yaml", "base: mid.yaml\nname: top\n");
    mf_cfg *c;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("top.yaml"), &c));
    const char *name, *oname;
    double lr;
    int64_t seed;
    MF_OK_OR_FAIL(mf_cfg_get_string(c, "name", NULL, &name));
    MF_OK_OR_FAIL(mf_cfg_get_string(c, "optim.name", NULL, &oname));
    MF_OK_OR_FAIL(mf_cfg_get_float(c, "optim.lr", 0, &lr));
    MF_OK_OR_FAIL(mf_cfg_get_int(c, "seed", 0, &seed));
    cr_assert_str_eq(name, "top");
    cr_assert_str_eq(oname, "sgd");
    cr_assert_float_eq(lr, 0.25, 0);
    cr_assert_eq(seed, 1);
    cr_assert_null(mf_cfg_find(c, "base"));
    cr_assert(strstr(mf_cfg_where(mf_cfg_find(c, "optim.lr")), "mid.yaml:3"));
    mf_cfg_free(c);
}

Test(config, base_cycle_is_an_error, .init = setup) {
    write_file("a.yaml", "base: b.yaml\n");
    write_file("b.yaml", "base: a.yaml\n");
    mf_cfg *c = NULL;
    cr_assert_eq(mf_cfg_load(in_dir("a.yaml"), &c), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "cycle"), "%s", mf_last_error());
}

Test(config, missing_base_names_the_including_place, .init = setup) {
    write_file("a.yaml", "base: nope.yaml\n");
    mf_cfg *c = NULL;
    cr_assert_eq(mf_cfg_load(in_dir("a.yaml"), &c), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "a.yaml:1") && strstr(mf_last_error(), "nope.yaml"), "%s", mf_last_error());
}

Test(config, overrides_set_nested_keys_and_are_type_checked, .init = setup) {
    write_file("a.yaml", "name: x\noptim:\n  lr: 0.1\n");
    mf_cfg *c;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("a.yaml"), &c));
    MF_OK_OR_FAIL(mf_cfg_set(c, "optim.lr=2.0e-3"));
    MF_OK_OR_FAIL(mf_cfg_set(c, "optim.name=sgd"));
    MF_OK_OR_FAIL(mf_cfg_set(c, "extra.deep.key=[1, 2]"));
    double lr;
    MF_OK_OR_FAIL(mf_cfg_get_float(c, "optim.lr", 0, &lr));
    cr_assert_float_eq(lr, 2e-3, 0);
    cr_assert_eq(mf_cfg_find(c, "extra.deep.key")->n, 2);
    cr_assert_str_eq(mf_cfg_where(mf_cfg_find(c, "optim.lr")), "<command line>");
    MF_OK_OR_FAIL(mf_cfg_set(c, "seed=abc"));
    mf_cfg_remove(c, "extra");
    mf_diag d = {0};
    mf_cfg_validate(c, &top_schema, &d);
    cr_assert_eq(d.n, 1);
    cr_assert(strstr(d.msgs[0], "<command line>: seed: expected an integer, got 'abc'"), "%s", d.msgs[0]);
    cr_assert_eq(mf_cfg_set(c, "name.sub=1"), MF_ERR_CONFIG); /* name is a scalar */
    cr_assert_eq(mf_cfg_set(c, "novalue"), MF_ERR_CONFIG);
    mf_diag_free(&d);
    mf_cfg_free(c);
}

Test(config, environment_variables_expand_in_values, .init = setup) {
    setenv("MF_TEST_DATA", "/data/x", 1);
    unsetenv("MF_TEST_UNSET");
    write_file("a.yaml", "path: ${MF_TEST_DATA}/train\nother: ${MF_TEST_UNSET:-fallback}\n");
    mf_cfg *c;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("a.yaml"), &c));
    const char *p, *o;
    MF_OK_OR_FAIL(mf_cfg_get_string(c, "path", NULL, &p));
    MF_OK_OR_FAIL(mf_cfg_get_string(c, "other", NULL, &o));
    cr_assert_str_eq(p, "/data/x/train");
    cr_assert_str_eq(o, "fallback");
    mf_cfg_free(c);
    write_file("b.yaml", "path: ${MF_TEST_UNSET}/x\n");
    cr_assert_eq(mf_cfg_load(in_dir("b.yaml"), &c), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "b.yaml:1") && strstr(mf_last_error(), "MF_TEST_UNSET"), "%s",
              mf_last_error());
}

Test(config, syntax_errors_and_duplicate_keys_cite_the_line, .init = setup) {
    write_file("bad.yaml", "name: x\noptim:\n  lr: [1, 2\n");
    mf_cfg *c = NULL;
    cr_assert_eq(mf_cfg_load(in_dir("bad.yaml"), &c), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "bad.yaml:") && strstr(mf_last_error(), "YAML syntax error"), "%s",
              mf_last_error());
    write_file("dup.yaml", "name: x\nseed: 1\nseed: 2\n");
    cr_assert_eq(mf_cfg_load(in_dir("dup.yaml"), &c), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "dup.yaml:3:1") && strstr(mf_last_error(), "'seed' appears twice"), "%s",
              mf_last_error());
    cr_assert_eq(mf_cfg_load(in_dir("missing.yaml"), &c), MF_ERR_NOT_FOUND);
    write_file("list.yaml", "- a\n- b\n");
    cr_assert_eq(mf_cfg_load(in_dir("list.yaml"), &c), MF_ERR_CONFIG);
}

Test(config, written_yaml_reads_back_to_the_same_tree, .init = setup) {
    write_file("a.yaml", "name: \"true\"\nseed: 3\nlist: [1, \"a b\", {k: v}]\nempty: {}\nn: null\n"
                         "s: 'x: y'\nnested:\n  deeper:\n    v: -1.5e-3\n");
    mf_cfg *c, *d;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("a.yaml"), &c));
    MF_OK_OR_FAIL(mf_cfg_write(c, in_dir("out.yaml")));
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("out.yaml"), &d));
    char *t1, *t2;
    MF_OK_OR_FAIL(mf_cfg_to_yaml(c, &t1));
    MF_OK_OR_FAIL(mf_cfg_to_yaml(d, &t2));
    cr_assert_str_eq(t1, t2);
    const char *name;
    MF_OK_OR_FAIL(mf_cfg_get_string(d, "name", NULL, &name));
    cr_assert_str_eq(name, "true");
    bool b;
    cr_assert_eq(mf_cfg_as_bool(mf_cfg_find(d, "name"), &b), MF_ERR_CONFIG); /* quoted stays a string */
    cr_assert_eq(mf_cfg_find(d, "n")->kind, MF_CFG_NULL);
    free(t1);
    free(t2);
    mf_cfg_free(c);
    mf_cfg_free(d);
}

Test(config, a_section_naming_another_plugin_replaces_the_base_section, .init = setup) {
    write_file("base.yaml", "name: b\nsolver: {plugin: gm, max_iter: 100}\nsrc: {type: phantom2d, size: 32}\n"
                            "opt: {plugin: adam, lr: 1}\n");
    write_file("top.yaml", "base: base.yaml\nsolver: {plugin: lap}\nsrc: {type: slices, plane: axial}\n"
                           "opt: {plugin: adam, lr: 2}\n");
    mf_cfg *c;
    MF_OK_OR_FAIL(mf_cfg_load(in_dir("top.yaml"), &c));
    cr_assert_null(mf_cfg_find(c, "solver.max_iter"), "gm's keys must not leak into lap's section");
    cr_assert_null(mf_cfg_find(c, "src.size"));
    cr_assert_not_null(mf_cfg_find(c, "src.plane"));
    double lr;
    MF_OK_OR_FAIL(mf_cfg_get_float(c, "opt.lr", 0, &lr)); /* same plugin: still a deep merge */
    cr_assert_float_eq(lr, 2, 0);
    mf_cfg_free(c);
}
