/* Matrix products: values against a naive loop, torch.matmul shape rules
 * (1-D operands, broadcast batch dims), strided and transposed views,
 * finite-difference gradients, f32/f64 agreement and bad input. */
#include <string.h>

#include "tests/support/testing.h"

/* c[b] = a[b] @ b[b] for 3-D tensors of any layout, in f64. */
static mf_tensor *naive_bmm(const mf_tensor *a, const mf_tensor *b) {
    int64_t B = a->shape[0], M = a->shape[1], K = a->shape[2], N = b->shape[2];
    mf_tensor *c;
    MF_OK_OR_FAIL(mf_tensor_zeros(3, (int64_t[]){B, M, N}, MF_F64, MF_DEVICE_CPU, &c));
    for (int64_t z = 0; z < B; z++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += mf_tensor_get_flat(a, (z * M + i) * K + k) * mf_tensor_get_flat(b, (z * K + k) * N + j);
                mf_tensor_set_flat(c, (z * M + i) * N + j, acc);
            }
    return c;
}

Test(linalg, matmul_2d_gives_the_product) {
    mf_tensor *a = t_from(2, (int64_t[]){2, 3}, MF_F32, (double[]){1, 2, 3, 4, 5, 6});
    mf_tensor *b = t_from(2, (int64_t[]){3, 2}, MF_F32, (double[]){7, 8, 9, 10, 11, 12});
    mf_tensor *c, *want = t_from(2, (int64_t[]){2, 2}, MF_F32, (double[]){58, 64, 139, 154});
    MF_OK_OR_FAIL(mf_matmul(a, b, &c));
    t_assert_close(c, want, 0, 0, "matmul");
    t_release_all((mf_tensor *[]){a, b, c, want}, 4);
}

Test(linalg, matmul_follows_torch_rules_for_1d_operands) {
    mf_tensor *v = t_from(1, (int64_t[]){3}, MF_F64, (double[]){1, 2, 3});
    mf_tensor *m = t_from(2, (int64_t[]){3, 2}, MF_F64, (double[]){1, 0, 0, 1, 1, 1});
    mf_tensor *mt = t_from(2, (int64_t[]){2, 3}, MF_F64, (double[]){1, 0, 1, 0, 1, 1});
    mf_tensor *dot, *vm, *mv;
    MF_OK_OR_FAIL(mf_matmul(v, v, &dot));
    cr_assert_eq(dot->ndim, 0);
    cr_assert_float_eq(mf_tensor_get_flat(dot, 0), 14.0, 1e-12);
    MF_OK_OR_FAIL(mf_matmul(v, m, &vm));
    mf_tensor *want_vm = t_from(1, (int64_t[]){2}, MF_F64, (double[]){4, 5});
    t_assert_close(vm, want_vm, 0, 0, "vec @ mat");
    MF_OK_OR_FAIL(mf_matmul(mt, v, &mv));
    t_assert_close(mv, want_vm, 0, 0, "mat @ vec");
    t_release_all((mf_tensor *[]){v, m, mt, dot, vm, mv, want_vm}, 7);
}

Test(linalg, matmul_broadcasts_batch_dims) {
    mf_tensor *a = t_uniform(1, 4, (int64_t[]){2, 1, 3, 4}, MF_F64, -1, 1);
    mf_tensor *b = t_uniform(2, 3, (int64_t[]){5, 4, 2}, MF_F64, -1, 1);
    mf_tensor *c;
    MF_OK_OR_FAIL(mf_matmul(a, b, &c));
    cr_assert_eq(c->ndim, 4);
    cr_assert(c->shape[0] == 2 && c->shape[1] == 5 && c->shape[2] == 3 && c->shape[3] == 2, "%s", MF_SHAPE(c));
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 5; j++)
            for (int64_t r = 0; r < 3; r++)
                for (int64_t q = 0; q < 2; q++) {
                    double acc = 0;
                    for (int64_t k = 0; k < 4; k++)
                        acc += mf_tensor_get_flat(a, (i * 3 + r) * 4 + k) * mf_tensor_get_flat(b, (j * 4 + k) * 2 + q);
                    cr_assert_float_eq(mf_tensor_get_flat(c, ((i * 5 + j) * 3 + r) * 2 + q), acc, 1e-12);
                }
    t_release_all((mf_tensor *[]){a, b, c}, 3);
}

