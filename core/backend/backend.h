/* The backend vtable: one per device type. Ops in core/ops check shapes,
 * allocate outputs and call a kernel through the family table of the
 * input's device; a NULL table or function means "not supported on this
 * device" (the capability query), reported as MF_ERR_UNSUPPORTED.
 *
 * Each op family declares its kernel table in core/backend/kern_<family>.h;
 * the CPU backend defines mf_cpu_<family> in core/backend/cpu/<family>.c and
 * the CUDA module fills its own tables. Kernels receive tensors whose
 * outputs are already allocated on the right device. Tables only grow at
 * the end. */
#ifndef MF_BACKEND_H
#define MF_BACKEND_H

#include "medfm/tensor.h"

struct mf_kern_elementwise;
struct mf_kern_reduce;
struct mf_kern_linalg;
struct mf_kern_conv;
struct mf_kern_pool;
struct mf_kern_norm;
struct mf_kern_attention;
struct mf_kern_index;
struct mf_kern_random;
struct mf_kern_loss;
struct mf_kern_optim;
struct mf_kern_sort;

typedef struct mf_backend {
    uint32_t size; /* sizeof(mf_backend) of the builder */
    const char *name;
    int32_t device_type;
    mf_status (*alloc)(mf_device dev, size_t nbytes, void **ptr);
    void (*free)(mf_device dev, void *ptr, size_t nbytes);
    /* Copies between any two devices where one side is this backend's:
     * both tensors have the same shape; dtype conversion allowed only when
     * both sides are on this backend's device. */
    mf_status (*copy)(mf_tensor *dst, const mf_tensor *src);
    mf_status (*fill)(mf_tensor *t, double value);
    mf_status (*synchronize)(mf_device dev);
    const struct mf_kern_elementwise *elementwise;
    const struct mf_kern_reduce *reduce;
    const struct mf_kern_linalg *linalg;
    const struct mf_kern_conv *conv;
    const struct mf_kern_pool *pool;
    const struct mf_kern_norm *norm;
    const struct mf_kern_attention *attention;
    const struct mf_kern_index *index;
    const struct mf_kern_random *random;
    const struct mf_kern_loss *loss;
    const struct mf_kern_optim *optim;
    const struct mf_kern_sort *sort;
    /* Asynchronous host->device staging (the loader's batches); all NULL
     * where unsupported, and then callers copy synchronously. Pinned
     * blocks are page-locked host memory from a cache; a freed block is
     * handed out again only once every copy that read it is done. */
    mf_status (*pinned_alloc)(mf_device dev, size_t nbytes, void **ptr);
    void (*pinned_free)(mf_device dev, void *ptr, size_t nbytes);
    /* Queues dst = src on the device's copy stream: src a contiguous CPU
     * tensor (pinned for real overlap), dst a contiguous tensor of this
     * backend, same shape and dtype. *ticket marks the copy's completion. */
    mf_status (*copy_async)(mf_tensor *dst, const mf_tensor *src, void **ticket);
    /* Orders the device's compute stream after `ticket` and frees it. Each
     * ticket is waited exactly once, before its dst is used or released. */
    mf_status (*copy_wait)(mf_device dev, void *ticket);
} mf_backend;

/* Whether backend `be` (built against this or an older header) has the
 * table entry `field` and it is set. */
#define MF_BACKEND_HAS(be, field)                                                                             \
    ((be)->size >= offsetof(mf_backend, field) + sizeof((be)->field) && (be)->field != NULL)

/* Backend of a device; loads the CUDA module on first use. */
mf_status mf_backend_get(mf_device dev, const mf_backend **out);
/* Backend of a tensor's storage. */
mf_status mf_backend_of(const mf_tensor *t, const mf_backend **out);
/* A function the CUDA module exports besides its tables (cuda/cuda_api.h);
 * loads the module first, errors when there is none or it lacks `name`. */
mf_status mf__cuda_symbol(const char *name, void **fn);
/* For calls only a cuda device takes: MF_ERR_DEVICE "<what>: <rule>, not
 * <device>" for any other device (rule: "TF32 applies to cuda devices"),
 * else that device's backend must be had (module loaded, index valid). */
mf_status mf__need_cuda(mf_device dev, const char *what, const char *rule);

/* Fetches `be->family->fn` into `var`, or returns MF_ERR_UNSUPPORTED naming
 * the op and the backend. Use inside a function returning mf_status. */
#define MF_KERNEL(var, be, family, fn, opname)                                                        \
    do {                                                                                              \
        if (!(be)->family || !(be)->family->fn)                                                       \
            return MF_ERR(MF_ERR_UNSUPPORTED, "%s: not supported on the %s backend", (opname),         \
                          (be)->name);                                                                \
        (var) = (be)->family->fn;                                                                     \
    } while (0)

#endif
