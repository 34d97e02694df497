/* PNG and JPEG decoding against the pixels PIL decodes from the same files
 * (tools/fixtures/gen_images.py), PNG round trips, and broken files. */
#include <stdio.h>
#include <unistd.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

static void check(const char *file, const char *ref, double tol) {
    char path[256];
    snprintf(path, sizeof path, "images/%s", file);
    mf_tensor *img;
    MF_OK_OR_FAIL(mf_image_read(t_fixture_path(path), &img));
    mf_tensor *want = t_fixture("images.safetensors", ref);
    cr_assert_eq(img->dtype, want->dtype, "%s: dtype %s vs %s", file, mf_dtype_name(img->dtype),
                 mf_dtype_name(want->dtype));
    t_assert_close(img, want, tol, 0, file);
    mf_tensor_release(img);
    mf_tensor_release(want);
}

Test(image, png_layouts_decode_like_pil) {
    check("gray8.png", "gray8", 0);
    check("gray16.png", "gray16", 0);
    check("rgb.png", "rgb", 0);
    check("rgba.png", "rgba", 0);
    check("palette.png", "palette", 0);
}

Test(image, jpeg_decodes_like_pil) {
    /* Same library family; allow one level of IDCT rounding difference. */
    check("rgb.jpg", "rgb_jpg", 1);
    check("gray.jpg", "gray_jpg", 1);
}

Test(image, png_round_trip_for_u8_and_u16_in_every_channel_count) {
    for (int c = 1; c <= 4; c++)
        for (int wide = 0; wide < 2; wide++) {
            mf_tensor *img = t_uniform(c * 10 + wide, 3, (int64_t[]){c, 5, 9}, wide ? MF_U16 : MF_U8, 0,
                                       wide ? 65535 : 255);
            const char *path = "/tmp/mf_img_rt.png";
            MF_OK_OR_FAIL(mf_image_write_png(path, img));
            mf_tensor *back;
            MF_OK_OR_FAIL(mf_image_read(path, &back));
            t_assert_close(back, img, 0, 0, "png round trip");
            mf_tensor_release(img);
            mf_tensor_release(back);
            unlink(path);
        }
}

static void truncate_copy(const char *from, const char *to, long n) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b);
    char buf[65536];
    size_t r = fread(buf, 1, (size_t)n, a);
    fwrite(buf, 1, r, b);
    fclose(a);
    fclose(b);
}

Test(image, truncated_corrupt_and_foreign_files_are_errors_naming_them) {
    mf_tensor *img = NULL;
    truncate_copy(t_fixture_path("images/rgb.png"), "/tmp/mf_cut.png", 60);
    cr_assert_eq(mf_image_read("/tmp/mf_cut.png", &img), MF_ERR_FORMAT);
    cr_assert(strstr(mf_last_error(), "mf_cut.png") && strstr(mf_last_error(), "PNG"), "%s", mf_last_error());
    truncate_copy(t_fixture_path("images/rgb.jpg"), "/tmp/mf_cut.jpg", 200);
    cr_assert_eq(mf_image_read("/tmp/mf_cut.jpg", &img), MF_ERR_FORMAT);
    cr_assert(strstr(mf_last_error(), "mf_cut.jpg") && strstr(mf_last_error(), "JPEG"), "%s", mf_last_error());
    FILE *f = fopen("/tmp/mf_text.png", "w");
    fputs("hello", f);
    fclose(f);
    cr_assert_eq(mf_image_read("/tmp/mf_text.png", &img), MF_ERR_FORMAT);
    cr_assert(strstr(mf_last_error(), "not a PNG or JPEG"), "%s", mf_last_error());
    cr_assert_eq(mf_image_read("/tmp/definitely_missing.png", &img), MF_ERR_NOT_FOUND);
    /* A PNG signature followed by garbage. */
    f = fopen("/tmp/mf_garbage.png", "wb");
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    for (int i = 0; i < 100; i++)
        fputc(i * 37, f);
    fclose(f);
    cr_assert_eq(mf_image_read("/tmp/mf_garbage.png", &img), MF_ERR_FORMAT);
    cr_assert_null(img);
    unlink("/tmp/mf_cut.png");
    unlink("/tmp/mf_cut.jpg");
    unlink("/tmp/mf_text.png");
    unlink("/tmp/mf_garbage.png");
}

Test(image, writer_rejects_bad_shapes_and_dtypes) {
    mf_tensor *f = t_uniform(1, 3, (int64_t[]){3, 4, 4}, MF_F32, 0, 1);
    mf_tensor *c5 = t_uniform(1, 3, (int64_t[]){5, 4, 4}, MF_U8, 0, 1);
    cr_assert_eq(mf_image_write_png("/tmp/x.png", f), MF_ERR_DTYPE);
    cr_assert_eq(mf_image_write_png("/tmp/x.png", c5), MF_ERR_SHAPE);
    mf_tensor_release(f);
    mf_tensor_release(c5);
}
