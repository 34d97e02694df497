/* CPU memory, copies and fills: 64-byte aligned allocations, strided copies
 * with dtype conversion, fills of any view. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/backend/cpu/memory.h"
#include "core/backend/cpu/strided.h"
#include "core/tensor/dtype.h"
#include "medfm/parallel.h"

/* A cache of large freed blocks, bucketed by size (<= 12.5% slack). Fresh
 * multi-megabyte blocks from the system cost one page fault per 4 KiB on
 * first touch, which made every training step pay for its activations and
 * gradients again (10x on small convs on a virtualised host). */
#define CACHE_MIN ((size_t)64 << 10)
#define CACHE_SLOTS 1024
#define CACHE_CAP ((size_t)4 << 30) /* bytes kept at most: a ResNet-50 step at 224 px, batch 8, peaks near 1.6 GB */

static struct {
    pthread_mutex_t lock;
    size_t bytes, n;
    size_t size[CACHE_SLOTS];
    void *ptr[CACHE_SLOTS];
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t bucket(size_t n) {
    if (n < CACHE_MIN)
        return (n + 63) & ~(size_t)63;
    size_t p = CACHE_MIN;
    while (p < n / 8)
        p <<= 1;
    size_t step = p / 8 > 4096 ? p / 8 : 4096;
    return (n + step - 1) / step * step;
}

/* Bytes of live storages (bucket sizes) and their high-water mark. */
static uint64_t live_bytes, peak_bytes;

static void count_alloc(uint64_t n) {
    uint64_t now = __atomic_add_fetch(&live_bytes, n, __ATOMIC_RELAXED);
    uint64_t peak = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&peak_bytes, &peak, now, true, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED)) {
    }
}

void mf_cpu_memory_stats(mf_memory_stats *out) {
    out->current_bytes = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
    out->peak_bytes = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    pthread_mutex_lock(&cache.lock);
    out->cached_bytes = cache.bytes;
    pthread_mutex_unlock(&cache.lock);
}

