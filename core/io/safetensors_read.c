/* safetensors reading. The file is memory-mapped copy-on-write, the JSON
 * header parsed with cJSON and every entry validated before any tensor is
 * handed out. Tensors are zero-copy views of the mapping when the data is
 * aligned for its dtype; each holds a reference on the mapping, so tensors
 * outlive mf_safetensors_close(), and writing to one never reaches the file. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/io/safetensors_format.h"
#include "medfm/io.h"

/* Larger headers are certainly corrupt (the reference reader caps at 100 MB). */
#define MAX_HEADER_BYTES (100u << 20)

typedef struct {
    void *addr;
    size_t size;
    _Atomic int refcount;
} st_map;

typedef struct {
    char *name;
    mf_dtype dtype;
    int ndim;
    int64_t shape[MF_MAX_DIMS];
    uint64_t begin, end; /* within the data section */
} st_entry;

struct mf_safetensors {
    char *path;
    st_map *map;
    const unsigned char *data; /* start of the data section */
    uint64_t data_size;
    int n;
    st_entry *entries; /* file order */
    int *by_name;      /* entry indices sorted by name, for lookups */
    int n_meta;
    char **meta; /* key, value pairs */
};

static void map_release(st_map *m) {
    if (m && atomic_fetch_sub(&m->refcount, 1) == 1) {
        munmap(m->addr, m->size);
        free(m);
    }
}

static void map_deleter(void *ctx, void *data, size_t nbytes) {
    (void)data;
    (void)nbytes;
    map_release(ctx);
}

static mf_status fail(mf_safetensors *f, mf_status st) {
    mf_safetensors_close(f);
    return st;
}

/* A JSON number that is a non-negative integer no larger than `max`. */
static bool json_uint(const cJSON *v, double max, uint64_t *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return false;
    *out = (uint64_t)v->valuedouble;
    return true;
}

static mf_status parse_entry(mf_safetensors *f, const cJSON *item, st_entry *e) {
    const char *path = f->path, *name = item->string;
    if (!cJSON_IsObject(item))
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' is not a JSON object", path, name);
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    const cJSON *v[3];
    for (int i = 0; i < 3; i++)
        if (!(v[i] = cJSON_GetObjectItemCaseSensitive(item, fields[i])))
            return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' is missing '%s'", path, name, fields[i]);
    const cJSON *dt = v[0], *sh = v[1], *of = v[2];
    if (!cJSON_IsString(dt))
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': 'dtype' is not a string", path, name);
    if (mf_st_dtype_from_name(dt->valuestring, &e->dtype) != MF_OK)
        return MF_ERR(MF_ERR_FORMAT,
                      "%s: entry '%s' has unknown dtype '%s' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U16 U8 BOOL)",
                      path, name, dt->valuestring);
    if (!cJSON_IsArray(sh))
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': 'shape' is not an array", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > MF_MAX_DIMS)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' has %d dims (at most %d)", path, name, nd, MF_MAX_DIMS);
    e->ndim = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_uint(cJSON_GetArrayItem(sh, i), 9.0e15, &d))
            return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': shape[%d] is not a non-negative integer", path, name, i);
        e->shape[i] = (int64_t)d;
        if (d && numel > UINT64_MAX / 16 / d)
            return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' has too many elements", path, name);
        numel *= d;
    }
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 ||
        !json_uint(cJSON_GetArrayItem(of, 0), 1.8e19, &e->begin) ||
        !json_uint(cJSON_GetArrayItem(of, 1), 1.8e19, &e->end))
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': 'data_offsets' must be [begin, end] of non-negative integers",
                      path, name);
    if (e->begin > e->end)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': data_offsets begin %llu > end %llu", path, name,
                      (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > f->data_size)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': data ends at byte %llu, past the end of the data (%llu bytes)",
                      path, name, (unsigned long long)e->end, (unsigned long long)f->data_size);
    uint64_t want = numel * mf_dtype_size(e->dtype);
    if (e->end - e->begin != want)
        return MF_ERR(MF_ERR_FORMAT, "%s: entry '%s': %llu bytes stored but dtype %s and shape %s need %llu", path,
                      name, (unsigned long long)(e->end - e->begin), mf_st_dtype_name(e->dtype),
                      mf_shape_str(e->ndim, e->shape), (unsigned long long)want);
    if (!(e->name = strdup(name)))
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    return MF_OK;
}

