/* Loads fixture tensors for tests. */
#include "tests/support/fixture.h"

#include "tests/support/testing.h"

mf_tensor *t_fixture(const char *file, const char *name) {
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(t_fixture_path(file), &f));
    mf_tensor *t = NULL;
    mf_status st = mf_safetensors_get(f, name, &t);
    mf_safetensors_close(f);
    cr_assert_eq(st, MF_OK, "fixture %s: %s", file, mf_last_error());
    return t;
}
