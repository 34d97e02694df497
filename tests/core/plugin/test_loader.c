/* The plugin loader: one fixture plugin per way loading can go wrong, each
 * with its own clear message naming the file. */
#include <stdio.h>

#include "medfm/plugin.h"
#include "tests/support/testing.h"

static const char *plugin(const char *name) {
    static char buf[4][1024];
    static int slot;
    char *s = buf[slot++ & 3];
    snprintf(s, 1024, "%s/test-plugins/%s.so", MEDFM_BUILD_DIR, name);
    return s;
}

Test(plugin_loader, a_good_plugin_registers_its_factory_with_schema_and_file) {
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    MF_OK_OR_FAIL(mf_registry_load(r, plugin("good_loss")));
    const mf_plugin_info *p;
    MF_OK_OR_FAIL(mf_registry_get(r, MF_KIND_LOSS, "fixture_loss", &p));
    cr_assert_str_eq(p->version, "1.2.3");
    cr_assert_eq(*(const int *)p->vtable, 42);
    cr_assert_str_eq(p->schema->keys[0].name, "scale");
    cr_assert(strstr(mf_registry_file(r, 0), "good_loss.so"));
    MF_OK_OR_FAIL(mf_registry_load(r, plugin("good_loss"))); /* twice: no-op */
    cr_assert_eq(mf_registry_count(r), 1);
    mf_registry_free(r);
}

Test(plugin_loader, missing_entry_symbol_is_named) {
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    cr_assert_eq(mf_registry_load(r, plugin("no_entry")), MF_ERR_PLUGIN);
    cr_assert(strstr(mf_last_error(), "no_entry.so") && strstr(mf_last_error(), "missing entry symbol"), "%s",
              mf_last_error());
    mf_registry_free(r);
}

Test(plugin_loader, abi_major_mismatch_is_named) {
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    cr_assert_eq(mf_registry_load(r, plugin("abi_major")), MF_ERR_PLUGIN);
    cr_assert(strstr(mf_last_error(), "abi_major.so") && strstr(mf_last_error(), "ABI mismatch") &&
                  strstr(mf_last_error(), "99.0"),
              "%s", mf_last_error());
    cr_assert_eq(mf_registry_count(r), 0);
    mf_registry_free(r);
}

Test(plugin_loader, duplicate_kind_and_name_names_both_files) {
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    MF_OK_OR_FAIL(mf_registry_load(r, plugin("good_loss")));
    cr_assert_eq(mf_registry_load(r, plugin("dup_loss")), MF_ERR_PLUGIN);
    cr_assert(strstr(mf_last_error(), "dup_loss.so") && strstr(mf_last_error(), "already registered by") &&
                  strstr(mf_last_error(), "good_loss.so"),
              "%s", mf_last_error());
    cr_assert_eq(mf_registry_count(r), 1);
    mf_registry_free(r);
}

Test(plugin_loader, failing_init_leaves_nothing_registered) {
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    cr_assert_eq(mf_registry_load(r, plugin("fail_init")), MF_ERR_PLUGIN);
    cr_assert(strstr(mf_last_error(), "fail_init.so") && strstr(mf_last_error(), "initialisation failed") &&
                  strstr(mf_last_error(), "weights file missing"),
              "%s", mf_last_error());
    cr_assert_null(mf_registry_find(r, MF_KIND_ENCODER, "half_done"));
    cr_assert_eq(mf_registry_count(r), 0);
    mf_registry_free(r);
}

Test(plugin_loader, a_file_that_is_not_a_shared_object_is_refused) {
    const char *path = "/tmp/mf_not_a_plugin.so";
    FILE *f = fopen(path, "w");
    fputs("this is text\n", f);
    fclose(f);
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    cr_assert_eq(mf_registry_load(r, path), MF_ERR_PLUGIN);
    cr_assert(strstr(mf_last_error(), "mf_not_a_plugin.so") && strstr(mf_last_error(), "not a shared object"), "%s",
              mf_last_error());
    cr_assert_eq(mf_registry_load(r, "/tmp/definitely/missing.so"), MF_ERR_NOT_FOUND);
    mf_registry_free(r);
}

Test(plugin_loader, unknown_name_suggests_the_closest_registered_one) {
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    MF_OK_OR_FAIL(mf_registry_load(r, plugin("good_loss")));
    const mf_plugin_info *p;
    cr_assert_eq(mf_registry_get(r, MF_KIND_LOSS, "fixture_los", &p), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "did you mean 'fixture_loss'"), "%s", mf_last_error());
    cr_assert_eq(mf_registry_get(r, MF_KIND_ENCODER, "fixture_loss", &p), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "no encoder plugin"), "%s", mf_last_error());
    mf_registry_free(r);
}

Test(plugin_loader, plugin_path_environment_variable_loads_directories) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/test-plugins/good_loss.so", MEDFM_BUILD_DIR);
    setenv("MEDFM_PLUGIN_PATH", dir, 1);
    mf_registry *r;
    MF_OK_OR_FAIL(mf_registry_new(&r));
    MF_OK_OR_FAIL(mf_registry_load_defaults(r));
    cr_assert_not_null(mf_registry_find(r, MF_KIND_LOSS, "fixture_loss"));
    mf_registry_free(r);
    setenv("MEDFM_PLUGIN_PATH", "/nonexistent/dir", 1);
    MF_OK_OR_FAIL(mf_registry_new(&r));
    cr_assert_eq(mf_registry_load_defaults(r), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "MEDFM_PLUGIN_PATH"));
    mf_registry_free(r);
    unsetenv("MEDFM_PLUGIN_PATH");
}
