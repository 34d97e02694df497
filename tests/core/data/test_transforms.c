/* Transforms with geometry: images that encode their own pixel coordinates
 * show that each view's recorded map sends a pixel to where it really came
 * from; the nearest-position function agrees with brute force; colour
 * transforms behave; pipelines build from config with precise errors. */
#include <math.h>
#include <string.h>

#include "tests/support/testing.h"

/* (2, H, W) f32: channel 0 = x, channel 1 = y */
static mf_tensor *coord_image(int64_t H, int64_t W) {
    mf_tensor *t = NULL;
    mf_tensor_empty(3, (int64_t[]){2, H, W}, MF_F32, MF_DEVICE_CPU, &t);
    float *d = mf_tensor_data(t);
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            d[y * W + x] = (float)x;
            d[H * W + y * W + x] = (float)y;
        }
    return t;
}

/* every output pixel's value equals the source position its map claims */
static void check_map(const mf_aug *v, int64_t H, int64_t W, const char *what) {
    const mf_tensor *img = v->image;
    int64_t h = img->shape[1], w = img->shape[2], checked = 0;
    const float *d = mf_tensor_data(img);
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            double src[3];
            mf_aug_to_source(v, (double[]){(double)x, (double)y, 0}, src);
            if (src[0] < 0 || src[1] < 0 || src[0] > W - 1 || src[1] > H - 1)
                continue; /* edge clamping or outside */
            cr_assert_float_eq(d[y * w + x], src[0], 2e-3, "%s: x at (%lld, %lld)", what, (long long)x, (long long)y);
            cr_assert_float_eq(d[h * w + y * w + x], src[1], 2e-3, "%s: y at (%lld, %lld)", what, (long long)x,
                               (long long)y);
            checked++;
        }
    cr_assert_gt(checked, h * w / 4, "%s: too few pixels inside", what);
}

Test(transforms, flips_and_rotations_record_where_each_pixel_went) {
    for (int op = 0; op < 6; op++) {
        mf_tensor *img = coord_image(5, 7);
        mf_aug v;
        MF_OK_OR_FAIL(mf_aug_init(&v, 2, img, NULL));
        switch (op) {
        case 0: MF_OK_OR_FAIL(mf_tf_hflip(&v)); break;
        case 1: MF_OK_OR_FAIL(mf_tf_vflip(&v)); break;
        case 2: MF_OK_OR_FAIL(mf_tf_rot90(&v, 1)); break;
        case 3: MF_OK_OR_FAIL(mf_tf_rot90(&v, 2)); break;
        case 4: MF_OK_OR_FAIL(mf_tf_rot90(&v, 3)); break;
        case 5:
            MF_OK_OR_FAIL(mf_tf_rot90(&v, 1));
            MF_OK_OR_FAIL(mf_tf_hflip(&v));
            break;
        }
        check_map(&v, 5, 7, "flip/rot");
        mf_aug_clear(&v);
        mf_tensor_release(img);
    }
}

Test(transforms, rot90_matches_torch_rot90_on_a_marked_pixel) {
    /* torch.rot90(x, 1, (H, W)) on 3x4 with a mark at (row 0, col 3) moves it to (row 0, col 0) */
    mf_tensor *img = NULL;
    MF_OK_OR_FAIL(mf_tensor_zeros(3, (int64_t[]){1, 3, 4}, MF_U8, MF_DEVICE_CPU, &img));
    ((uint8_t *)mf_tensor_data(img))[3] = 255;
    mf_aug v;
    MF_OK_OR_FAIL(mf_aug_init(&v, 2, img, img ? NULL : NULL));
    MF_OK_OR_FAIL(mf_tf_rot90(&v, 1));
    cr_assert_eq(v.image->shape[1], 4);
    cr_assert_eq(v.image->shape[2], 3);
    cr_assert_float_eq(mf_tensor_get_flat(v.image, 0), 1.0, 1e-6);
    double src[3];
    mf_aug_to_source(&v, (double[]){0, 0, 0}, src);
    cr_assert_float_eq(src[0], 3, 1e-12);
    cr_assert_float_eq(src[1], 0, 1e-12);
    mf_aug_clear(&v);
    mf_tensor_release(img);
}

