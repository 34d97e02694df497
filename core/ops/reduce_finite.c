/* mf_all_finite: sum(x * 0) is 0 exactly when every element is finite and
 * NaN otherwise (inf * 0 = NaN); it reads x once on any device, cannot
 * overflow, and needs no kernel of its own. */
#include "medfm/autograd.h"
#include "medfm/ops/elementwise.h"
#include "medfm/ops/reduce.h"

mf_status mf_all_finite(const mf_tensor *x, bool *finite) {
    *finite = false;
    if (!mf_dtype_is_float(x->dtype)) {
        *finite = true; /* integers and bools hold no inf or NaN */
        return MF_OK;
    }
    bool grad = mf_grad_set_enabled(false);
    mf_tensor *z = NULL, *s = NULL;
    double v = 0;
    mf_status st = mf_mul_scalar(x, 0.0, &z);
    if (st == MF_OK)
        st = mf_sum(z, 0, NULL, false, &s);
    if (st == MF_OK)
        st = mf_tensor_item(s, &v);
    mf_grad_set_enabled(grad);
    mf_tensor_release(z);
    mf_tensor_release(s);
    *finite = st == MF_OK && v == 0.0;
    return st;
}
