/* The data layer: 3-D preprocessing of volumes (resampling, crops, intensity
 * normalisation, slicing), manifests (CSV/JSONL), sample sources (folders,
 * manifests, slices of volumes, synthetic phantoms) and the counter-based
 * per-sample random streams every transform draws from. */
#ifndef MEDFM_DATA_H
#define MEDFM_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "medfm/config.h"
#include "medfm/ops/random.h"
#include "medfm/tensor.h"
#include "medfm/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- per-sample random streams ----
 * A stream is an mf_rng whose seed is derived from (seed, epoch, index,
 * view), so a sample's augmentation never depends on which worker made it.
 * Each draw consumes one Philox counter (offset += 1). */
mf_rng mf_data_stream(uint64_t seed, uint64_t epoch, uint64_t index, uint64_t view);
double mf_data_uniform(mf_rng *rng);                 /* [0, 1) */
double mf_data_range(mf_rng *rng, double lo, double hi); /* [lo, hi) */
double mf_data_normal(mf_rng *rng);                  /* N(0, 1) */
int64_t mf_data_randint(mf_rng *rng, int64_t n);     /* [0, n) */

/* ---- 3-D preprocessing (volumes: data (D, H, W) any dtype; i = W axis) ----
 * Every geometric step updates affine and spacing so the result still
 * overlays the original in world space. Results are new volumes. */
typedef enum { MF_INTERP_NEAREST = 0, MF_INTERP_LINEAR = 1 } mf_interp;

/* Resamples to `spacing` (mm per i, j, k). Voxel 0's centre stays put;
 * the new size is round(n * old / new). Linear gives f32 (trilinear, edge
 * clamped); nearest keeps the dtype (label maps). */
mf_status mf_volume_resample(const mf_volume *v, const double spacing[3], mf_interp interp, mf_volume *out);
/* Resizes to (d, h, w) with half-pixel centres (torch's align_corners=False). */
mf_status mf_volume_resize(const mf_volume *v, const int64_t size[3], mf_interp interp, mf_volume *out);
/* Pads symmetrically with `fill` to a cube (largest side) and resizes to n^3. */
mf_status mf_volume_cube(const mf_volume *v, int64_t n, double fill, mf_interp interp, mf_volume *out);
/* Crops/pads to `size` (d, h, w). start == NULL centres the window; else
 * start[k] is the first source voxel (may be negative or run past the end:
 * outside voxels get `fill`). */
mf_status mf_volume_crop(const mf_volume *v, const int64_t size[3], const int64_t *start, double fill, mf_volume *out);

/* Intensity normalisation of any tensor, in place on an f32 copy (*out). */
typedef enum {
    MF_NORM_ZSCORE = 0, /* (x - mean) / std */
    MF_NORM_MINMAX = 1, /* to [0, 1] */
} mf_norm_kind;
typedef struct mf_intensity_opts {
    mf_norm_kind kind;
    bool clip;               /* clip before normalising */
    bool clip_percentiles;   /* lo/hi are percentiles (0..100), else values (HU) */
    double lo, hi;
    bool nonzero_mask;       /* stats over x != 0 only; zeros stay 0 (MRI) */
} mf_intensity_opts;
mf_status mf_intensity_normalize(const mf_tensor *x, const mf_intensity_opts *o, mf_tensor **out);

/* Slices of a (D, H, W) tensor: axial fixes D (k) -> (H, W); coronal fixes
 * H (j) -> (D, W); sagittal fixes W (i) -> (D, H). Planes match anatomy on
 * canonical (RAS) volumes. Result is a contiguous (1, a, b) copy. */
typedef enum { MF_PLANE_AXIAL = 0, MF_PLANE_CORONAL = 1, MF_PLANE_SAGITTAL = 2 } mf_plane;
mf_status mf_plane_parse(const char *s, mf_plane *out);
const char *mf_plane_name(mf_plane p);
int64_t mf_plane_count(const mf_tensor *vol, mf_plane p); /* slices along p */
mf_status mf_volume_slice(const mf_tensor *vol, mf_plane p, int64_t index, mf_tensor **out);

/* ---- synthetic phantoms ---- */
typedef struct mf_phantom_opts {
    int64_t size;        /* H = W (= D) */
    int dims;            /* 2 or 3 */
    int channels;        /* 1 (gray) or 3 */
    int num_classes;     /* image classes: number of lesions visible, capped */
    double noise;        /* noise std relative to the range */
    const char *modality; /* "ct", "mr" or "mixed" (by index) */
} mf_phantom_opts;
void mf_phantom_defaults(mf_phantom_opts *o, int dims);
/* Deterministic per (seed, index). image: u8 (C, H, W) or (C, D, H, W);
 * mask: u8 label map (H, W) / (D, H, W): 0 background, 1 body, 2 and 3
 * organs, 4 lesions; *cls = min(lesions, num_classes - 1). Any out-pointer
 * may be NULL. */
