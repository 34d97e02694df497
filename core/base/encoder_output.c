/* Encoder outputs own their tensors. */
#include <string.h>

#include "medfm/encoder.h"

void mf_encoder_output_clear(mf_encoder_output *o) {
    mf_tensor_clear(&o->pooled);
    for (int i = 0; i < MF_ENCODER_MAX_STAGES; i++)
        mf_tensor_clear(&o->stages[i]);
    o->n_stages = 0;
}