static mf_status parse_meta(mf_safetensors *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return MF_ERR(MF_ERR_FORMAT, "%s: __metadata__ must be an object of strings", f->path);
    int n = cJSON_GetArraySize(meta);
    f->meta = calloc((size_t)(2 * n + 1), sizeof *f->meta);
    if (!f->meta)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", f->path);
    const cJSON *it;
    cJSON_ArrayForEach(it, meta) {
        if (!cJSON_IsString(it))
            return MF_ERR(MF_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", f->path, it->string);
        f->meta[2 * f->n_meta] = strdup(it->string);
        f->meta[2 * f->n_meta + 1] = strdup(it->valuestring);
        f->n_meta++;
        if (!f->meta[2 * f->n_meta - 2] || !f->meta[2 * f->n_meta - 1])
            return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", f->path);
    }
    return MF_OK;
}

/* qsort has no context argument: sort (name, index) pairs instead. */
typedef struct {
    const char *name;
    int index;
} name_ref;

static int name_ref_cmp(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

typedef struct {
    uint64_t begin, end;
    int index;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Builds the name index and rejects duplicate names and overlapping data. */
static mf_status index_entries(mf_safetensors *f) {
    size_t n = (size_t)f->n;
    name_ref *refs = malloc(sizeof *refs * (n ? n : 1));
    span *spans = malloc(sizeof *spans * (n ? n : 1));
    f->by_name = malloc(sizeof *f->by_name * (n ? n : 1));
    mf_status st = MF_OK;
    if (!refs || !spans || !f->by_name) {
        st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory", f->path);
        goto cleanup;
    }
    for (int i = 0; i < f->n; i++) {
        refs[i] = (name_ref){f->entries[i].name, i};
        spans[i] = (span){f->entries[i].begin, f->entries[i].end, i};
    }
    qsort(refs, n, sizeof *refs, name_ref_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(refs[i].name, refs[i - 1].name) == 0) {
            st = MF_ERR(MF_ERR_FORMAT, "%s: entry '%s' appears twice", f->path, refs[i].name);
            goto cleanup;
        }
        f->by_name[i] = refs[i].index;
    }
    qsort(spans, n, sizeof *spans, span_cmp);
    uint64_t reach = 0; /* furthest end so far, among non-empty entries */
    int reach_i = -1;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].begin == spans[i].end)
            continue; /* empty tensors occupy no bytes */
        if (reach_i >= 0 && spans[i].begin < reach) {
            st = MF_ERR(MF_ERR_FORMAT, "%s: entries '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap", f->path,
                        f->entries[reach_i].name, (unsigned long long)f->entries[reach_i].begin,
                        (unsigned long long)f->entries[reach_i].end, f->entries[spans[i].index].name,
                        (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end);
            goto cleanup;
        }
        reach = spans[i].end;
        reach_i = spans[i].index;
    }
cleanup:
    free(refs);
    free(spans);
    return st;
}

static mf_status parse_header(mf_safetensors *f, const char *json, size_t len) {
    const char *path = f->path;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return MF_ERR(MF_ERR_FORMAT, "%s: header is not valid JSON (near byte %lld of the header)", path,
                      cJSON_GetErrorPtr() ? (long long)(cJSON_GetErrorPtr() - json) : -1LL);
    mf_status st = MF_OK;
    if (!cJSON_IsObject(root)) {
        st = MF_ERR(MF_ERR_FORMAT, "%s: header is JSON but not an object", path);
        goto cleanup;
    }
    int total = cJSON_GetArraySize(root);
    f->entries = calloc((size_t)(total > 0 ? total : 1), sizeof *f->entries);
    if (!f->entries) {
        st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (f->meta) {
                st = MF_ERR(MF_ERR_FORMAT, "%s: __metadata__ appears twice", path);
                goto cleanup;
            }
            MF_CHECK(parse_meta(f, it));
            continue;
        }
        MF_CHECK(parse_entry(f, it, &f->entries[f->n]));
        f->n++;
    }
    st = index_entries(f);
cleanup:
    cJSON_Delete(root);
    return st;
}