mf_status mf_phantom(const mf_phantom_opts *o, uint64_t seed, int64_t index, mf_tensor **image, mf_tensor **mask,
                     int64_t *cls);

/* ---- manifests ----
 * CSV (header row, RFC 4180 quotes) or JSONL (one object a line), chosen
 * by the file name (.jsonl / .json) or the first character. Columns:
 * image, label (an integer class or a label-map path), class (integer or
 * name), split; Med3DInsight: volume, plane, slice, slice_image, text,
 * text_embedding. Paths are relative to the manifest's folder. Errors name
 * file:line. */
typedef struct mf_manifest_row {
    char *image, *mask, *class_name, *split, *volume, *slice_image, *text, *text_embedding;
    int64_t cls;   /* -1 when absent */
    int plane;     /* mf_plane or -1 */
    int64_t slice; /* -1 when absent */
    float *embedding; /* text_embedding given inline (JSON array, or numbers
                       * separated by spaces/semicolons in CSV) */
    int64_t embedding_len;
    int line;
} mf_manifest_row;
typedef struct mf_manifest {
    mf_manifest_row *rows;
    int64_t n;
    char *name; /* file name for messages */
    char *dir;  /* folder relative paths start from ("" for strings) */
    char **class_names; /* sorted names when `class` held names */
    int n_classes;
} mf_manifest;
mf_status mf_manifest_parse(const char *text, size_t len, const char *name, mf_manifest *out);
mf_status mf_manifest_read(const char *path, mf_manifest *out);
void mf_manifest_free(mf_manifest *m);

/* ---- samples and sources ---- */
typedef struct mf_sample {
    mf_tensor *image;  /* (C, H, W) or (C, D, H, W), dtype as stored */
    mf_tensor *mask;   /* (H, W) / (D, H, W) label map or NULL */
    int64_t label;     /* class or -1 */
    int plane;         /* slice samples: mf_plane, else -1 */
    int64_t slice;     /* slice index or -1 */
    mf_tensor *slice_image;    /* Med3DInsight: the 2-D slice paired with a volume */
    mf_tensor *text_embedding; /* (E) f32 or NULL */
    char id[256];
} mf_sample;
void mf_sample_init(mf_sample *s);
void mf_sample_clear(mf_sample *s);

typedef struct mf_source mf_source;
struct mf_source {
    const char *type;
    int64_t count;
    int dims;         /* 2 or 3 */
    int num_classes;  /* 0 when unknown */
    /* Thread-safe: workers call it concurrently. rng: the sample's stream
     * (sources that sample, like slices, draw from it). */
    mf_status (*get)(const mf_source *s, int64_t index, mf_rng *rng, mf_sample *out);
    /* Class of a sample without loading it, or -1 (balanced sampling). */
    int64_t (*label_of)(const mf_source *s, int64_t index);
    void (*destroy)(mf_source *s);
    void *ctx;
};
mf_status mf_source_get(const mf_source *s, int64_t index, mf_rng *rng, mf_sample *out);
void mf_source_release(mf_source *s);

mf_status mf_source_phantom(const mf_phantom_opts *o, uint64_t seed, int64_t count, mf_source **out);
/* Sample i of a phantom source is generator index offset + i (disjoint
 * offsets give disjoint train / val sets). */
void mf_source_phantom_set_offset(mf_source *s, int64_t offset);
/* root/<class>/<image>: classes sorted by folder name. */
mf_status mf_source_image_folder(const char *root, mf_source **out);
/* root/images/<x>.png + root/masks/<x>.<png|...> matched by file stem. */
mf_status mf_source_seg_folder(const char *root, mf_source **out);
/* Rows of a manifest (split NULL = all rows). 2-D images or NIfTI volumes. */
mf_status mf_source_manifest(const char *path, const char *split, mf_source **out);
/* 2-D slices of a 3-D source along `plane`: sample i takes volume
 * i % count and draws a slice from the stream, with probability fg_prob
 * among slices whose mask has foreground (else among the others). */
mf_status mf_source_slices(mf_source *volumes, mf_plane plane, double fg_prob, int64_t per_volume, mf_source **out);

/* Builds a source from a `source:` config section ({type: phantom2d, ...}),
 * checked against that type's schema (unknown keys are errors). Phantoms
 * take their data seed from their own `seed` key (default 0), so the data
 * set stays fixed while the run's seed varies the augmentations. */
mf_status mf_source_from_cfg(mf_cfg *section, uint64_t seed, mf_source **out);
/* Schema of a source type, or NULL. */
const mf_schema *mf_source_type_schema(const char *type);

#ifdef __cplusplus
}
#endif
#endif