Test(transforms, random_resized_crops_composed_with_flips_keep_an_exact_map) {
    for (uint64_t s = 0; s < 20; s++) {
        mf_tensor *img = coord_image(48, 64);
        mf_aug v;
        mf_rng r = mf_data_stream(7, 0, s, 0);
        MF_OK_OR_FAIL(mf_aug_init(&v, 2, img, NULL));
        MF_OK_OR_FAIL(mf_tf_random_resized_crop(&v, &r, 24, 32, (double[]){0.2, 1.0}, (double[]){0.75, 4.0 / 3}));
        if (s & 1)
            MF_OK_OR_FAIL(mf_tf_hflip(&v));
        if (s & 2)
            MF_OK_OR_FAIL(mf_tf_rot90(&v, (int)(s % 4)));
        MF_OK_OR_FAIL(mf_tf_resized_crop(&v, 2, 3, 10, 12, 16, 16));
        check_map(&v, 48, 64, "rrc");
        mf_aug_clear(&v);
        mf_tensor_release(img);
    }
}

Test(transforms, masks_follow_the_image_with_nearest_sampling) {
    mf_tensor *img = coord_image(16, 16), *mask = NULL;
    MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){16, 16}, MF_U8, MF_DEVICE_CPU, &mask));
    uint8_t *m = mf_tensor_data(mask);
    for (int i = 0; i < 256; i++)
        m[i] = (uint8_t)(i % 16 < 8 ? 1 : 2); /* left half 1, right half 2 */
    mf_aug v;
    MF_OK_OR_FAIL(mf_aug_init(&v, 2, img, mask));
    MF_OK_OR_FAIL(mf_tf_hflip(&v));
    MF_OK_OR_FAIL(mf_tf_resize(&v, 8, 8));
    cr_assert_eq(v.mask->dtype, MF_U8);
    cr_assert_eq(mf_tensor_get_flat(v.mask, 0), 2);
    cr_assert_eq(mf_tensor_get_flat(v.mask, 7), 1);
    mf_aug_clear(&v);
    mf_tensor_release(img);
    mf_tensor_release(mask);
}

static void rand_view(uint64_t s, int64_t out, double m[2][3]) {
    mf_tensor *img = NULL;
    mf_tensor_zeros(3, (int64_t[]){1, 64, 80}, MF_U8, MF_DEVICE_CPU, &img);
    mf_aug v;
    mf_rng r = mf_data_stream(3, 1, s, 0);
    cr_assert_eq(mf_aug_init(&v, 2, img, NULL), MF_OK);
    cr_assert_eq(mf_tf_random_resized_crop(&v, &r, out, out, (double[]){0.15, 1}, (double[]){0.75, 1.333}), MF_OK);
    if (mf_data_uniform(&r) < 0.5)
        cr_assert_eq(mf_tf_hflip(&v), MF_OK);
    cr_assert_eq(mf_tf_rot90(&v, (int)mf_data_randint(&r, 4)), MF_OK);
    mf_aug_map2(&v, m);
    mf_aug_clear(&v);
    mf_tensor_release(img);
}

