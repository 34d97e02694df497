/* The CPU backend table. Kernel families are defined in their own files
 * (core/backend/cpu/<family>.c); a family not built yet is a weak NULL and
 * its ops report "not supported". */
#include "core/backend/backend.h"

mf_status mf_cpu_alloc(mf_device dev, size_t nbytes, void **ptr);
void mf_cpu_free(mf_device dev, void *ptr, size_t nbytes);
mf_status mf_cpu_copy(mf_tensor *dst, const mf_tensor *src);
mf_status mf_cpu_fill(mf_tensor *t, double value);
mf_status mf_cpu_synchronize(mf_device dev);

#define WEAK __attribute__((weak))
extern const struct mf_kern_elementwise mf_cpu_elementwise WEAK;
extern const struct mf_kern_reduce mf_cpu_reduce WEAK;
extern const struct mf_kern_linalg mf_cpu_linalg WEAK;
extern const struct mf_kern_conv mf_cpu_conv WEAK;
extern const struct mf_kern_pool mf_cpu_pool WEAK;
extern const struct mf_kern_norm mf_cpu_norm WEAK;
extern const struct mf_kern_attention mf_cpu_attention WEAK;
extern const struct mf_kern_index mf_cpu_index WEAK;
extern const struct mf_kern_random mf_cpu_random WEAK;
extern const struct mf_kern_loss mf_cpu_loss WEAK;
extern const struct mf_kern_optim mf_cpu_optim WEAK;
extern const struct mf_kern_sort mf_cpu_sort WEAK;

const mf_backend mf_cpu_backend = {
    .size = sizeof(mf_backend),
    .name = "cpu",
    .device_type = MF_CPU,
    .alloc = mf_cpu_alloc,
    .free = mf_cpu_free,
    .copy = mf_cpu_copy,
    .fill = mf_cpu_fill,
    .synchronize = mf_cpu_synchronize,
    .elementwise = &mf_cpu_elementwise,
    .reduce = &mf_cpu_reduce,
    .linalg = &mf_cpu_linalg,
    .conv = &mf_cpu_conv,
    .pool = &mf_cpu_pool,
    .norm = &mf_cpu_norm,
    .attention = &mf_cpu_attention,
    .index = &mf_cpu_index,
    .random = &mf_cpu_random,
    .loss = &mf_cpu_loss,
    .optim = &mf_cpu_optim,
    .sort = &mf_cpu_sort,
};
