/* CUDA memory: a caching allocator (size classes, per-device free lists
 * reused in stream order), copies between host and device and on the
 * device (strided views, dtype conversion), and fills.
 *
 * Size classes: multiples of 512 B up to 1 MiB, 32 per power of two
 * above (at most 3.2% over the request), so a freed block fits the next
 * request of its class exactly. Blocks are only
 * returned to the driver on out-of-memory or mf_cuda_empty_cache. A CUDA
 * graph capture (graph.c) draws from a private pool of its own. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_api.h"
#include "core/backend/cuda/cuda_internal.h"
#include "core/tensor/dtype.h"

#define EXPORT __attribute__((visibility("default")))

#define SMALL_LIMIT ((size_t)1 << 20)
#define SMALL_STEP 512
#define N_SMALL (SMALL_LIMIT / SMALL_STEP)
#define LARGE_SPLIT_LOG2 5
#define LARGE_SPLIT (1 << LARGE_SPLIT_LOG2) /* classes per power of two above SMALL_LIMIT */
#define LARGE_MAX_LOG2 47 /* largest class: 2^48 bytes */
#define N_CLASSES ((int)N_SMALL + LARGE_SPLIT * (LARGE_MAX_LOG2 - 19))

typedef struct block {
    void *ptr;
    struct block *next;
} block;

/* The private pool of a captured CUDA graph: every block the capture used
 * (its set) stays the graph's, so a replay never writes memory that was
 * handed to someone else after the capture. Blocks the graph's host side
 * frees go back to the pool's own free lists; the global lists get them
 * only when the graph is destroyed. */
struct mf_cuda_gpool {
    int index;
    block *free_list[N_CLASSES];
    void **set; /* open addressing, NULL = empty */
    size_t cap, n;
    struct mf_cuda_gpool *next;
};

typedef struct {
    block *free_list[N_CLASSES];
    mf_cuda_mem_stats stats;
    mf_cuda_gpool *capturing; /* pool of the capture under way, or NULL */
    mf_cuda_gpool *pools;     /* every live pool of this device */
} device_cache;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static device_cache caches[MF_CUDA_MAX_DEVICES];

/* Under the emulator's memory check (EMU_MEMCHECK, emu/build.sh) a block's
 * bytes past the request, and a freed block, are poisoned for
 * AddressSanitizer, so a kernel that overruns a tensor within its size
 * class, or uses it after it was freed, is reported; and a block handed
 * out holds all-ones bytes (NaN in every float type, -1 in integers), so
 * whatever reads memory nobody wrote gets NaN or an index out of range
 * instead of an earlier tensor's plausible values. Blocks handed out
 * during a graph capture stay open and unfilled: a replay uses them
 * whatever the host freed since. */
#ifdef EMU_MEMCHECK
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
static void open_block(void *p, size_t nbytes, size_t rounded, bool capturing) {
    size_t usable = capturing ? rounded : nbytes;
    __asan_unpoison_memory_region(p, usable);
    __asan_poison_memory_region((char *)p + usable, rounded - usable);
    if (!capturing)
        memset(p, 0xff, nbytes);
}
static void close_block(void *p, size_t rounded) { __asan_poison_memory_region(p, rounded); }
/* The emulator runs queued copies lazily, in stream order: a block is
 * freed (poisoned) once those queued before its free have run. */
static void settle_before_free(int index) {
    cudaStream_t s;
    if (!mf_cuda_capturing(index) && mf_cuda_stream(index, &s) == MF_OK)
        cudaStreamSynchronize(s);
}
#else
static void open_block(void *p, size_t nbytes, size_t rounded, bool capturing) {
    (void)p;
    (void)nbytes;
    (void)rounded;
    (void)capturing;
}
static void close_block(void *p, size_t rounded) {
    (void)p;
    (void)rounded;
}
static void settle_before_free(int index) { (void)index; }
#endif