Test(transforms, nearest_feature_positions_agree_with_brute_force) {
    int64_t hs = 32, ht = 24, stride = 4, rs = hs / stride, rt = ht / stride;
    int64_t out[64], inside = 0, outside = 0;
    for (uint64_t s = 0; s < 30; s++) {
        double ms[2][3], mt[2][3];
        rand_view(2 * s, hs, ms);
        rand_view(2 * s + 1, ht, mt);
        if (s == 29) /* a skewed map forces the general search */
            mt[0][1] += 0.3;
        MF_OK_OR_FAIL(mf_view_nearest(ms, hs, hs, mt, ht, ht, stride, out));
        for (int64_t r = 0; r < rs; r++)
            for (int64_t c = 0; c < rs; c++) {
                double x = (c + 0.5) * stride - 0.5, y = (r + 0.5) * stride - 0.5;
                double sx = ms[0][0] * x + ms[0][1] * y + ms[0][2], sy = ms[1][0] * x + ms[1][1] * y + ms[1][2];
                /* inside view t? invert by solving the 2x2 system */
                double det = mt[0][0] * mt[1][1] - mt[0][1] * mt[1][0];
                double dx = sx - mt[0][2], dy = sy - mt[1][2];
                double tx = (mt[1][1] * dx - mt[0][1] * dy) / det, ty = (-mt[1][0] * dx + mt[0][0] * dy) / det;
                bool in = tx >= -0.5 && ty >= -0.5 && tx <= ht - 0.5 && ty <= ht - 0.5;
                int64_t got = out[r * rs + c];
                if (!in) {
                    cr_assert_eq(got, -1, "view %llu cell (%lld, %lld) lies outside t", (unsigned long long)s,
                                 (long long)r, (long long)c);
                    outside++;
                    continue;
                }
                inside++;
                cr_assert(got >= 0 && got < rt * rt);
                double best = INFINITY, dgot = 0;
                for (int64_t q = 0; q < rt * rt; q++) {
                    double u = (q % rt + 0.5) * stride - 0.5, w = (q / rt + 0.5) * stride - 0.5;
                    double ex = mt[0][0] * u + mt[0][1] * w + mt[0][2] - sx, ey = mt[1][0] * u + mt[1][1] * w + mt[1][2] - sy;
                    double dd = ex * ex + ey * ey;
                    best = dd < best ? dd : best;
                    if (q == got)
                        dgot = dd;
                }
                cr_assert_float_eq(dgot, best, 1e-9, "view %llu cell (%lld, %lld): %g vs best %g",
                                   (unsigned long long)s, (long long)r, (long long)c, dgot, best);
            }
    }
    cr_assert_gt(inside, 100);
    cr_assert_gt(outside, 10);
}

Test(transforms, nearest_of_a_view_with_itself_is_the_identity) {
    double m[2][3];
    rand_view(5, 32, m);
    int64_t out[64];
    MF_OK_OR_FAIL(mf_view_nearest(m, 32, 32, m, 32, 32, 4, out));
    for (int i = 0; i < 64; i++)
        cr_assert_eq(out[i], i);
    cr_assert_eq(mf_view_nearest(m, 32, 32, m, 32, 32, 0, out), MF_ERR_INVALID);
}

Test(transforms, color_ops_keep_range_and_do_what_they_say) {
    mf_tensor *img = t_uniform(3, 3, (int64_t[]){3, 8, 8}, MF_U8, 0, 255);
    mf_aug v;
    MF_OK_OR_FAIL(mf_aug_init(&v, 2, img, NULL));
    mf_rng r = mf_data_stream(1, 0, 0, 0);
    MF_OK_OR_FAIL(mf_tf_color_jitter(&v, &r, 0.4, 0.4, 0.4, 0.1));
    for (int64_t i = 0; i < mf_tensor_numel(v.image); i++) {
        double x = mf_tensor_get_flat(v.image, i);
        cr_assert(x >= 0 && x <= 1);
    }
    MF_OK_OR_FAIL(mf_tf_grayscale(&v, 3));
    cr_assert_eq(mf_tensor_get_flat(v.image, 5), mf_tensor_get_flat(v.image, 64 + 5));
    MF_OK_OR_FAIL(mf_tf_solarize(&v, 0.0));
    MF_OK_OR_FAIL(mf_tf_gaussian_blur(&v, 1.0));
    MF_OK_OR_FAIL(mf_tf_normalize(&v, (double[]){0.5}, (double[]){0.25}, 1));
    cr_assert_eq(mf_tf_normalize(&v, (double[]){0.5, 0.5}, (double[]){1, 1}, 2), MF_ERR_SHAPE);
    mf_aug_clear(&v);
    mf_tensor_release(img);
    /* blur preserves a constant image; hue shift by 0 keeps colours */
    mf_tensor *c = NULL;
    MF_OK_OR_FAIL(mf_tensor_full(3, (int64_t[]){1, 5, 5}, MF_F32, MF_DEVICE_CPU, 0.25, &c));
    MF_OK_OR_FAIL(mf_aug_init(&v, 2, c, NULL));
    MF_OK_OR_FAIL(mf_tf_gaussian_blur(&v, 2.0));
    for (int i = 0; i < 25; i++)
        cr_assert_float_eq(mf_tensor_get_flat(v.image, i), 0.25, 1e-5);
    cr_assert_float_eq(mf_tensor_get_flat(c, 0), 0.25, 0); /* the source is never modified */
    mf_aug_clear(&v);
    mf_tensor_release(c);
}

