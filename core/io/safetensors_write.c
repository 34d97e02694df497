/* safetensors writing. The file is built in a temporary file beside the
 * target, fsync'd and renamed over it, and the directory fsync'd, so a
 * crash leaves either the old file or the complete new one. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/io/safetensors_format.h"
#include "medfm/io.h"

static mf_status write_all(int fd, const void *buf, size_t n, const char *path) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return MF_ERR(MF_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return MF_OK;
}

static mf_status build_header(int n, const char *const *names, mf_tensor *const *tensors, int n_meta,
                              const char *const *meta_kv, const char *path, char **out) {
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && i < n_meta; i++)
            cJSON_AddStringToObject(m, meta_kv[2 * i], meta_kv[2 * i + 1]);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                cJSON_Delete(root);
                return MF_ERR(MF_ERR_INVALID, "%s: tensor name '%s' given twice", path, names[i]);
            }
        cJSON *e = cJSON_AddObjectToObject(root, names[i]);
        if (!e)
            break;
        cJSON_AddStringToObject(e, "dtype", mf_st_dtype_name(tensors[i]->dtype));
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; sh && d < tensors[i]->ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)tensors[i]->shape[d]));
        uint64_t nb = mf_tensor_nbytes(tensors[i]);
        cJSON *of = cJSON_AddArrayToObject(e, "data_offsets");
        if (of) {
            cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb)));
        }
        off += nb;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory building the header", path);
    *out = s;
    return MF_OK;
}

mf_status mf_safetensors_save(const char *path, int n, const char *const *names, mf_tensor *const *tensors,
                              int n_meta, const char *const *meta_kv) {
    char *header = NULL;
    MF_TRY(build_header(n, names, tensors, n_meta, meta_kv, path, &header));
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) & ~(size_t)7;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(header);
        return MF_ERR(MF_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    mf_status st = write_all(fd, len8, 8, tmp);
    if (st == MF_OK)
        st = write_all(fd, header, hlen, tmp);
    for (size_t i = hlen; st == MF_OK && i < padded; i++)
        st = write_all(fd, " ", 1, tmp);
    free(header);
    for (int i = 0; st == MF_OK && i < n; i++) {
        size_t nb = mf_tensor_nbytes(tensors[i]);
        void *buf = malloc(nb ? nb : 1);
        if (!buf) {
            st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory staging '%s'", path, names[i]);
            break;
        }
        st = mf_tensor_to_host(tensors[i], tensors[i]->dtype, buf, nb);
        if (st == MF_OK)
            st = write_all(fd, buf, nb, tmp);
        free(buf);
    }
    if (st == MF_OK && fsync(fd) != 0)
        st = MF_ERR(MF_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && st == MF_OK)
        st = MF_ERR(MF_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (st == MF_OK && rename(tmp, path) != 0)
        st = MF_ERR(MF_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st != MF_OK) {
        unlink(tmp);
        return st;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return MF_OK;
}
