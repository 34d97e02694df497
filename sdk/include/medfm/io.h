/* Tensor files: safetensors (the ecosystem's weight format) read through a
 * memory map and written atomically, and state dicts: named destination
 * tensors (module parameters, buffers) loaded from / saved to such files. */
#ifndef MEDFM_IO_H
#define MEDFM_IO_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_safetensors mf_safetensors;

/* Opens and validates a safetensors file (header and every entry): any
 * malformed content gives MF_ERR_FORMAT with a message naming the file and
 * the fault; a missing file MF_ERR_NOT_FOUND. */
mf_status mf_safetensors_open(const char *path, mf_safetensors **out);
/* Tensors obtained from the file stay valid after closing it. */
void mf_safetensors_close(mf_safetensors *f);
const char *mf_safetensors_path(const mf_safetensors *f);
int mf_safetensors_count(const mf_safetensors *f);
/* Name of entry i (0 <= i < count), in file order. */
const char *mf_safetensors_name(const mf_safetensors *f, int i);
/* Index of the entry called `name`, or -1 (binary search). */
int mf_safetensors_find(const mf_safetensors *f, const char *name);
/* dtype and shape of an entry without touching its data (each out may be
 * NULL; shape needs MF_MAX_DIMS room). */
mf_status mf_safetensors_info(const mf_safetensors *f, const char *name, mf_dtype *dtype, int *ndim,
                              int64_t *shape);
/* __metadata__: number of keys, i-th key, value of a key (or NULL). */
int mf_safetensors_metadata_count(const mf_safetensors *f);
const char *mf_safetensors_metadata_key(const mf_safetensors *f, int i);
const char *mf_safetensors_metadata(const mf_safetensors *f, const char *key);
/* A CPU tensor holding the entry: a zero-copy view of the file's
 * copy-on-write mapping when the data is aligned for its dtype (always so
 * for files medfm writes), else a copy. Writing to it never changes the
 * file; it keeps the mapping alive after mf_safetensors_close(). */
mf_status mf_safetensors_get(const mf_safetensors *f, const char *name, mf_tensor **out);

/* Writes tensors (any device, any layout) under names; metadata is a list
 * of n_meta key/value string pairs (may be NULL). Data is laid out by
 * decreasing element size so every tensor is aligned in the file. The file
 * appears atomically (temp file in the same directory, fsync, rename, fsync
 * of the directory): a crash leaves the old file or the complete new one. */
mf_status mf_safetensors_save(const char *path, int n, const char *const *names, mf_tensor *const *tensors,
                              int n_meta, const char *const *meta_kv);

/* ---- state dicts ---- */

/* One named destination: a module's parameter or buffer under its
 * hierarchical name ("layer1.0.conv1.weight"). The nn module system
 * produces arrays of these; names are borrowed, tensors are not retained. */
typedef struct mf_named_tensor {
    const char *name;
    mf_tensor *tensor;
} mf_named_tensor;

/* What a load matched. `details` (malloc'd, NULL when everything matched)
 * lists every missing, unexpected, mis-shaped and wrong-dtype key; release
 * with mf_state_dict_report_free(). */
typedef struct mf_state_dict_report {
    int n_loaded;
    int n_missing;    /* entries with no key in the file */
    int n_unexpected; /* file keys with no entry */
    int n_mismatched; /* present in both, shape or dtype incompatible */
    char *details;
} mf_state_dict_report;

/* Copies every file tensor into the entry of the same name, converting
 * between float dtypes (f64/f16/bf16 files into f32 parameters) and moving
 * to the entry's device. Mis-shaped keys and non-float dtype changes are
 * always errors (MF_ERR_SHAPE / MF_ERR_DTYPE); with `strict`, missing or
 * unexpected keys are errors too (MF_ERR_NOT_FOUND). The message names the
 * file and lists every offending key (mis-shaped ones with both shapes).
 * Nothing is written unless the whole load can succeed. `report` may be
 * NULL. */
mf_status mf_state_dict_load(const char *path, const mf_named_tensor *entries, int n, bool strict,
                             mf_state_dict_report *report);
/* The same, matching entry "x" with file key prefix + "x" ("encoder.",
 * "module."); file keys outside the prefix are ignored, not unexpected. */
mf_status mf_state_dict_load_prefix(const char *path, const char *prefix, const mf_named_tensor *entries, int n,
                                    bool strict, mf_state_dict_report *report);
void mf_state_dict_report_free(mf_state_dict_report *report);
/* Saves the entries under their names (atomically, like
 * mf_safetensors_save); meta_kv holds n_meta key/value pairs (may be NULL). */
mf_status mf_state_dict_save(const char *path, const mf_named_tensor *entries, int n, int n_meta,
                             const char *const *meta_kv);

#ifdef __cplusplus
}
#endif
#endif
