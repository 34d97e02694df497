/* Image reading by content: the first bytes decide PNG or JPEG. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "medfm/image.h"

mf_status mf__png_read(FILE *f, const char *path, mf_tensor **out);
mf_status mf__jpeg_read(FILE *f, const char *path, mf_tensor **out);

mf_status mf_image_read(const char *path, mf_tensor **out) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return MF_ERR(errno == ENOENT ? MF_ERR_NOT_FOUND : MF_ERR_IO, "%s: cannot open image: %s", path,
                      strerror(errno));
    unsigned char magic[8] = {0};
    size_t n = fread(magic, 1, 8, f);
    rewind(f);
    mf_status st;
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n == 8 && !memcmp(magic, png_magic, 8))
        st = mf__png_read(f, path, out);
    else if (n >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff)
        st = mf__jpeg_read(f, path, out);
    else
        st = MF_ERR(MF_ERR_FORMAT, "%s: not a PNG or JPEG file (%zu bytes read, unknown signature)", path, n);
    fclose(f);
    return st;
}
