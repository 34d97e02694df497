/* safetensors: every dtype round trips bit for bit, zero-copy views, the
 * metadata, atomic saves, and one test per kind of malformed file (each
 * must give MF_ERR_FORMAT with a message naming the file and the fault). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/testing.h"

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/mf_st_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

TestSuite(safetensors, .init = make_dir, .fini = remove_dir);

static const char *in_dir(const char *name) {
    static char p[4][256];
    static int slot;
    char *s = p[slot++ & 3];
    snprintf(s, 256, "%s/%s", dir, name);
    return s;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A file with the given JSON header (length prefix computed) and data bytes. */
static const char *write_file(const char *name, const char *header, size_t data_bytes) {
    const char *path = in_dir(name);
    size_t hl = strlen(header);
    unsigned char *buf = calloc(1, 8 + hl + data_bytes);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    write_bytes(path, buf, 8 + hl + data_bytes);
    free(buf);
    return path;
}

/* Opens `path`, expects MF_ERR_FORMAT and a message containing the file
 * name and `what`. */
static void expect_format_error(const char *path, const char *what) {
    mf_safetensors *f = NULL;
    mf_status st = mf_safetensors_open(path, &f);
    cr_assert_eq(st, MF_ERR_FORMAT, "%s: got %s: %s", what, mf_status_name(st), mf_last_error());
    cr_assert_null(f);
    cr_assert(strstr(mf_last_error(), path), "message does not name the file: %s", mf_last_error());
    cr_assert(strstr(mf_last_error(), what), "message does not say '%s': %s", what, mf_last_error());
}

Test(safetensors, every_dtype_round_trips_bit_for_bit) {
    static const mf_dtype dts[] = {MF_F64, MF_F32, MF_F16, MF_BF16, MF_I64, MF_I32,
                                   MF_I16, MF_I8,  MF_U8,  MF_BOOL, MF_U16};
    enum { N = sizeof dts / sizeof dts[0] };
    mf_tensor *ts[N];
    char names[N][16];
    const char *np[N];
    for (int i = 0; i < N; i++) {
        /* Odd sizes so a naive layout would misalign the wider dtypes. */
        ts[i] = t_uniform(10 + i, 2, (int64_t[]){3, 1 + i % 3}, dts[i], dts[i] == MF_BOOL ? 0 : -100,
                          dts[i] == MF_BOOL ? 2 : 100);
        snprintf(names[i], sizeof names[i], "t.%s", mf_dtype_name(dts[i]));
        np[i] = names[i];
    }
    const char *path = in_dir("all.safetensors");
    MF_OK_OR_FAIL(mf_safetensors_save(path, N, np, ts, 0, NULL));
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    cr_assert_eq(mf_safetensors_count(f), N);
    for (int i = 0; i < N; i++) {
        cr_assert_str_eq(mf_safetensors_name(f, i), names[i]); /* file order = given order */
        mf_tensor *r;
        MF_OK_OR_FAIL(mf_safetensors_get(f, names[i], &r));
        cr_assert_eq(r->dtype, dts[i], "%s", names[i]);
        cr_assert(mf_tensor_same_shape(r, ts[i]));
        cr_assert_eq(memcmp(mf_tensor_data(r), mf_tensor_data(ts[i]), mf_tensor_nbytes(r)), 0, "%s", names[i]);
        cr_assert_eq((uintptr_t)mf_tensor_data(r) % mf_dtype_size(dts[i]), 0, "%s is misaligned", names[i]);
        mf_tensor_release(r);
    }
    mf_safetensors_close(f);
    for (int i = 0; i < N; i++)
        mf_tensor_release(ts[i]);
}

Test(safetensors, empty_and_scalar_tensors_round_trip) {
    mf_tensor *e, *s;
    MF_OK_OR_FAIL(mf_tensor_empty(2, (int64_t[]){0, 3}, MF_F32, MF_DEVICE_CPU, &e));
    MF_OK_OR_FAIL(mf_tensor_scalar(2.5, MF_F64, MF_DEVICE_CPU, &s));
    const char *path = in_dir("small.safetensors");
    MF_OK_OR_FAIL(mf_safetensors_save(path, 2, (const char *[]){"empty", "scalar"}, (mf_tensor *[]){e, s}, 0, NULL));
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    mf_tensor *r;
    MF_OK_OR_FAIL(mf_safetensors_get(f, "empty", &r));
    cr_assert(mf_tensor_same_shape(r, e));
    mf_tensor_release(r);
    MF_OK_OR_FAIL(mf_safetensors_get(f, "scalar", &r));
    cr_assert_eq(r->ndim, 0);
    cr_assert_eq(mf_tensor_get_flat(r, 0), 2.5);
    mf_tensor_release(r);
    mf_safetensors_close(f);
    mf_tensor_release(e);
    mf_tensor_release(s);
}

