/* Gradient-norm clipping: torch.nn.utils.clip_grad_norm_ semantics. */
#include <math.h>

#include "tests/support/testing.h"

static mf_tensor *param_with_grad(int n, const double *g) {
    int64_t shape[1] = {n};
    mf_tensor *p = t_param(t_uniform(9, 1, shape, MF_F64, -1, 1));
    p->grad = t_from(1, shape, MF_F64, g);
    return p;
}

Test(clip, gradients_above_max_norm_are_scaled_to_it) {
    mf_tensor *ps[3] = {param_with_grad(2, (double[]){3, 4}), param_with_grad(1, (double[]){12}),
                        t_param(t_uniform(1, 1, (int64_t[]){4}, MF_F64, 0, 1))}; /* no grad: skipped */
    double norm;
    MF_OK_OR_FAIL(mf_clip_grad_norm(ps, 3, 6.5, &norm));
    cr_assert_float_eq(norm, 13.0, 1e-14);
    double c = 6.5 / (13.0 + 1e-6);
    cr_assert_eq(mf_tensor_get_flat(ps[0]->grad, 0), 3 * c);
    cr_assert_eq(mf_tensor_get_flat(ps[0]->grad, 1), 4 * c);
    cr_assert_eq(mf_tensor_get_flat(ps[1]->grad, 0), 12 * c);
    cr_assert_null(ps[2]->grad);
    for (int i = 0; i < 3; i++)
        mf_tensor_release(ps[i]);
}

Test(clip, gradients_below_max_norm_are_untouched) {
    mf_tensor *p = param_with_grad(2, (double[]){3, 4});
    double norm;
    MF_OK_OR_FAIL(mf_clip_grad_norm(&p, 1, 5.0 + 1e-5, &norm));
    cr_assert_eq(norm, 5.0);
    cr_assert_eq(mf_tensor_get_flat(p->grad, 0), 3.0);
    mf_tensor_release(p);
}

Test(clip, a_non_contiguous_gradient_is_measured_and_scaled) {
    mf_tensor *p = t_param(t_uniform(1, 2, (int64_t[]){3, 2}, MF_F32, -1, 1));
    mf_tensor *g = t_from(2, (int64_t[]){2, 3}, MF_F32, (double[]){1, 2, 3, 4, 5, 6});
    MF_OK_OR_FAIL(mf_transpose(g, 0, 1, &p->grad));
    double norm;
    MF_OK_OR_FAIL(mf_clip_grad_norm(&p, 1, 1.0, &norm));
    cr_assert_float_eq(norm, sqrt(91.0), 1e-6);
    cr_assert_float_eq(mf_tensor_get_flat(p->grad, 1), 4 / (sqrt(91.0) + 1e-6), 1e-6); /* element [0, 1] = 4 */
    mf_tensor_release(g);
    mf_tensor_release(p);
}

Test(clip, the_norm_does_not_depend_on_the_thread_count) {
    int64_t n = 200001;
    mf_tensor *p = t_param(t_uniform(1, 1, &n, MF_F32, -1, 1));
    p->grad = t_uniform(2, 1, &n, MF_F32, -1, 1);
    int threads = mf_num_threads();
    double a, b;
    mf_set_num_threads(1);
    MF_OK_OR_FAIL(mf_clip_grad_norm(&p, 1, 1e9, &a));
    mf_set_num_threads(threads > 1 ? threads : 2);
    MF_OK_OR_FAIL(mf_clip_grad_norm(&p, 1, 1e9, &b));
    mf_set_num_threads(threads);
    cr_assert_eq(a, b);
    mf_tensor_release(p);
}

Test(clip, a_negative_max_norm_is_rejected) {
    mf_tensor *p = param_with_grad(1, (double[]){1});
    cr_assert_eq(mf_clip_grad_norm(&p, 1, -1, NULL), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "max_norm"), "%s", mf_last_error());
    mf_tensor_release(p);
}
