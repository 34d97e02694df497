/* Tensor files: safetensors (the ecosystem's weight format) read through a
 * memory map and written atomically. */
#ifndef MEDFM_IO_H
#define MEDFM_IO_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_safetensors mf_safetensors;

/* Opens and validates a safetensors file (header and every entry). */
mf_status mf_safetensors_open(const char *path, mf_safetensors **out);
void mf_safetensors_close(mf_safetensors *f);
int mf_safetensors_count(const mf_safetensors *f);
/* Name of entry i (0 <= i < count), in file order. */
const char *mf_safetensors_name(const mf_safetensors *f, int i);
/* Value of a __metadata__ key, or NULL. */
const char *mf_safetensors_metadata(const mf_safetensors *f, const char *key);
/* A CPU tensor holding the entry (its own copy of the data). */
mf_status mf_safetensors_get(const mf_safetensors *f, const char *name, mf_tensor **out);

/* Writes tensors (any device, any layout) under names; metadata is a list
 * of n_meta key/value string pairs (may be NULL). The file appears
 * atomically: temp file, fsync, rename. */
mf_status mf_safetensors_save(const char *path, int n, const char *const *names, mf_tensor *const *tensors,
                              int n_meta, const char *const *meta_kv);

#ifdef __cplusplus
}
#endif
#endif