mf_status mf_safetensors_open(const char *path, mf_safetensors **out) {
    mf_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(f, MF_ERR(errno == ENOENT ? MF_ERR_NOT_FOUND : MF_ERR_IO, "%s: cannot open: %s", path,
                              strerror(errno)));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(f, MF_ERR(MF_ERR_IO, "%s: not a regular file", path));
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return fail(f, MF_ERR(MF_ERR_FORMAT,
                              "%s: %zu bytes is too short for a safetensors file (needs an 8-byte header length)",
                              path, size));
    }
    /* Private and writable: tensors handed out may be written in place
     * (copy-on-write); the file itself is never modified. */
    void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (addr == MAP_FAILED)
        return fail(f, MF_ERR(MF_ERR_IO, "%s: cannot map %zu bytes: %s", path, size, strerror(errno)));
    if (!(f->map = malloc(sizeof *f->map))) {
        munmap(addr, size);
        return fail(f, MF_ERR(MF_ERR_NOMEM, "%s: out of memory", path));
    }
    f->map->addr = addr;
    f->map->size = size;
    atomic_init(&f->map->refcount, 1);
    const unsigned char *p = addr;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > MAX_HEADER_BYTES)
        return fail(f, MF_ERR(MF_ERR_FORMAT, "%s: header length %llu is absurdly large (limit %u bytes)", path,
                              (unsigned long long)hlen, MAX_HEADER_BYTES));
    if (hlen > size - 8)
        return fail(f, MF_ERR(MF_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                              (unsigned long long)hlen, size));
    f->data = p + 8 + hlen;
    f->data_size = size - 8 - hlen;
    mf_status st = parse_header(f, (const char *)p + 8, (size_t)hlen);
    if (st != MF_OK)
        return fail(f, st);
    *out = f;
    return MF_OK;
}

void mf_safetensors_close(mf_safetensors *f) {
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        free(f->entries[i].name);
    free(f->entries);
    free(f->by_name);
    for (int i = 0; i < 2 * f->n_meta; i++)
        free(f->meta[i]);
    free(f->meta);
    map_release(f->map);
    free(f->path);
    free(f);
}

int mf_safetensors_count(const mf_safetensors *f) { return f->n; }

const char *mf_safetensors_path(const mf_safetensors *f) { return f->path; }

const char *mf_safetensors_name(const mf_safetensors *f, int i) {
    return i >= 0 && i < f->n ? f->entries[i].name : NULL;
}

int mf_safetensors_find(const mf_safetensors *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->entries[f->by_name[mid]].name, name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int mf_safetensors_metadata_count(const mf_safetensors *f) { return f->n_meta; }

const char *mf_safetensors_metadata_key(const mf_safetensors *f, int i) {
    return i >= 0 && i < f->n_meta ? f->meta[2 * i] : NULL;
}

const char *mf_safetensors_metadata(const mf_safetensors *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

mf_status mf_safetensors_info(const mf_safetensors *f, const char *name, mf_dtype *dtype, int *ndim,
                              int64_t *shape) {
    int i = mf_safetensors_find(f, name);
    if (i < 0)
        return MF_ERR(MF_ERR_NOT_FOUND, "%s: no tensor named '%s'", f->path, name);
    const st_entry *e = &f->entries[i];
    if (dtype)
        *dtype = e->dtype;
    if (ndim)
        *ndim = e->ndim;
    if (shape)
        memcpy(shape, e->shape, sizeof(int64_t) * (size_t)e->ndim);
    return MF_OK;
}

mf_status mf_safetensors_get(const mf_safetensors *f, const char *name, mf_tensor **out) {
    int i = mf_safetensors_find(f, name);
    if (i < 0)
        return MF_ERR(MF_ERR_NOT_FOUND, "%s: no tensor named '%s'", f->path, name);
    const st_entry *e = &f->entries[i];
    /* Files are little-endian, like every host medfm runs on. */
    const unsigned char *src = f->data + e->begin;
    size_t es = mf_dtype_size(e->dtype);
    if (e->end == e->begin || (uintptr_t)src % es != 0)
        return mf_tensor_from_data(e->ndim, e->shape, e->dtype, src, out);
    atomic_fetch_add(&f->map->refcount, 1);
    mf_status st = mf_tensor_wrap(e->ndim, e->shape, e->dtype, MF_DEVICE_CPU, (void *)src, map_deleter, f->map, out);
    if (st != MF_OK)
        map_release(f->map);
    return st;
}
