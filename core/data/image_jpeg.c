/* JPEG decoding with libjpeg(-turbo). Its default error handler calls
 * exit(); ours longjmps back so a corrupt file is an error, not the end of
 * the process. Truncated data is reported rather than padded with gray. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>

#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>

#include "medfm/image.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int warnings;
} jpeg_err;

static void on_error(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0) { /* warnings: premature end of data, corrupt segments */
        e->warnings++;
        if (!e->msg[0])
            (*cinfo->err->format_message)(cinfo, e->msg);
    }
}

mf_status mf__jpeg_read(FILE *f, const char *path, mf_tensor **out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
    mf_tensor *volatile t = NULL;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        mf_tensor_release(t);
        return MF_ERR(MF_ERR_FORMAT, "%s: corrupt JPEG (%s)", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width > 65536 || cinfo.image_height > 65536) {
        jpeg_destroy_decompress(&cinfo);
        return MF_ERR(MF_ERR_FORMAT, "%s: JPEG of %ux%u pixels is too large", path, cinfo.image_width,
                      cinfo.image_height);
    }
    if (cinfo.jpeg_color_space != JCS_GRAYSCALE)
        cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int64_t h = cinfo.output_height, w = cinfo.output_width, c = cinfo.output_components;
    mf_tensor *hwc;
    if (mf_tensor_empty(3, (int64_t[]){h, w, c}, MF_U8, MF_DEVICE_CPU, &hwc) != MF_OK) {
        jpeg_destroy_decompress(&cinfo);
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory for %lldx%lld pixels", path, (long long)h, (long long)w);
    }
    t = hwc;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = (JSAMPROW)mf_tensor_data(hwc) + (size_t)cinfo.output_scanline * (size_t)(w * c);
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    t = NULL;
    if (err.warnings) {
        mf_tensor_release(hwc);
        return MF_ERR(MF_ERR_FORMAT, "%s: truncated or corrupt JPEG data (%s)", path, err.msg);
    }
    mf_tensor *chw;
    mf_status st = mf_tensor_empty(3, (int64_t[]){c, h, w}, MF_U8, MF_DEVICE_CPU, &chw);
    if (st == MF_OK) {
        const uint8_t *s = mf_tensor_data(hwc);
        uint8_t *d = mf_tensor_data(chw);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                for (int64_t k = 0; k < c; k++)
                    d[(k * h + y) * w + x] = s[(y * w + x) * c + k];
    }
    mf_tensor_release(hwc);
    if (st != MF_OK)
        return st;
    *out = chw;
    return MF_OK;
}