/* Class index and rounded size of a request: above SMALL_LIMIT, a size in
 * (2^k, 2^(k+1)] rounds up to a multiple of 2^k / LARGE_SPLIT, so a block
 * is at most 3.2% larger than asked for (peak memory counts what is held).
 * A class >= N_CLASSES is too large. */
static int size_class(size_t n, size_t *rounded) {
    if (n <= SMALL_LIMIT) {
        size_t r = n ? (n + SMALL_STEP - 1) / SMALL_STEP * SMALL_STEP : SMALL_STEP;
        *rounded = r;
        return (int)(r / SMALL_STEP) - 1;
    }
    int k = 20;
    while (k <= LARGE_MAX_LOG2 && ((size_t)1 << (k + 1)) < n)
        k++;
    if (k > LARGE_MAX_LOG2) {
        *rounded = n;
        return N_CLASSES;
    }
    size_t step = (size_t)1 << (k - LARGE_SPLIT_LOG2), j = (n + step - 1) / step; /* SPLIT+1 .. 2 SPLIT */
    *rounded = j * step;
    return (int)N_SMALL + LARGE_SPLIT * (k - 20) + (int)(j - LARGE_SPLIT - 1);
}

/* Bytes of a block of class `cls`. */
static size_t class_bytes(int cls) {
    if (cls < (int)N_SMALL)
        return (size_t)(cls + 1) * SMALL_STEP;
    int c = cls - (int)N_SMALL, k = 20 + c / LARGE_SPLIT;
    return (size_t)(LARGE_SPLIT + 1 + c % LARGE_SPLIT) << (k - LARGE_SPLIT_LOG2);
}

/* A request as torch.cuda.memory_allocated counts it: 512-byte units. */
static uint64_t requested_size(size_t n) { return n ? (n + 511) / 512 * 512 : 512; }

/* A figure grown (+) or shrunk (-) by delta, and its peak; lock held. */
static void count(uint64_t *now, uint64_t *peak, int64_t delta) {
    *now += (uint64_t)delta;
    if (*now > *peak)
        *peak = *now;
}

/* Driver bytes gained (+) or given back (-); lock held. */
static void reserved_add(device_cache *c, int64_t delta) {
    count(&c->stats.reserved_bytes, &c->stats.peak_reserved_bytes, delta);
}

/* Frees every cached block of one device; caller holds the lock. */
static void release_cached(int index) {
    device_cache *c = &caches[index];
    cudaSetDevice(index);
    for (int i = 0; i < N_CLASSES; i++) {
        while (c->free_list[i]) {
            block *b = c->free_list[i];
            c->free_list[i] = b->next;
            cudaFree(b->ptr);
            free(b);
            reserved_add(c, -(int64_t)class_bytes(i));
        }
    }
    c->stats.cached_bytes = 0;
}

/* ---------------------------------------------------- graph pools */

static size_t slot_of(const mf_cuda_gpool *g, const void *p) {
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (g->cap - 1);
}

static bool pool_owns(const mf_cuda_gpool *g, const void *p) {
    if (!g->cap)
        return false;
    for (size_t i = slot_of(g, p); g->set[i]; i = (i + 1) & (g->cap - 1))
        if (g->set[i] == p)
            return true;
    return false;
}

/* Adds p to the pool's set (grows at half full); false when out of host memory. */
static bool pool_adopt(mf_cuda_gpool *g, void *p) {
    if (pool_owns(g, p))
        return true;
    if (2 * (g->n + 1) > g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 1024;
        void **set = calloc(cap, sizeof *set), **old = g->set;
        if (!set)
            return false;
        size_t oldcap = g->cap;
        g->set = set;
        g->cap = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i]) {
                size_t j = slot_of(g, old[i]);
                while (set[j])
                    j = (j + 1) & (cap - 1);
                set[j] = old[i];
            }
        free(old);
    }
    size_t j = slot_of(g, p);
    while (g->set[j])
        j = (j + 1) & (g->cap - 1);
    g->set[j] = p;
    g->n++;
    return true;
}