Test(linalg, transposed_and_strided_views_give_the_same_product_as_copies) {
    mf_tensor *a = t_uniform(3, 3, (int64_t[]){2, 6, 5}, MF_F64, -1, 1);
    mf_tensor *b = t_uniform(4, 3, (int64_t[]){2, 8, 6}, MF_F64, -1, 1);
    mf_tensor *at, *bt, *bs, *ac, *bc, *c1, *c2, *want;
    MF_OK_OR_FAIL(mf_transpose(a, 1, 2, &at));        /* (2, 5, 6): a BLAS transpose flag */
    MF_OK_OR_FAIL(mf_slice(b, 1, 0, 8, 2, &bs));      /* (2, 4, 6): rows with stride 12 */
    MF_OK_OR_FAIL(mf_transpose(bs, 1, 2, &bt));       /* (2, 6, 4) */
    MF_OK_OR_FAIL(mf_contiguous(at, &ac));
    MF_OK_OR_FAIL(mf_contiguous(bt, &bc));
    want = naive_bmm(ac, bc);
    MF_OK_OR_FAIL(mf_matmul(at, bt, &c1));
    MF_OK_OR_FAIL(mf_bmm(a, bs, true, true, &c2));
    t_assert_close(c1, want, 1e-12, 1e-12, "views");
    t_assert_close(c2, want, 1e-12, 1e-12, "bmm flags");
    mf_tensor *ss; /* a column-strided view needs a copy inside the kernel */
    MF_OK_OR_FAIL(mf_slice(a, 2, 0, 5, 2, &ss)); /* (2, 6, 3) */
    mf_tensor *sc, *b3 = t_uniform(5, 3, (int64_t[]){2, 3, 2}, MF_F64, -1, 1), *c3, *want3;
    MF_OK_OR_FAIL(mf_contiguous(ss, &sc));
    want3 = naive_bmm(sc, b3);
    MF_OK_OR_FAIL(mf_matmul(ss, b3, &c3));
    t_assert_close(c3, want3, 1e-12, 1e-12, "column-strided");
    t_release_all((mf_tensor *[]){a, b, at, bt, bs, ac, bc, c1, c2, want, ss, sc, b3, c3, want3}, 15);
}

static mf_status call_matmul(void *ctx, mf_tensor *const *in, mf_tensor **out) { return mf_matmul(in[0], in[1], out); }

Test(linalg, matmul_grads_match_finite_difference_for_every_shape_rule) {
    struct {
        int na, nb;
        int64_t a[4], b[4];
    } cs[] = {
        {2, 2, {3, 4}, {4, 2}},         {1, 1, {4}, {4}},          {1, 2, {3}, {3, 2}},
        {2, 1, {2, 3}, {3}},            {3, 2, {2, 3, 4}, {4, 5}}, /* folded rows */
        {4, 3, {2, 1, 3, 4}, {3, 4, 2}}, /* broadcast batch */
        {1, 3, {4}, {2, 4, 3}},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        mf_tensor *a = t_param(t_uniform(10 + i, cs[i].na, cs[i].a, MF_F64, -1, 1));
        mf_tensor *b = t_param(t_uniform(20 + i, cs[i].nb, cs[i].b, MF_F64, -1, 1));
        t_gradcheck("matmul", call_matmul, NULL, 2, (mf_tensor *[]){a, b}, 1e-6, 1e-7, 1e-5);
        t_release_all((mf_tensor *[]){a, b}, 2);
    }
}

static mf_status call_bmm(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    int f = *(int *)ctx;
    return mf_bmm(in[0], in[1], f & 1, f & 2, out);
}

Test(linalg, bmm_with_each_transpose_matches_naive_and_finite_difference) {
    for (int f = 0; f < 4; f++) {
        int64_t as[3] = {3, (f & 1) ? 4 : 2, (f & 1) ? 2 : 4}, bs[3] = {3, (f & 2) ? 5 : 4, (f & 2) ? 4 : 5};
        mf_tensor *a = t_param(t_uniform(30 + f, 3, as, MF_F64, -1, 1));
        mf_tensor *b = t_param(t_uniform(40 + f, 3, bs, MF_F64, -1, 1));
        mf_tensor *av = a, *bv = b, *ac = NULL, *bc = NULL, *tmp;
        if (f & 1) {
            MF_OK_OR_FAIL(mf_transpose(a, 1, 2, &tmp));
            MF_OK_OR_FAIL(mf_contiguous(tmp, &ac));
            mf_tensor_release(tmp);
            av = ac;
        }
        if (f & 2) {
            MF_OK_OR_FAIL(mf_transpose(b, 1, 2, &tmp));
            MF_OK_OR_FAIL(mf_contiguous(tmp, &bc));
            mf_tensor_release(tmp);
            bv = bc;
        }
        mf_tensor *want = naive_bmm(av, bv), *c;
        MF_OK_OR_FAIL(mf_bmm(a, b, f & 1, f & 2, &c));
        t_assert_close(c, want, 1e-12, 1e-12, "bmm");
        t_gradcheck("bmm", call_bmm, &f, 2, (mf_tensor *[]){a, b}, 1e-6, 1e-7, 1e-5);
        t_release_all((mf_tensor *[]){a, b, ac, bc, want, c}, 6);
    }
}