Test(transforms, crops_and_flips_in_3d_track_a_marked_voxel) {
    mf_tensor *vol = NULL, *mask = NULL;
    MF_OK_OR_FAIL(mf_tensor_zeros(4, (int64_t[]){1, 6, 7, 8}, MF_F32, MF_DEVICE_CPU, &vol));
    MF_OK_OR_FAIL(mf_tensor_zeros(3, (int64_t[]){6, 7, 8}, MF_U8, MF_DEVICE_CPU, &mask));
    int64_t mz = 3, my = 4, mx = 5, at = (mz * 7 + my) * 8 + mx;
    ((float *)mf_tensor_data(vol))[at] = 1;
    ((uint8_t *)mf_tensor_data(mask))[at] = 9;
    for (uint64_t s = 0; s < 10; s++) {
        mf_aug v;
        mf_rng r = mf_data_stream(2, 0, s, 0);
        MF_OK_OR_FAIL(mf_aug_init(&v, 3, vol, mask));
        MF_OK_OR_FAIL(mf_tf3_flip(&v, (int)(s % 3)));
        MF_OK_OR_FAIL(mf_tf3_random_crop(&v, &r, (int64_t[]){4, 4, 4}));
        const float *d = mf_tensor_data(v.image);
        for (int64_t i = 0; i < 64; i++)
            if (d[i] == 1) {
                double p[3] = {(double)(i % 4), (double)(i / 4 % 4), (double)(i / 16)}, src[3];
                mf_aug_to_source(&v, p, src);
                cr_assert_float_eq(src[0], mx, 1e-12);
                cr_assert_float_eq(src[1], my, 1e-12);
                cr_assert_float_eq(src[2], mz, 1e-12);
                cr_assert_eq(mf_tensor_get_flat(v.mask, i), 9);
            }
        mf_aug_clear(&v);
    }
    mf_aug v;
    MF_OK_OR_FAIL(mf_aug_init(&v, 3, vol, NULL));
    mf_rng r = mf_data_stream(0, 0, 0, 0);
    cr_assert_eq(mf_tf3_random_crop(&v, &r, (int64_t[]){7, 4, 4}), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "random_crop3d"));
    mf_aug_clear(&v);
    mf_tensor_release(vol);
    mf_tensor_release(mask);
}