mf_status mf_cuda_gpool_begin(int index, mf_cuda_gpool **out) {
    mf_cuda_gpool *g = calloc(1, sizeof *g);
    if (!g)
        return MF_ERR(MF_ERR_NOMEM, "CUDA graph: out of host memory");
    g->index = index;
    pthread_mutex_lock(&cache_lock);
    device_cache *c = &caches[index];
    mf_status st = MF_OK;
    if (c->capturing) {
        st = MF_ERR(MF_ERR_STATE, "CUDA graph: cuda:%d is already capturing a graph", index);
        free(g);
    } else {
        g->next = c->pools;
        c->pools = g;
        c->capturing = g;
        *out = g;
    }
    pthread_mutex_unlock(&cache_lock);
    return st;
}

mf_cuda_gpool *mf_cuda_gpool_capturing(int index) {
    if (index < 0 || index >= MF_CUDA_MAX_DEVICES)
        return NULL;
    pthread_mutex_lock(&cache_lock);
    mf_cuda_gpool *g = caches[index].capturing;
    pthread_mutex_unlock(&cache_lock);
    return g;
}

void mf_cuda_gpool_end_capture(mf_cuda_gpool *g) {
    pthread_mutex_lock(&cache_lock);
    if (caches[g->index].capturing == g)
        caches[g->index].capturing = NULL;
    pthread_mutex_unlock(&cache_lock);
}

void mf_cuda_gpool_free(mf_cuda_gpool *g) {
    if (!g)
        return;
    pthread_mutex_lock(&cache_lock);
    device_cache *c = &caches[g->index];
    if (c->capturing == g)
        c->capturing = NULL;
    for (mf_cuda_gpool **pp = &c->pools; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    for (int i = 0; i < N_CLASSES; i++) {
        while (g->free_list[i]) {
            block *b = g->free_list[i];
            g->free_list[i] = b->next;
            b->next = c->free_list[i];
            c->free_list[i] = b;
            c->stats.cached_bytes += class_bytes(i);
        }
    }
    pthread_mutex_unlock(&cache_lock);
    free(g->set);
    free(g);
}

/* The free list a block of `cls` comes from now; lock held. During a
 * capture: the pool's own list, else a global block that the pool adopts. */
static block *take_cached(device_cache *c, int cls, size_t rounded, bool *adopt_failed) {
    mf_cuda_gpool *g = c->capturing;
    *adopt_failed = false;
    if (g && g->free_list[cls]) {
        block *b = g->free_list[cls];
        g->free_list[cls] = b->next;
        return b;
    }
    block *b = c->free_list[cls];
    if (!b)
        return NULL;
    if (g && !pool_adopt(g, b->ptr)) {
        *adopt_failed = true;
        return NULL;
    }
    c->free_list[cls] = b->next;
    c->stats.cached_bytes -= rounded;
    return b;
}

/* cudaMalloc is not stream work, so a capture would refuse it in its
 * default mode: the allocator asks for it in relaxed mode and keeps the
 * block for the graph. */
static cudaError_t device_malloc(device_cache *c, void **p, size_t rounded) {
    if (!c->capturing)
        return cudaMalloc(p, rounded);
    enum cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    cudaThreadExchangeStreamCaptureMode(&mode);
    cudaError_t e = cudaMalloc(p, rounded);
    cudaThreadExchangeStreamCaptureMode(&mode);
    if (e == cudaSuccess && !pool_adopt(c->capturing, *p)) {
        cudaFree(*p);
        e = cudaErrorMemoryAllocation;
    }
    return e;
}

mf_status mf_cuda_alloc(mf_device dev, size_t nbytes, void **ptr) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev.index, &s));
    size_t rounded;
    int cls = size_class(nbytes, &rounded);
    if (cls >= N_CLASSES)
        return MF_ERR(MF_ERR_NOMEM, "CUDA allocation of %zu bytes on cuda:%d is too large", nbytes, dev.index);
    pthread_mutex_lock(&cache_lock);
    device_cache *c = &caches[dev.index];
    bool adopt_failed;
    block *b = take_cached(c, cls, rounded, &adopt_failed);
    void *p = NULL;
    cudaError_t e = adopt_failed ? cudaErrorMemoryAllocation : cudaSuccess;
    if (b) {
        p = b->ptr;
        free(b);
        c->stats.cache_hits++;
    } else if (e == cudaSuccess) {
        e = device_malloc(c, &p, rounded);
        if (e == cudaErrorMemoryAllocation && !c->capturing) { /* cudaFree would break a capture */
            (void)cudaGetLastError();
            release_cached(dev.index);
            e = cudaMalloc(&p, rounded);
        }
        if (e == cudaSuccess) {
            c->stats.device_mallocs++;
            reserved_add(c, (int64_t)rounded);
        }
    }
    if (e == cudaSuccess) {
        open_block(p, nbytes, rounded, c->capturing != NULL);
        count(&c->stats.current_bytes, &c->stats.peak_bytes, (int64_t)rounded);
        count(&c->stats.requested_bytes, &c->stats.peak_requested_bytes, (int64_t)requested_size(nbytes));
    }
    uint64_t in_use = c->stats.current_bytes;
    pthread_mutex_unlock(&cache_lock);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return MF_ERR(e == cudaErrorMemoryAllocation ? MF_ERR_NOMEM : MF_ERR_DEVICE,
                      "CUDA allocation of %zu bytes on cuda:%d failed with %llu bytes in use: %s", rounded,
                      dev.index, (unsigned long long)in_use, cudaGetErrorString(e));
    }
    *ptr = p;
    return MF_OK;
}

