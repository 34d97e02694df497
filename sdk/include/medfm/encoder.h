/* Encoders (plugin kind "encoder"): backbones such as ResNet, ViT/SAM and
 * nnFormer. An encoder is an nn module whose parameter names match the
 * reference PyTorch model, so weights move both ways through safetensors. */
#ifndef MEDFM_ENCODER_H
#define MEDFM_ENCODER_H

#include "medfm/config.h"
#include "medfm/ops/random.h"
#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_module mf_module;

#define MF_ENCODER_MAX_STAGES 8

/* What a forward pass returns; every tensor is owned by the struct. */
typedef struct mf_encoder_output {
    mf_tensor *pooled; /* (N, embed_dim): global average of the last stage */
    int n_stages;      /* 0 unless stages were asked for */
    mf_tensor *stages[MF_ENCODER_MAX_STAGES]; /* (N, C_i, ...) finest first */
} mf_encoder_output;

void mf_encoder_output_clear(mf_encoder_output *o);

typedef struct mf_encoder mf_encoder;
struct mf_encoder {
    uint32_t size;
    mf_module *module;  /* owns the parameters and buffers */
    int spatial_rank;   /* 2 (N,C,H,W) or 3 (N,C,D,H,W) */
    int64_t in_channels;
    int64_t embed_dim;  /* size of `pooled` */
    int n_stages;
    int64_t stage_channels[MF_ENCODER_MAX_STAGES];
    int64_t stage_stride[MF_ENCODER_MAX_STAGES]; /* downsampling factor of each stage */
    /* Runs x through the encoder (module's train/eval mode applies);
     * with all_stages, fills out->stages too. */
    mf_status (*forward)(mf_encoder *e, const mf_tensor *x, bool all_stages, mf_encoder_output *out);
    /* Frees the encoder and its module. */
    void (*destroy)(mf_encoder *e);
    void *state;
};

typedef struct mf_encoder_vtable {
    uint32_t size;
    /* cfg: the `encoder:` section (keys of the plugin's schema, already
     * validated and defaulted); rng: initialisation stream. */
    mf_status (*create)(const mf_cfg *cfg, mf_rng *rng, mf_encoder **out);
} mf_encoder_vtable;

#ifdef __cplusplus
}
#endif
#endif