Test(safetensors, tensors_are_zero_copy_views_that_outlive_the_file_handle) {
    mf_tensor *a = t_uniform(1, 1, (int64_t[]){1000}, MF_F32, -1, 1);
    const char *path = in_dir("z.safetensors");
    MF_OK_OR_FAIL(mf_safetensors_save(path, 1, (const char *[]){"a"}, &a, 0, NULL));
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    mf_tensor *r1, *r2;
    MF_OK_OR_FAIL(mf_safetensors_get(f, "a", &r1));
    MF_OK_OR_FAIL(mf_safetensors_get(f, "a", &r2));
    cr_assert_eq(mf_tensor_data(r1), mf_tensor_data(r2), "two gets should view the same mapped bytes");
    mf_safetensors_close(f);
    t_assert_close(r1, a, 0, 0, "after close");
    /* Writes land in the private mapping, never in the file. */
    mf_tensor_set_flat(r1, 0, 42.0);
    mf_tensor_release(r1);
    mf_tensor_release(r2);
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    MF_OK_OR_FAIL(mf_safetensors_get(f, "a", &r1));
    cr_assert_eq(mf_tensor_get_flat(r1, 0), mf_tensor_get_flat(a, 0));
    mf_tensor_release(r1);
    mf_safetensors_close(f);
    mf_tensor_release(a);
}

Test(safetensors, metadata_keys_and_info_are_readable) {
    mf_tensor *a = t_uniform(1, 3, (int64_t[]){2, 3, 4}, MF_BF16, -1, 1);
    const char *path = in_dir("m.safetensors");
    const char *meta[] = {"format", "pt", "epoch", "7"};
    MF_OK_OR_FAIL(mf_safetensors_save(path, 1, (const char *[]){"w"}, &a, 2, meta));
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    cr_assert_eq(mf_safetensors_metadata_count(f), 2);
    cr_assert_str_eq(mf_safetensors_metadata_key(f, 1), "epoch");
    cr_assert_str_eq(mf_safetensors_metadata(f, "epoch"), "7");
    cr_assert_null(mf_safetensors_metadata(f, "nope"));
    mf_dtype dt;
    int nd;
    int64_t shape[MF_MAX_DIMS];
    MF_OK_OR_FAIL(mf_safetensors_info(f, "w", &dt, &nd, shape));
    cr_assert(dt == MF_BF16 && nd == 3 && shape[2] == 4);
    cr_assert_eq(mf_safetensors_find(f, "w"), 0);
    cr_assert_eq(mf_safetensors_find(f, "x"), -1);
    cr_assert_eq(mf_safetensors_info(f, "x", NULL, NULL, NULL), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "'x'"));
    mf_safetensors_close(f);
    mf_tensor_release(a);
}

Test(safetensors, save_replaces_a_file_atomically_and_leaves_no_temporaries) {
    mf_tensor *a = t_uniform(1, 1, (int64_t[]){4}, MF_F32, -1, 1);
    mf_tensor *b = t_uniform(2, 1, (int64_t[]){5}, MF_F32, -1, 1);
    const char *path = in_dir("ckpt.safetensors");
    MF_OK_OR_FAIL(mf_safetensors_save(path, 1, (const char *[]){"a"}, &a, 0, NULL));
    MF_OK_OR_FAIL(mf_safetensors_save(path, 1, (const char *[]){"b"}, &b, 0, NULL));
    /* A failing save (duplicate names) keeps the previous file. */
    cr_assert_eq(mf_safetensors_save(path, 2, (const char *[]){"c", "c"}, (mf_tensor *[]){a, b}, 0, NULL),
                 MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "'c' given twice"), "%s", mf_last_error());
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    cr_assert_eq(mf_safetensors_count(f), 1);
    cr_assert_str_eq(mf_safetensors_name(f, 0), "b");
    mf_safetensors_close(f);
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            files++;
            cr_assert_null(strstr(e->d_name, ".tmp"), "left behind: %s", e->d_name);
        }
    closedir(d);
    cr_assert_eq(files, 1);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(safetensors, saving_into_a_missing_directory_is_an_io_error) {
    mf_tensor *a = t_uniform(1, 1, (int64_t[]){4}, MF_F32, -1, 1);
    cr_assert_eq(mf_safetensors_save(in_dir("no/such/x.safetensors"), 1, (const char *[]){"a"}, &a, 0, NULL),
                 MF_ERR_IO);
    cr_assert(strstr(mf_last_error(), "no/such/x.safetensors"), "%s", mf_last_error());
    cr_assert_eq(mf_safetensors_save(in_dir("y.safetensors"), 1, (const char *[]){"__metadata__"}, &a, 0, NULL),
                 MF_ERR_INVALID);
    mf_tensor_release(a);
}

