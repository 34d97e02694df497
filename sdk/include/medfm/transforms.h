/* Augmentations that remember their geometry. A view carries its image,
 * its optional label map and the affine map from its own pixel coordinates
 * to the source image's pixel coordinates; every geometric transform
 * composes into that map, so two views of one image relate point by point
 * (LVM-Med's local cost needs the nearest feature position of one view for
 * each position of the other: mf_view_nearest).
 *
 * Pixel coordinates: x = column, y = row (z = depth in 3-D), pixel centres
 * at integers. 2-D maps are [2][3]: src = M (x, y, 1); 3-D maps are [3][4]:
 * src = M (x, y, z, 1). */
#ifndef MEDFM_TRANSFORMS_H
#define MEDFM_TRANSFORMS_H

#include "medfm/config.h"
#include "medfm/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_aug {
    int dims;          /* 2 or 3 */
    mf_tensor *image;  /* (C, H, W) / (C, D, H, W); f32 once any transform ran */
    mf_tensor *mask;   /* (H, W) / (D, H, W) or NULL; dtype kept */
    double map[3][4];  /* 2-D: rows 0-1, columns 0, 1 and 3 (translation) */
} mf_aug;

/* Takes new references to image and mask; the map starts as identity. */
mf_status mf_aug_init(mf_aug *v, int dims, mf_tensor *image, mf_tensor *mask);
void mf_aug_clear(mf_aug *v);
/* Source coordinates of a view pixel (2-D: z ignored). */
void mf_aug_to_source(const mf_aug *v, const double p[3], double src[3]);
/* The 2-D map as [2][3]. */
void mf_aug_map2(const mf_aug *v, double m[2][3]);

/* ---- 2-D geometric ---- */
/* Output pixel (x, y) samples source (x0 + (x+.5) w/out_w - .5, ...):
 * a crop of the box (top, left, h, w) resized bilinearly. */
mf_status mf_tf_resized_crop(mf_aug *v, double top, double left, double h, double w, int64_t out_h, int64_t out_w);
/* torchvision's RandomResizedCrop sampling: ten tries of area fraction in
 * scale and log-uniform aspect ratio, else a centre crop clamped to ratio. */
mf_status mf_tf_random_resized_crop(mf_aug *v, mf_rng *rng, int64_t out_h, int64_t out_w, const double scale[2],
                                    const double ratio[2]);
mf_status mf_tf_resize(mf_aug *v, int64_t out_h, int64_t out_w);
mf_status mf_tf_hflip(mf_aug *v);
mf_status mf_tf_vflip(mf_aug *v);
/* Rotates by k * 90 degrees counter-clockwise (torch.rot90 on (H, W)). */
mf_status mf_tf_rot90(mf_aug *v, int k);

/* ---- 2-D intensity (image in [0, 1] after integer inputs are scaled) ---- */
/* Factors drawn like torchvision's ColorJitter, applied in a random order. */
mf_status mf_tf_color_jitter(mf_aug *v, mf_rng *rng, double brightness, double contrast, double saturation,
                             double hue);
mf_status mf_tf_grayscale(mf_aug *v, int out_channels);
mf_status mf_tf_gaussian_blur(mf_aug *v, double sigma);
mf_status mf_tf_solarize(mf_aug *v, double threshold);
mf_status mf_tf_normalize(mf_aug *v, const double *mean, const double *std, int n);
/* f32 copy of the image, integers scaled to [0, 1] (u8 /255, u16 /65535). */
mf_status mf_aug_to_float(mf_aug *v);

/* ---- 3-D ---- */
mf_status mf_tf3_crop(mf_aug *v, const int64_t start[3], const int64_t size[3]);
mf_status mf_tf3_random_crop(mf_aug *v, mf_rng *rng, const int64_t size[3]);
mf_status mf_tf3_flip(mf_aug *v, int axis); /* 0 = x (W), 1 = y (H), 2 = z (D) */
mf_status mf_tf3_scale_shift(mf_aug *v, double scale, double shift);
mf_status mf_tf3_noise(mf_aug *v, mf_rng *rng, double std);

/* ---- relating two views ----
 * For each feature-map position (r, c) of view s (a grid of
 * (hs/stride) x (ws/stride) cells whose centres sit at
 * ((c + .5) stride - .5, (r + .5) stride - .5) view pixels), the index
 * r' * (wt/stride) + c' of the cell of view t whose centre is nearest in
 * source-image coordinates, or -1 when the point lies outside view t. */
mf_status mf_view_nearest(const double map_s[2][3], int64_t hs, int64_t ws, const double map_t[2][3], int64_t ht,
                          int64_t wt, int64_t stride, int64_t *out);
/* Batched: coords (B, 2, 3) f64 tensors as the loader emits them; out
 * (B, (hs/stride) * (ws/stride)) i64. */
mf_status mf_view_nearest_batch(const mf_tensor *coords_s, int64_t hs, int64_t ws, const mf_tensor *coords_t,
                                int64_t ht, int64_t wt, int64_t stride, mf_tensor **out);

/* ---- pipelines from config ----
 * A list of {name: ..., p: prob, ...} maps; names: random_resized_crop,
 * resize, center_crop, hflip, vflip, rot90, color_jitter, grayscale,
 * gaussian_blur, solarize, normalize, to_float (2-D); random_crop3d,
 * flip3d, scale_shift3d, noise3d (3-D). */
typedef struct mf_pipeline mf_pipeline;
mf_status mf_pipeline_from_cfg(mf_cfg *list, mf_pipeline **out);
/* Applies every step to a fresh view of (image, mask). */
mf_status mf_pipeline_apply(const mf_pipeline *p, mf_rng *rng, int dims, mf_tensor *image, mf_tensor *mask,
                            mf_aug *out);
void mf_pipeline_free(mf_pipeline *p);
const mf_schema *mf_transform_schema(const char *name);

#ifdef __cplusplus
}
#endif
#endif