/* The block goes back on its free list at once: later work that reuses it
 * is queued on the same stream, after every kernel that used it. Copies on
 * the copy stream keep this true (copy_async.c): one starts only after the
 * work queued on the compute stream when it was issued, and the compute
 * stream waits for it before its destination is used or freed. */
void mf_cuda_free(mf_device dev, void *ptr, size_t nbytes) {
    if (!ptr || dev.index < 0 || dev.index >= MF_CUDA_MAX_DEVICES)
        return;
    size_t rounded;
    int cls = size_class(nbytes, &rounded);
    block *b = malloc(sizeof *b);
    settle_before_free(dev.index);
    pthread_mutex_lock(&cache_lock);
    device_cache *c = &caches[dev.index];
    count(&c->stats.current_bytes, &c->stats.peak_bytes, -(int64_t)rounded);
    count(&c->stats.requested_bytes, &c->stats.peak_requested_bytes, -(int64_t)requested_size(nbytes));
    mf_cuda_gpool *owner = NULL;
    for (mf_cuda_gpool *g = c->pools; g && !owner; g = g->next)
        if (pool_owns(g, ptr))
            owner = g;
    if (b && owner) {
        b->ptr = ptr;
        b->next = owner->free_list[cls];
        owner->free_list[cls] = b;
    } else if (b) {
        if (!c->capturing)
            close_block(ptr, rounded);
        b->ptr = ptr;
        b->next = c->free_list[cls];
        c->free_list[cls] = b;
        c->stats.cached_bytes += rounded;
    } else if (owner) {
        /* No host memory for a list node: the block stays the graph's, unused. */
    } else {
        cudaSetDevice(dev.index);
        cudaFree(ptr);
        reserved_add(c, -(int64_t)rounded);
    }
    pthread_mutex_unlock(&cache_lock);
}