static mf_status call_linear(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_linear(in[0], in[1], ctx ? in[2] : NULL, out);
}

Test(linalg, linear_matches_matmul_plus_bias_and_finite_difference) {
    mf_tensor *x = t_param(t_uniform(50, 3, (int64_t[]){2, 3, 4}, MF_F64, -1, 1));
    mf_tensor *w = t_param(t_uniform(51, 2, (int64_t[]){5, 4}, MF_F64, -1, 1));
    mf_tensor *b = t_param(t_uniform(52, 1, (int64_t[]){5}, MF_F64, -1, 1));
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_linear(x, w, b, &y));
    cr_assert(y->ndim == 3 && y->shape[2] == 5, "%s", MF_SHAPE(y));
    for (int64_t r = 0; r < 6; r++)
        for (int64_t o = 0; o < 5; o++) {
            double acc = mf_tensor_get_flat(b, o);
            for (int64_t k = 0; k < 4; k++)
                acc += mf_tensor_get_flat(x, r * 4 + k) * mf_tensor_get_flat(w, o * 4 + k);
            cr_assert_float_eq(mf_tensor_get_flat(y, r * 5 + o), acc, 1e-12);
        }
    t_gradcheck("linear", call_linear, (void *)1, 3, (mf_tensor *[]){x, w, b}, 1e-6, 1e-7, 1e-5);
    t_gradcheck("linear no bias", call_linear, NULL, 2, (mf_tensor *[]){x, w}, 1e-6, 1e-7, 1e-5);
    t_release_all((mf_tensor *[]){x, w, b, y}, 4);
}

Test(linalg, f32_agrees_with_f64_on_a_large_batched_product) {
    mf_tensor *a = t_uniform(60, 3, (int64_t[]){4, 33, 70}, MF_F64, -1, 1);
    mf_tensor *b = t_uniform(61, 3, (int64_t[]){4, 70, 21}, MF_F64, -1, 1);
    mf_tensor *a32, *b32, *c32, *c64, *c32d;
    MF_OK_OR_FAIL(mf_to_dtype(a, MF_F32, &a32));
    MF_OK_OR_FAIL(mf_to_dtype(b, MF_F32, &b32));
    MF_OK_OR_FAIL(mf_matmul(a, b, &c64));
    MF_OK_OR_FAIL(mf_matmul(a32, b32, &c32));
    MF_OK_OR_FAIL(mf_to_dtype(c32, MF_F64, &c32d));
    t_assert_close(c32d, c64, 1e-4, 1e-5, "f32 matmul");
    t_release_all((mf_tensor *[]){a, b, a32, b32, c32, c64, c32d}, 7);
}

static void expect_error(mf_status got, mf_status want, const char *op) {
    cr_assert_eq(got, want, "got %s, want %s: %s", mf_status_name(got), mf_status_name(want), mf_last_error());
    cr_assert(strstr(mf_last_error(), op), "message does not name %s: %s", op, mf_last_error());
}

Test(linalg, mismatched_operands_are_rejected_with_messages_naming_the_op) {
    mf_tensor *a = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1), *b = t_uniform(2, 2, (int64_t[]){4, 2}, MF_F32, -1, 1);
    mf_tensor *a64 = t_uniform(3, 2, (int64_t[]){3, 2}, MF_F64, -1, 1);
    mf_tensor *x3 = t_uniform(4, 3, (int64_t[]){2, 3, 4}, MF_F32, -1, 1), *y3 = t_uniform(5, 3, (int64_t[]){3, 4, 5}, MF_F32, -1, 1);
    mf_tensor *bias = t_uniform(6, 1, (int64_t[]){3}, MF_F32, -1, 1), *w = t_uniform(7, 2, (int64_t[]){2, 3}, MF_F32, -1, 1);
    mf_tensor *c = NULL;
    expect_error(mf_matmul(a, b, &c), MF_ERR_SHAPE, "matmul");
    cr_assert(strstr(mf_last_error(), "[2, 3]") && strstr(mf_last_error(), "[4, 2]"), "%s", mf_last_error());
    expect_error(mf_matmul(a, a64, &c), MF_ERR_DTYPE, "matmul");
    expect_error(mf_matmul(x3, y3, &c), MF_ERR_SHAPE, "matmul"); /* batch 2 vs 3 */
    expect_error(mf_bmm(a, b, false, false, &c), MF_ERR_SHAPE, "bmm");
    expect_error(mf_bmm(x3, y3, false, false, &c), MF_ERR_SHAPE, "bmm");
    expect_error(mf_linear(a, b, NULL, &c), MF_ERR_SHAPE, "linear");
    expect_error(mf_linear(a, w, bias, &c), MF_ERR_SHAPE, "linear");
    cr_assert_null(c);
    t_release_all((mf_tensor *[]){a, b, a64, x3, y3, bias, w}, 7);
}
