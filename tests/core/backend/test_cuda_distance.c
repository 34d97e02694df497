/* CUDA cosine similarity and l2 normalisation against the CPU backend,
 * forward and backward, with broadcast operands and rows whose norm falls
 * below eps (an all-zero row and a tiny one). */
#include "medfm/ops/distance.h"
#include "tests/core/backend/cuda_compare.h"

typedef struct {
    int dim;
    double eps;
    bool transpose;
} dist_ctx;

static const mf_dtype dist_dtypes[3] = {MF_F32, MF_F64, MF_BF16};

/* Row `row` of the 2-D or 3-D x (along dim 0) set to `v` everywhere. */
static void fill_row(mf_tensor *x, int64_t row, double v) {
    int64_t per = mf_tensor_numel(x) / x->shape[0];
    for (int64_t i = 0; i < per; i++)
        mf_tensor_set_flat(x, row * per + i, v);
}

static mf_status op_cosine(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const dist_ctx *c = ctx;
    mf_tensor *a;
    if (c->transpose)
        MF_TRY(mf_transpose(in[0], 0, 1, &a));
    else
        a = mf_tensor_retain(in[0]);
    mf_status st = mf_cosine_similarity(a, in[1], c->dim, c->eps, out);
    mf_tensor_release(a);
    return st;
}

/* a [4, 1, 6] against b [5, 6] gives [4, 5]; row 1 of a is zero and row 2
 * tiny, so the eps clamp decides their norms. */
Test(cuda_distance, cosine_similarity_and_its_gradients_match_the_cpu_with_broadcast_operands) {
    t_need_cuda();
    for (int k = 0; k < 3; k++) {
        mf_tensor *in[2] = {t_uniform(500, 3, (int64_t[]){4, 1, 6}, dist_dtypes[k], -2, 2),
                            t_uniform(501, 2, (int64_t[]){5, 6}, dist_dtypes[k], -2, 2)};
        fill_row(in[0], 1, 0.0);
        fill_row(in[0], 2, 1e-4);
        bool g[2] = {true, true};
        dist_ctx last = {.dim = -1, .eps = 1e-3};
        t_cuda_compare("cosine_similarity dim -1", 2, in, g, op_cosine, &last, 2);
        t_release_all(in, 2);
        /* along dim 0: a [3, 6]^T (strided) against b [6, 1] */
        mf_tensor *in0[2] = {t_uniform(502, 2, (int64_t[]){3, 6}, dist_dtypes[k], -2, 2),
                             t_uniform(503, 2, (int64_t[]){6, 1}, dist_dtypes[k], -2, 2)};
        dist_ctx first = {.dim = 0, .eps = 1e-8, .transpose = true};
        t_cuda_compare("cosine_similarity dim 0", 2, in0, g, op_cosine, &first, 2);
        t_release_all(in0, 2);
    }
}

static mf_status op_l2_normalize(mf_tensor *const *in, const void *ctx, mf_tensor **out) {
    const dist_ctx *c = ctx;
    mf_tensor *x;
    if (c->transpose)
        MF_TRY(mf_transpose(in[0], 0, 1, &x));
    else
        x = mf_tensor_retain(in[0]);
    mf_status st = mf_l2_normalize(x, c->dim, c->eps, out);
    mf_tensor_release(x);
    return st;
}

/* Along the rows and (through a transpose, strided) the columns; the zero
 * row gives zeros and its gradient g / eps, the tiny row is divided by eps. */
Test(cuda_distance, l2_normalize_and_its_gradient_match_the_cpu_including_rows_below_eps) {
    t_need_cuda();
    for (int k = 0; k < 3; k++) {
        mf_tensor *x = t_uniform(510, 2, (int64_t[]){6, 9}, dist_dtypes[k], -2, 2);
        fill_row(x, 2, 0.0);
        fill_row(x, 4, 1e-4);
        bool g[1] = {true};
        dist_ctx rows = {.dim = 1, .eps = 1e-2}, cols = {.dim = 1, .eps = 1e-2, .transpose = true},
                 far = {.dim = 0, .eps = 1e-12};
        t_cuda_compare("l2_normalize rows", 1, &x, g, op_l2_normalize, &rows, 2);
        t_cuda_compare("l2_normalize strided", 1, &x, g, op_l2_normalize, &cols, 2);
        t_cuda_compare("l2_normalize dim 0", 1, &x, g, op_l2_normalize, &far, 2);
        mf_tensor_release(x);
    }
}