Test(transforms, pipelines_build_from_config_and_name_bad_keys) {
    mf_cfg *c = NULL;
    MF_OK_OR_FAIL(mf_cfg_parse_string("t:\n"
                                      "  - {name: random_resized_crop, size: 32, scale: [0.4, 1.0]}\n"
                                      "  - {name: hflip}\n"
                                      "  - {name: color_jitter, brightness: 0.2}\n"
                                      "  - {name: normalize, mean: [0.5], std: [0.5]}\n",
                                      "aug.yaml", &c));
    mf_pipeline *p = NULL;
    MF_OK_OR_FAIL(mf_pipeline_from_cfg(mf_cfg_find(c, "t"), &p));
    mf_tensor *img = t_uniform(1, 3, (int64_t[]){1, 40, 50}, MF_U8, 0, 255);
    mf_aug a, b;
    mf_rng r1 = mf_data_stream(9, 0, 4, 0), r2 = mf_data_stream(9, 0, 4, 0);
    MF_OK_OR_FAIL(mf_pipeline_apply(p, &r1, 2, img, NULL, &a));
    MF_OK_OR_FAIL(mf_pipeline_apply(p, &r2, 2, img, NULL, &b));
    cr_assert_eq(a.image->shape[1], 32);
    t_assert_close(a.image, b.image, 0, 0, "same stream, same view");
    mf_aug_clear(&a);
    mf_aug_clear(&b);
    mf_pipeline_free(p);
    mf_tensor_release(img);
    mf_cfg_free(c);

    MF_OK_OR_FAIL(mf_cfg_parse_string("t:\n  - {name: hflip}\n  - {name: color_jitter, brightnes: 0.2}\n", "bad.yaml", &c));
    cr_assert_eq(mf_pipeline_from_cfg(mf_cfg_find(c, "t"), &p), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "bad.yaml:3"), "%s", mf_last_error());
    cr_assert(strstr(mf_last_error(), "brightness"), "%s", mf_last_error());
    mf_cfg_free(c);
    MF_OK_OR_FAIL(mf_cfg_parse_string("t:\n  - {name: hflipp}\n", "bad2.yaml", &c));
    cr_assert_eq(mf_pipeline_from_cfg(mf_cfg_find(c, "t"), &p), MF_ERR_CONFIG);
    cr_assert(strstr(mf_last_error(), "bad2.yaml:2") && strstr(mf_last_error(), "'hflip'"), "%s", mf_last_error());
    mf_cfg_free(c);
}

/* Applies the one-step pipeline `yaml` to img under 32 streams; returns how
 * many gave `channels` channels (-1 when one failed). */
static int count_channels(const char *yaml, mf_tensor *img, int64_t channels) {
    mf_cfg *c = NULL;
    MF_OK_OR_FAIL(mf_cfg_parse_string(yaml, "gray.yaml", &c));
    mf_pipeline *p = NULL;
    MF_OK_OR_FAIL(mf_pipeline_from_cfg(mf_cfg_find(c, "t"), &p));
    int hits = 0;
    for (int i = 0; i < 32 && hits >= 0; i++) {
        mf_rng r = mf_data_stream(3, (uint64_t)i, 0, 0);
        mf_aug a;
        if (mf_pipeline_apply(p, &r, 2, img, NULL, &a) != MF_OK) {
            hits = -1;
            break;
        }
        hits += a.image->shape[0] == channels;
        mf_aug_clear(&a);
    }
    mf_pipeline_free(p);
    mf_cfg_free(c);
    return hits;
}

Test(transforms, grayscale_channels_hold_on_every_sample_whatever_the_coin) {
    mf_tensor *gray = t_uniform(1, 3, (int64_t[]){1, 8, 8}, MF_U8, 0, 255);
    mf_tensor *rgb = t_uniform(2, 3, (int64_t[]){3, 8, 8}, MF_U8, 0, 255);
    /* grey scans -> 3 channels for an RGB encoder: all 32 samples, even at p 0.2 */
    cr_assert_eq(count_channels("t: [{name: grayscale, channels: 3, p: 0.2}]", gray, 3), 32);
    cr_assert_eq(count_channels("t: [{name: grayscale, channels: 3, p: 1.0}]", gray, 3), 32);
    /* the usual random grayscale of colour input keeps 3 channels either way */
    cr_assert_eq(count_channels("t: [{name: grayscale, p: 0.5}]", rgb, 3), 32);
    /* colour -> 1 channel at p < 1 would mix channel counts: an error naming the fix */
    cr_assert_eq(count_channels("t: [{name: grayscale, channels: 1, p: 0.5}]", rgb, 1), -1);
    cr_assert(strstr(mf_last_error(), "grayscale") && strstr(mf_last_error(), "p: 1"), "%s", mf_last_error());
    cr_assert_eq(count_channels("t: [{name: grayscale, channels: 1, p: 1.0}]", rgb, 1), 32);
    mf_tensor_release(gray);
    mf_tensor_release(rgb);
}
