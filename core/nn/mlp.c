/* torchvision.ops.MLP without a norm layer: [Linear, activation, Dropout]
 * per hidden layer, then Linear and Dropout, in a Sequential so that the
 * parameter names match torchvision's ("0.weight", "3.bias", ...). */
#include "core/nn/internal.h"

mf_status mf_nn_mlp_new(int64_t in_features, int n_layers, const int64_t *hidden, mf_activation act,
                        double dropout, bool bias, mf_rng *rng, mf_module **out) {
    *out = NULL;
    if (n_layers < 1 || !hidden)
        return MF_ERR(MF_ERR_INVALID, "MLP: needs at least one layer size, got %d", n_layers);
    mf_module *seq;
    MF_TRY(mf_nn_sequential_new(&seq));
    mf_status st = MF_OK;
    int64_t in = in_features;
    for (int i = 0; i < n_layers; i++) {
        mf_module *lin, *a, *drop;
        MF_CHECK(mf_nn_linear_new(in, hidden[i], bias, rng, &lin));
        MF_CHECK(mf_nn_sequential_append(seq, lin));
        if (i + 1 < n_layers) {
            MF_CHECK(mf_nn_activation_new(act, &a));
            MF_CHECK(mf_nn_sequential_append(seq, a));
        }
        /* Each Dropout gets its own stream, drawn from the init generator. */
        uint32_t words[4];
        mf_philox4x32(rng->seed, rng->offset, 0x6d6c70u + (uint64_t)i, words);
        MF_CHECK(mf_nn_dropout_new(dropout, ((uint64_t)words[0] << 32) | words[1], &drop));
        MF_CHECK(mf_nn_sequential_append(seq, drop));
        in = hidden[i];
    }
cleanup:
    if (st != MF_OK)
        mf_module_free(seq);
    else
        *out = seq;
    return st;
}