EXPORT mf_status mf_cuda_memory_stats(int index, mf_cuda_mem_stats *out) {
    if (index < 0 || index >= MF_CUDA_MAX_DEVICES)
        return MF_ERR(MF_ERR_DEVICE, "memory stats: no device cuda:%d", index);
    uint32_t size = out->size && out->size < sizeof *out ? out->size : (uint32_t)sizeof *out;
    pthread_mutex_lock(&cache_lock);
    mf_cuda_mem_stats s = caches[index].stats;
    pthread_mutex_unlock(&cache_lock);
    mf_cuda_pinned_stats(index, &s);
    s.size = size;
    memcpy(out, &s, size);
    return MF_OK;
}

EXPORT mf_status mf_cuda_reset_peak(int index) {
    if (index < 0 || index >= MF_CUDA_MAX_DEVICES)
        return MF_ERR(MF_ERR_DEVICE, "memory stats: no device cuda:%d", index);
    pthread_mutex_lock(&cache_lock);
    mf_cuda_mem_stats *s = &caches[index].stats;
    s->peak_bytes = s->current_bytes;
    s->peak_requested_bytes = s->requested_bytes;
    s->peak_reserved_bytes = s->reserved_bytes;
    pthread_mutex_unlock(&cache_lock);
    return MF_OK;
}

EXPORT mf_status mf_cuda_empty_cache(int index) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(index, &s));
    MF_TRY(mf_cuda_check(cudaStreamSynchronize(s), "empty_cache"));
    pthread_mutex_lock(&cache_lock);
    release_cached(index);
    pthread_mutex_unlock(&cache_lock);
    mf_cuda_pinned_empty(index);
    return MF_OK;
}

/* ------------------------------------------------------------- copies */

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= shape[d] > 0 ? shape[d] : 1;
    }
}

/* dst = src on one device, any strides and dtypes. */
static mf_status device_copy(cudaStream_t s, int ndim, const int64_t *shape, void *dst, const int64_t *dst_stride,
                             mf_dtype dst_dt, const void *src, const int64_t *src_stride, mf_dtype src_dt) {
    mf_cuda_layout L;
    const int64_t *st[2] = {dst_stride, src_stride};
    mf_cuda_layout_build_memory_order(&L, ndim, shape, 2, st);
    if (L.n == 0)
        return MF_OK;
    if (dst_dt == src_dt && L.ndim <= 1 && (L.ndim == 0 || (L.stride[0][0] == 1 && L.stride[1][0] == 1)))
        return mf_cuda_check(
            cudaMemcpyAsync(dst, src, (size_t)L.n * mf_dtype_size(dst_dt), cudaMemcpyDeviceToDevice, s), "copy");
    return mf_cuda_check(mf_cuda_launch_copy(s, &L, dst, (int)dst_dt, src, (int)src_dt), "copy kernel");
}

/* A CPU tensor over a fresh contiguous host buffer, or over t itself when
 * t is already contiguous. */
static mf_status host_contiguous(const mf_tensor *t, mf_tensor **out) {
    if (mf_tensor_is_contiguous(t))
        return mf_tensor_detach(t, out);
    return mf_tensor_empty(t->ndim, t->shape, t->dtype, MF_DEVICE_CPU, out);
}

/* Uploads up to this size go through a pinned staging block and return
 * without waiting for the device: the copy is queued on the compute stream,
 * which reads the block, and the pinned cache hands the block out again
 * only after that (pinned.c). So the solvers' results, index tensors and
 * batches (without prefetch) no longer drain the GPU's queue. Larger
 * uploads (weights at load time) wait for their copy, as does every upload
 * inside a graph capture, which the capture refuses: a replay would read a
 * staging block that holds other data by then. */
#define STAGED_UPLOAD_MAX ((size_t)16 << 20)