void mf_cpu_memory_reset_peak(void) {
    __atomic_store_n(&peak_bytes, __atomic_load_n(&live_bytes, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

void mf_cpu_memory_empty_cache(void) {
    pthread_mutex_lock(&cache.lock);
    for (size_t i = 0; i < cache.n; i++)
        free(cache.ptr[i]);
    cache.n = 0;
    cache.bytes = 0;
    pthread_mutex_unlock(&cache.lock);
}

mf_status mf_cpu_alloc(mf_device dev, size_t nbytes, void **ptr) {
    (void)dev;
    size_t n = bucket(nbytes ? nbytes : 1);
    void *p = NULL;
    if (n >= CACHE_MIN) {
        pthread_mutex_lock(&cache.lock);
        for (size_t i = cache.n; i-- > 0;)
            if (cache.size[i] == n) {
                p = cache.ptr[i];
                cache.bytes -= n;
                cache.n--;
                cache.size[i] = cache.size[cache.n];
                cache.ptr[i] = cache.ptr[cache.n];
                break;
            }
        pthread_mutex_unlock(&cache.lock);
    }
    if (!p)
        p = aligned_alloc(64, n);
    if (!p)
        return MF_ERR(MF_ERR_NOMEM, "out of host memory allocating %zu bytes", nbytes);
    count_alloc(n);
    *ptr = p;
    return MF_OK;
}

void mf_cpu_free(mf_device dev, void *ptr, size_t nbytes) {
    (void)dev;
    size_t n = bucket(nbytes ? nbytes : 1);
    if (ptr)
        __atomic_sub_fetch(&live_bytes, (uint64_t)n, __ATOMIC_RELAXED);
    if (ptr && n >= CACHE_MIN) {
        pthread_mutex_lock(&cache.lock);
        if (cache.n == CACHE_SLOTS || cache.bytes + n > CACHE_CAP) { /* evict the oldest */
            while (cache.n > 0 && (cache.n == CACHE_SLOTS || cache.bytes + n > CACHE_CAP)) {
                free(cache.ptr[0]);
                cache.bytes -= cache.size[0];
                cache.n--;
                memmove(cache.ptr, cache.ptr + 1, cache.n * sizeof cache.ptr[0]);
                memmove(cache.size, cache.size + 1, cache.n * sizeof cache.size[0]);
            }
        }
        if (cache.bytes + n <= CACHE_CAP) {
            cache.ptr[cache.n] = ptr;
            cache.size[cache.n++] = n;
            cache.bytes += n;
            ptr = NULL;
        }
        pthread_mutex_unlock(&cache.lock);
    }
    free(ptr);
}

typedef struct {
    mf_layout L;
    char *d;
    const char *s;
    mf_dtype dd, sd;
} copy_job;

static void copy_range(void *ctx, int64_t r0, int64_t r1) {
    copy_job *j = ctx;
    int last = j->L.ndim - 1;
    int64_t n = j->L.inner, sdst = j->L.stride[0][last], ssrc = j->L.stride[1][last];
    size_t ed = mf_dtype_size(j->dd), es = mf_dtype_size(j->sd);
    for (int64_t r = r0; r < r1; r++) {
        int64_t off[2];
        mf_layout_row(&j->L, r, off);
        char *d = j->d + off[0] * (int64_t)ed;
        const char *s = j->s + off[1] * (int64_t)es;
        if (j->dd == j->sd) {
            if (sdst == 1 && ssrc == 1) {
                memcpy(d, s, (size_t)n * ed);
            } else if (ed == 4) {
                for (int64_t i = 0; i < n; i++)
                    ((uint32_t *)d)[i * sdst] = ((const uint32_t *)s)[i * ssrc];
            } else if (ed == 8) {
                for (int64_t i = 0; i < n; i++)
                    ((uint64_t *)d)[i * sdst] = ((const uint64_t *)s)[i * ssrc];
            } else {
                for (int64_t i = 0; i < n; i++)
                    memcpy(d + i * sdst * (int64_t)ed, s + i * ssrc * (int64_t)es, ed);
            }
        } else if (j->dd == MF_F32 && j->sd == MF_F64) {
            for (int64_t i = 0; i < n; i++)
                ((float *)d)[i * sdst] = (float)((const double *)s)[i * ssrc];
        } else if (j->dd == MF_F64 && j->sd == MF_F32) {
            for (int64_t i = 0; i < n; i++)
                ((double *)d)[i * sdst] = ((const float *)s)[i * ssrc];
        } else if (j->dd == MF_F32 && j->sd == MF_BF16) { /* mixed precision casts: direct */
            for (int64_t i = 0; i < n; i++)
                ((float *)d)[i * sdst] = mf_bf16_to_f32(((const uint16_t *)s)[i * ssrc]);
        } else if (j->dd == MF_BF16 && j->sd == MF_F32) {
            for (int64_t i = 0; i < n; i++)
                ((uint16_t *)d)[i * sdst] = mf_f32_to_bf16(((const float *)s)[i * ssrc]);
        } else if (j->dd == MF_F32 && j->sd == MF_F16) {
            for (int64_t i = 0; i < n; i++)
                ((float *)d)[i * sdst] = mf_f16_to_f32(((const uint16_t *)s)[i * ssrc]);
        } else if (j->dd == MF_F16 && j->sd == MF_F32) {
            for (int64_t i = 0; i < n; i++)
                ((uint16_t *)d)[i * sdst] = mf_f32_to_f16(((const float *)s)[i * ssrc]);
        } else {
            for (int64_t i = 0; i < n; i++)
                mf_store_from_f64(d + i * sdst * (int64_t)ed, j->dd,
                                  mf_load_as_f64(s + i * ssrc * (int64_t)es, j->sd));
        }
    }
}

mf_status mf_cpu_copy(mf_tensor *dst, const mf_tensor *src) {
    if (dst->storage->device.type != MF_CPU || src->storage->device.type != MF_CPU)
        return MF_ERR(MF_ERR_DEVICE, "copy: the CPU backend cannot copy %s -> %s",
                      mf_device_name(src->storage->device), mf_device_name(dst->storage->device));
    copy_job j = {.d = mf_tensor_data(dst), .s = mf_tensor_data(src), .dd = dst->dtype, .sd = src->dtype};
    const int64_t *s[2] = {dst->stride, src->stride};
    mf_layout_build(&j.L, dst->ndim, dst->shape, 2, s);
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), copy_range, &j);
    return MF_OK;
}

typedef struct {
    mf_layout L;
    char *d;
    mf_dtype dt;
    double v;
} fill_job;

static void fill_range(void *ctx, int64_t r0, int64_t r1) {
    fill_job *j = ctx;
    int last = j->L.ndim - 1;
    size_t es = mf_dtype_size(j->dt);
    char one[8];
    mf_store_from_f64(one, j->dt, j->v);
    for (int64_t r = r0; r < r1; r++) {
        int64_t off[1];
        mf_layout_row(&j->L, r, off);
        char *d = j->d + off[0] * (int64_t)es;
        int64_t s = j->L.stride[0][last];
        if (j->dt == MF_F32 && s == 1) {
            float f = (float)j->v;
            for (int64_t i = 0; i < j->L.inner; i++)
                ((float *)d)[i] = f;
        } else {
            for (int64_t i = 0; i < j->L.inner; i++)
                memcpy(d + i * s * (int64_t)es, one, es);
        }
    }
}

mf_status mf_cpu_fill(mf_tensor *t, double value) {
    fill_job j = {.d = mf_tensor_data(t), .dt = t->dtype, .v = value};
    const int64_t *s[1] = {t->stride};
    mf_layout_build(&j.L, t->ndim, t->shape, 1, s);
    mf_parallel_for(j.L.rows, mf_layout_grain(&j.L), fill_range, &j);
    return MF_OK;
}

mf_status mf_cpu_synchronize(mf_device dev) {
    (void)dev;
    return MF_OK;
}