Test(safetensors, a_missing_file_is_not_found) {
    mf_safetensors *f = NULL;
    cr_assert_eq(mf_safetensors_open(in_dir("absent.safetensors"), &f), MF_ERR_NOT_FOUND);
    cr_assert(strstr(mf_last_error(), "absent.safetensors"));
}

/* ---- malformed files ---- */

Test(safetensors, a_file_shorter_than_8_bytes_is_rejected) {
    const char *path = in_dir("short.safetensors");
    write_bytes(path, "\x02\x00\x00", 3);
    expect_format_error(path, "too short");
}

Test(safetensors, a_header_length_past_the_end_is_rejected) {
    const char *path = in_dir("past.safetensors");
    unsigned char buf[12] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    write_bytes(path, buf, sizeof buf);
    expect_format_error(path, "past the end of the file");
}

Test(safetensors, an_absurd_header_length_is_rejected) {
    const char *path = in_dir("absurd.safetensors");
    unsigned char buf[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    write_bytes(path, buf, sizeof buf);
    expect_format_error(path, "absurdly large");
}

Test(safetensors, a_header_that_is_not_json_is_rejected) {
    expect_format_error(write_file("nojson.safetensors", "{\"a\": {\"dtype\": ", 0), "not valid JSON");
    expect_format_error(write_file("array.safetensors", "[1, 2]", 0), "not an object");
}

Test(safetensors, entries_missing_a_field_are_rejected_naming_it) {
    expect_format_error(write_file("nodt.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                        "entry 'w' is missing 'dtype'");
    expect_format_error(write_file("nosh.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4),
                        "entry 'w' is missing 'shape'");
    expect_format_error(write_file("noof.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4),
                        "entry 'w' is missing 'data_offsets'");
}

Test(safetensors, an_unknown_dtype_is_rejected) {
    expect_format_error(
        write_file("dt.safetensors", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4),
        "unknown dtype 'F8_E4M3'");
}

Test(safetensors, a_bad_shape_is_rejected) {
    expect_format_error(
        write_file("sh.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4),
        "shape[0]");
}

Test(safetensors, offsets_past_the_end_are_rejected) {
    expect_format_error(
        write_file("end.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4),
        "past the end of the data");
}

Test(safetensors, offsets_with_begin_after_end_are_rejected) {
    expect_format_error(
        write_file("rev.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8),
        "begin 8 > end 4");
}

Test(safetensors, non_integer_offsets_are_rejected) {
    expect_format_error(
        write_file("frac.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0.5,1.5]}}", 4),
        "data_offsets");
}

Test(safetensors, overlapping_entries_are_rejected) {
    expect_format_error(write_file("ovl.safetensors",
                                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                                   12),
                        "overlap");
}

Test(safetensors, a_byte_size_disagreeing_with_dtype_and_shape_is_rejected) {
    expect_format_error(
        write_file("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16),
        "12 bytes stored but dtype F32 and shape [2, 2] need 16");
}

Test(safetensors, duplicate_names_are_rejected) {
    expect_format_error(write_file("dup.safetensors",
                                   "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                                   "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                                   2),
                        "'w' appears twice");
}

Test(safetensors, non_string_metadata_is_rejected) {
    expect_format_error(write_file("meta.safetensors", "{\"__metadata__\":{\"epoch\":3}}", 0),
                        "__metadata__ value of 'epoch'");
}

Test(safetensors, reads_a_file_with_unaligned_data_by_copying) {
    /* 1 byte of U8, then an F32 at data offset 1 (legal, but unaligned). */
    const char *h = "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                    "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]}}";
    size_t hl = strlen(h);
    unsigned char buf[512] = {0};
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + 8, h, hl);
    float v = 1.25f;
    buf[8 + hl] = 9;
    memcpy(buf + 8 + hl + 1, &v, 4);
    const char *path = in_dir("unaligned.safetensors");
    write_bytes(path, buf, 8 + hl + 5);
    mf_safetensors *f;
    MF_OK_OR_FAIL(mf_safetensors_open(path, &f));
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_safetensors_get(f, "f", &t));
    cr_assert_eq(mf_tensor_get_flat(t, 0), 1.25);
    mf_tensor_release(t);
    mf_safetensors_close(f);
}
