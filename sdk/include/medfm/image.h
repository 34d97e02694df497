/* 2-D images: PNG (libpng) and JPEG (libjpeg) decoding into (C, H, W)
 * tensors, and PNG writing for predictions and previews. */
#ifndef MEDFM_IMAGE_H
#define MEDFM_IMAGE_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Decodes a PNG or JPEG file (chosen by its first bytes, not its name) into
 * a CPU tensor (C, H, W): u8 for 8-bit images, u16 for 16-bit PNGs; C is 1
 * (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); palettes expand to RGB(A),
 * sub-byte grays to 8 bits. */
mf_status mf_image_read(const char *path, mf_tensor **out);
/* Writes a (C, H, W) or (H, W) u8/u16 CPU tensor as PNG, atomically. */
mf_status mf_image_write_png(const char *path, const mf_tensor *img);

#ifdef __cplusplus
}
#endif
#endif
