/* hamming loss plugin: LVM-Med eq. (5) against torch, its gradient, and
 * its errors. */
#include <string.h>

#include "tests/plugins/losses/loss_support.h"
#include "tests/support/fixture.h"

Test(hamming, matches_torch_summed_per_problem_and_averaged_over_problems) {
    tl_loss t = tl_open("hamming", NULL, "x", "target");
    mf_tensor *in[2] = {t_fixture("lvmmed.safetensors", "ham_x"), t_fixture("lvmmed.safetensors", "ham_t")};
    mf_tensor *want = t_fixture("lvmmed.safetensors", "hamming"), *got;
    MF_OK_OR_FAIL(tl_call(&t, in, &got));
    t_assert_close(got, want, 1e-12, 1e-12, "hamming");
    mf_tensor_release(got), mf_tensor_release(want), mf_tensor_release(in[0]), mf_tensor_release(in[1]);
    tl_close(&t);
}

Test(hamming, counts_each_wrong_entry_once_for_0_1_matchings) {
    tl_loss t = tl_open("hamming", "{reduction: sum}", "x", "target");
    int64_t shape[3] = {1, 3, 3};
    /* a swap of rows 0 and 1 against the identity: 4 entries differ */
    mf_tensor *in[2] = {t_from(3, shape, MF_F64, (double[]){0, 1, 0, 1, 0, 0, 0, 0, 1}),
                        t_from(3, shape, MF_F64, (double[]){1, 0, 0, 0, 1, 0, 0, 0, 1})};
    mf_tensor *got;
    MF_OK_OR_FAIL(tl_call(&t, in, &got));
    cr_assert_float_eq(mf_tensor_get_flat(got, 0), 4.0, 1e-12);
    mf_tensor_release(got), mf_tensor_release(in[0]), mf_tensor_release(in[1]);
    tl_close(&t);
}

Test(hamming, gradient_matches_finite_differences) {
    tl_loss t = tl_open("hamming", NULL, "x", "target");
    mf_tensor *in[2] = {t_param(t_fixture("lvmmed.safetensors", "ham_x")),
                        t_param(t_fixture("lvmmed.safetensors", "ham_t"))};
    t_gradcheck("hamming", tl_call, &t, 2, in, 1e-6, 1e-7, 1e-6);
    mf_tensor_release(in[0]), mf_tensor_release(in[1]);
    tl_close(&t);
}

Test(hamming, rejects_mismatched_shapes_and_missing_inputs) {
    tl_loss t = tl_open("hamming", NULL, "x", "target");
    int64_t a[3] = {1, 3, 3}, b[3] = {1, 3, 4};
    mf_tensor *in[2] = {t_uniform(1, 3, a, MF_F32, 0, 1), t_uniform(2, 3, b, MF_F32, 0, 1)}, *got = NULL;
    cr_assert_eq(tl_call(&t, in, &got), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "hamming"));
    t.names[1] = "targets";
    cr_assert_neq(tl_call(&t, in, &got), MF_OK);
    cr_assert(strstr(mf_last_error(), "target"));
    mf_tensor_release(in[0]), mf_tensor_release(in[1]);
    tl_close(&t);
}
