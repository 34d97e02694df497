/* safetensors: round trip through the writer and the reader, and a file
 * produced by the Python fixture writer. */
#include <stdio.h>
#include <unistd.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

Test(safetensors, round_trip_keeps_names_dtypes_shapes_and_values) {
    mf_tensor *a = t_uniform(1, 3, (int64_t[]){2, 3, 4}, MF_F32, -1, 1);
    mf_tensor *b = t_from(1, (int64_t[]){3}, MF_I64, (double[]){-5, 0, 7});
    mf_tensor *c = t_uniform(2, 2, (int64_t[]){4, 2}, MF_F64, -1, 1);
    mf_tensor *ct;
    MF_OK_OR_FAIL(mf_transpose(c, 0, 1, &ct)); /* non-contiguous source */
    char path[] = "/tmp/mf_st_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    const char *names[] = {"layer.weight", "idx", "t"};
    mf_tensor *ts[] = {a, b, ct};
    const char *meta[] = {"format", "pt"};
    MF_OK_OR_FAIL(mf_safetensors_save(path, 3, names, ts, 1, meta));
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    cr_assert_eq(mf_safetensors_count(f), 3);
    cr_assert_str_eq(mf_safetensors_metadata(f, "format"), "pt");
    for (int i = 0; i < 3; i++) {
        mf_tensor *r;
        MF_OK_OR_FAIL(mf_safetensors_get(f, names[i], &r));
        cr_assert_eq(r->dtype, ts[i]->dtype);
        t_assert_close(r, ts[i], 0, 0, names[i]);
        mf_tensor_release(r);
    }
    mf_tensor *none = NULL;
    cr_assert_eq(mf_safetensors_get(f, "missing", &none), MF_ERR_NOT_FOUND);
    mf_safetensors_close(f);
    unlink(path);
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(c);
    mf_tensor_release(ct);
}

Test(safetensors, reads_the_python_fixture_writer_output) {
    mf_tensor *x = t_fixture("selftest.safetensors", "x");
    mf_tensor *want = t_from(2, (int64_t[]){2, 3}, MF_F64, (double[]){0, 1, 2, 3, 4, 5});
    t_assert_close(x, want, 0, 0, "x");
    mf_tensor *i = t_fixture("selftest.safetensors", "i");
    cr_assert_eq(i->dtype, MF_I64);
    cr_assert_eq(mf_tensor_get_flat(i, 1), -2);
    mf_tensor_release(x);
    mf_tensor_release(want);
    mf_tensor_release(i);
}
