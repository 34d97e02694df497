/* PNG decoding and encoding with libpng. libpng reports errors by
 * longjmp; every path out of a failed decode frees what it allocated and
 * names the file. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medfm/image.h"

typedef struct {
    const char *path;
    char msg[256];
} png_err_ctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_err_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

mf_status mf__png_read(FILE *f, const char *path, mf_tensor **out) {
    png_err_ctx ctx = {.path = path};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return MF_ERR(MF_ERR_NOMEM, "%s: cannot create a PNG decoder", path);
    }
    /* volatile: modified between setjmp and a possible longjmp. */
    mf_tensor *volatile t = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        mf_tensor_release(t);
        png_destroy_read_struct(&png, &info, NULL);
        return MF_ERR(MF_ERR_FORMAT, "%s: corrupt or truncated PNG (%s)", path, ctx.msg);
    }
    png_init_io(png, f);
    /* Refuse absurd sizes before allocating (a crafted header can claim 2^31). */
    png_set_user_limits(png, 65536, 65536);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, color;
    png_get_IHDR(png, info, &w, &h, &depth, &color, NULL, NULL, NULL);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_swap(png); /* PNG is big-endian; the host is not */
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    int bits = png_get_bit_depth(png, info);
    mf_dtype dt = bits == 16 ? MF_U16 : MF_U8;
    size_t es = bits == 16 ? 2 : 1;
    /* Decode interleaved (H, W, C), then transpose to (C, H, W). */
    mf_tensor *hwc;
    int64_t shape_hwc[3] = {h, w, channels};
    if (mf_tensor_empty(3, shape_hwc, dt, MF_DEVICE_CPU, &hwc) != MF_OK)
        png_error(png, "out of memory for pixels");
    t = hwc;
    rows = malloc(sizeof(png_bytep) * h);
    if (!rows)
        png_error(png, "out of memory for row pointers");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = (png_bytep)mf_tensor_data(hwc) + (size_t)y * w * (size_t)channels * es;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    rows = NULL;
    png_destroy_read_struct(&png, &info, NULL);
    mf_tensor *chw;
    int64_t shape[3] = {channels, h, w};
    mf_status st = mf_tensor_empty(3, shape, dt, MF_DEVICE_CPU, &chw);
    if (st == MF_OK) {
        mf_tensor view = *chw; /* strided (H, W, C) view over chw's storage */
        view.ndim = 3;
        view.shape[0] = h;
        view.shape[1] = w;
        view.shape[2] = channels;
        view.stride[0] = w;
        view.stride[1] = 1;
        view.stride[2] = (int64_t)h * w;
        view.grad = NULL;
        view.grad_fn = NULL;
        st = mf_tensor_copy_(&view, hwc);
    }
    mf_tensor_release(hwc);
    if (st != MF_OK) {
        mf_tensor_release(chw);
        return st;
    }
    *out = chw;
    return MF_OK;
}

mf_status mf_image_write_png(const char *path, const mf_tensor *img) {
    int64_t c, h, w;
    if (img->ndim == 2) {
        c = 1;
        h = img->shape[0];
        w = img->shape[1];
    } else if (img->ndim == 3) {
        c = img->shape[0];
        h = img->shape[1];
        w = img->shape[2];
    } else {
        return MF_ERR(MF_ERR_SHAPE, "%s: PNG images are (C, H, W) or (H, W), got %s", path, MF_SHAPE(img));
    }
    if (c < 1 || c > 4 || h < 1 || w < 1 || h > 65536 || w > 65536)
        return MF_ERR(MF_ERR_SHAPE, "%s: cannot write a PNG of shape %s (1-4 channels, 1..65536 pixels a side)", path,
                      MF_SHAPE(img));
    if (img->dtype != MF_U8 && img->dtype != MF_U16)
        return MF_ERR(MF_ERR_DTYPE, "%s: PNG pixels must be u8 or u16, got %s", path, mf_dtype_name(img->dtype));
    size_t es = img->dtype == MF_U16 ? 2 : 1;
    /* Interleave to (H, W, C) on the host. */
    unsigned char *buf = malloc((size_t)(h * w * c) * es);
    if (!buf)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    mf_tensor *hwc;
    mf_status st = mf_tensor_wrap(3, (int64_t[]){h, w, c}, img->dtype, MF_DEVICE_CPU, buf, NULL, NULL, &hwc);
    if (st == MF_OK) {
        mf_tensor src = *img;
        src.ndim = 3;
        if (img->ndim == 2) {
            src.shape[0] = h;
            src.shape[1] = w;
            src.shape[2] = 1;
            src.stride[0] = img->stride[0];
            src.stride[1] = img->stride[1];
            src.stride[2] = 0;
        } else {
            src.shape[0] = h;
            src.shape[1] = w;
            src.shape[2] = c;
            src.stride[0] = img->stride[1];
            src.stride[1] = img->stride[2];
            src.stride[2] = img->stride[0];
        }
        st = mf_tensor_copy_(hwc, &src);
        mf_tensor_release(hwc);
    }
    if (st != MF_OK) {
        free(buf);
        return st;
    }
    if (es == 2) /* to big-endian */
        for (int64_t i = 0; i < h * w * c; i++) {
            unsigned char *p = buf + 2 * i, tmp = p[0];
            p[0] = p[1];
            p[1] = tmp;
        }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(buf);
        return MF_ERR(MF_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    png_err_ctx ctx = {.path = path};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_write_struct(&png, &info);
        fclose(f);
        unlink(tmp);
        free(buf);
        return MF_ERR(MF_ERR_IO, "%s: PNG encoding failed (%s)", path, ctx.msg);
    }
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                 PNG_COLOR_TYPE_RGBA};
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, (int)es * 8, types[c], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!rows)
        png_error(png, "out of memory");
    for (int64_t y = 0; y < h; y++)
        rows[y] = buf + (size_t)(y * w * c) * es;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    free(buf);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return MF_ERR(MF_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return MF_OK;
}