static mf_status upload_staged(cudaStream_t s, mf_tensor *dst, const mf_tensor *src, bool *done) {
    mf_device dev = dst->storage->device;
    size_t nbytes = mf_tensor_nbytes(src);
    void *pin = NULL;
    *done = false;
    if (mf_cuda_pinned_alloc(dev, nbytes, &pin) != MF_OK) {
        mf_error_clear(); /* no pinned memory: the waiting path below */
        return MF_OK;
    }
    mf_status st = MF_OK;
    if (mf_tensor_is_contiguous(src)) {
        memcpy(pin, mf_tensor_data(src), nbytes);
    } else {
        mf_tensor *h = NULL;
        st = mf_tensor_wrap(src->ndim, src->shape, src->dtype, MF_DEVICE_CPU, pin, NULL, NULL, &h);
        if (st == MF_OK)
            st = mf_tensor_copy_(h, src);
        mf_tensor_release(h);
    }
    if (st == MF_OK)
        st = mf_cuda_check(cudaMemcpyAsync(mf_tensor_data(dst), pin, nbytes, cudaMemcpyHostToDevice, s),
                           "copy to device");
    mf_cuda_pinned_free_after(dev, pin, nbytes, s);
    *done = st == MF_OK;
    return st;
}

static mf_status upload(cudaStream_t s, mf_tensor *dst, const mf_tensor *src) {
    mf_device dev = dst->storage->device;
    size_t nbytes = mf_tensor_nbytes(src);
    if (nbytes <= STAGED_UPLOAD_MAX && mf_tensor_is_contiguous(dst) && !mf_cuda_capturing(dev.index)) {
        bool done;
        MF_TRY(upload_staged(s, dst, src, &done));
        if (done)
            return MF_OK;
    }
    mf_tensor *h = NULL;
    void *tmp = NULL;
    mf_status st = MF_OK;
    MF_CHECK(host_contiguous(src, &h));
    if (h->storage != src->storage)
        MF_CHECK(mf_tensor_copy_(h, src));
    if (mf_tensor_is_contiguous(dst)) {
        MF_CHECK(mf_cuda_check(cudaMemcpyAsync(mf_tensor_data(dst), mf_tensor_data(h), nbytes,
                                               cudaMemcpyHostToDevice, s),
                               "copy to device"));
    } else {
        int64_t cs[MF_MAX_DIMS];
        contiguous_strides(dst->ndim, dst->shape, cs);
        MF_CHECK(mf_cuda_alloc(dev, nbytes, &tmp));
        MF_CHECK(mf_cuda_check(cudaMemcpyAsync(tmp, mf_tensor_data(h), nbytes, cudaMemcpyHostToDevice, s),
                               "copy to device"));
        MF_CHECK(device_copy(s, dst->ndim, dst->shape, mf_tensor_data(dst), dst->stride, dst->dtype, tmp, cs,
                             dst->dtype));
    }
    /* The caller may free or change the host memory once we return. */
    MF_CHECK(mf_cuda_check(cudaStreamSynchronize(s), "copy to device"));
cleanup:
    if (tmp)
        mf_cuda_free(dev, tmp, nbytes);
    mf_tensor_release(h);
    return st;
}

static mf_status download(cudaStream_t s, mf_tensor *dst, const mf_tensor *src) {
    mf_device dev = src->storage->device;
    size_t nbytes = mf_tensor_nbytes(src);
    mf_tensor *h = NULL;
    void *tmp = NULL;
    const void *from = mf_tensor_data(src);
    mf_status st = MF_OK;
    if (!mf_tensor_is_contiguous(src)) {
        int64_t cs[MF_MAX_DIMS];
        contiguous_strides(src->ndim, src->shape, cs);
        MF_CHECK(mf_cuda_alloc(dev, nbytes, &tmp));
        MF_CHECK(device_copy(s, src->ndim, src->shape, tmp, cs, src->dtype, from, src->stride, src->dtype));
        from = tmp;
    }
    MF_CHECK(host_contiguous(dst, &h));
    MF_CHECK(mf_cuda_check(cudaMemcpyAsync(mf_tensor_data(h), from, nbytes, cudaMemcpyDeviceToHost, s),
                           "copy to host"));
    MF_CHECK(mf_cuda_host_wait(dev.index, s, "copy to host"));
    if (h->storage != dst->storage)
        MF_CHECK(mf_tensor_copy_(dst, h));
cleanup:
    if (tmp)
        mf_cuda_free(dev, tmp, nbytes);
    mf_tensor_release(h);
    return st;
}

