/* mf_loss_new: the loss owns a copy of its options (or a zeroed block to
 * fill) and its destroy frees both; bad arguments are errors, not crashes.
 * The sanitizer build checks the frees. */
#include <string.h>

#include "medfm/loss.h"
#include "medfm/ops/elementwise.h"
#include "tests/support/testing.h"

typedef struct opts {
    double scale;
    int flag;
} opts;

static mf_status scale_forward(mf_loss *l, const mf_batch *in, mf_tensor **loss, mf_batch *logs) {
    (void)logs;
    mf_tensor *x;
    MF_TRY(mf_batch_need(in, "x", "scale", &x));
    return mf_mul_scalar(x, ((const opts *)l->state)->scale, loss);
}

Test(loss_new, copies_the_options_and_calls_forward_with_them) {
    opts o = {2.5, 7};
    mf_loss *l;
    MF_OK_OR_FAIL(mf_loss_new("scale", scale_forward, &o, sizeof o, &l));
    o.scale = -1; /* the loss has its own copy */
    cr_assert_str_eq(l->name, "scale");
    cr_assert_eq(l->size, sizeof *l);
    cr_assert_eq(((opts *)l->state)->flag, 7);
    int64_t shape[1] = {1};
    mf_batch b = {0};
    MF_OK_OR_FAIL(mf_batch_put(&b, "x", t_uniform(1, 1, shape, MF_F32, 1, 2)));
    mf_tensor *loss, *x = mf_batch_get(&b, "x");
    MF_OK_OR_FAIL(l->forward(l, &b, &loss, NULL));
    double v, xv;
    MF_OK_OR_FAIL(mf_tensor_item(loss, &v));
    MF_OK_OR_FAIL(mf_tensor_item(x, &xv));
    cr_assert_float_eq(v, 2.5 * xv, 1e-6);
    mf_tensor_release(loss);
    mf_batch_clear(&b);
    l->destroy(l);
}

Test(loss_new, without_options_the_state_is_a_zeroed_block_to_fill) {
    mf_loss *l;
    MF_OK_OR_FAIL(mf_loss_new("scale", scale_forward, NULL, sizeof(opts) + 4 * sizeof(double), &l));
    const unsigned char *p = l->state;
    for (size_t i = 0; i < sizeof(opts) + 4 * sizeof(double); i++)
        cr_assert_eq(p[i], 0);
    l->destroy(l);
    MF_OK_OR_FAIL(mf_loss_new("none", scale_forward, NULL, 0, &l));
    cr_assert_not_null(l->state, "a state block even for no options");
    l->destroy(l);
}

Test(loss_new, a_missing_name_or_forward_is_an_error) {
    mf_loss *l = (mf_loss *)&l;
    cr_assert_eq(mf_loss_new("scale", NULL, NULL, 0, &l), MF_ERR_INVALID);
    cr_assert_null(l);
    cr_assert(strstr(mf_last_error(), "loss scale: no forward function"), "%s", mf_last_error());
    cr_assert_eq(mf_loss_new(NULL, scale_forward, NULL, 0, &l), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "no name"), "%s", mf_last_error());
}