mf_status mf_cuda_copy(mf_tensor *dst, const mf_tensor *src) {
    mf_device dd = dst->storage->device, sd = src->storage->device;
    if (!mf_tensor_same_shape(dst, src))
        return MF_ERR(MF_ERR_SHAPE, "copy: destination %s and source %s differ in shape", MF_SHAPE(dst),
                      MF_SHAPE(src));
    if (!mf_device_equal(dd, sd) && dst->dtype != src->dtype)
        return MF_ERR(MF_ERR_DTYPE, "copy: a copy between %s and %s cannot also convert %s to %s",
                      mf_device_name(sd), mf_device_name(dd), mf_dtype_name(src->dtype), mf_dtype_name(dst->dtype));
    if (mf_tensor_numel(dst) == 0)
        return MF_OK;
    cudaStream_t s;
    if (dd.type == MF_CUDA && sd.type == MF_CUDA) {
        if (dd.index != sd.index) {
            if (!mf_tensor_is_contiguous(dst) || !mf_tensor_is_contiguous(src))
                return MF_ERR(MF_ERR_UNSUPPORTED, "copy: %s -> %s needs contiguous tensors (got %s and %s views)",
                              mf_device_name(sd), mf_device_name(dd), MF_SHAPE(src), MF_SHAPE(dst));
            MF_TRY(mf_cuda_stream(sd.index, &s));
            MF_TRY(mf_cuda_check(cudaStreamSynchronize(s), "copy between devices"));
            MF_TRY(mf_cuda_stream(dd.index, &s));
            MF_TRY(mf_cuda_check(cudaMemcpyPeerAsync(mf_tensor_data(dst), dd.index, mf_tensor_data(src), sd.index,
                                                     mf_tensor_nbytes(src), s),
                                 "copy between devices"));
            return mf_cuda_check(cudaStreamSynchronize(s), "copy between devices");
        }
        MF_TRY(mf_cuda_stream(dd.index, &s));
        return device_copy(s, dst->ndim, dst->shape, mf_tensor_data(dst), dst->stride, dst->dtype,
                           mf_tensor_data(src), src->stride, src->dtype);
    }
    if (dd.type == MF_CUDA && sd.type == MF_CPU) {
        MF_TRY(mf_cuda_stream(dd.index, &s));
        return upload(s, dst, src);
    }
    if (dd.type == MF_CPU && sd.type == MF_CUDA) {
        MF_TRY(mf_cuda_stream(sd.index, &s));
        return download(s, dst, src);
    }
    return MF_ERR(MF_ERR_DEVICE, "copy: the CUDA backend cannot copy %s -> %s", mf_device_name(sd),
                  mf_device_name(dd));
}

/* -------------------------------------------------------------- fill */

mf_status mf_cuda_fill(mf_tensor *t, double value) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(t->storage->device.index, &s));
    size_t es = mf_dtype_size(t->dtype);
    uint64_t pattern = 0;
    mf_store_from_f64(&pattern, t->dtype, value); /* little-endian: low bytes hold the element */
    mf_cuda_layout L;
    const int64_t *st[1] = {t->stride};
    mf_cuda_layout_build_memory_order(&L, t->ndim, t->shape, 1, st);
    if (L.n == 0)
        return MF_OK;
    if (pattern == 0 && L.ndim <= 1 && (L.ndim == 0 || L.stride[0][0] == 1))
        return mf_cuda_check(cudaMemsetAsync(mf_tensor_data(t), 0, (size_t)L.n * es, s), "fill");
    return mf_cuda_check(mf_cuda_launch_fill(s, &L, mf_tensor_data(t), (int)es, pattern), "fill kernel");
}
