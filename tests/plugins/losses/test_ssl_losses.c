/* infonce, barlow_twins and vicreg loss plugins against the reference
 * formulas run in torch (tools/fixtures/gen_lvmmed.py), with gradient
 * checks and errors. */
#include <string.h>

#include "tests/core/backend/cuda_testing.h"
#include "tests/plugins/losses/loss_support.h"
#include "tests/support/fixture.h"

static void matches(const char *plugin, const char *cfg) {
    tl_loss t = tl_open(plugin, cfg, "z0", "z1");
    mf_tensor *in[2] = {t_fixture("lvmmed.safetensors", "z0"), t_fixture("lvmmed.safetensors", "z1")};
    mf_tensor *want = t_fixture("lvmmed.safetensors", plugin), *got;
    MF_OK_OR_FAIL(tl_call(&t, in, &got));
    t_assert_close(got, want, 1e-10, 1e-10, plugin);
    mf_tensor_release(got), mf_tensor_release(want), mf_tensor_release(in[0]), mf_tensor_release(in[1]);
    tl_close(&t);
}

static void gradcheck(const char *plugin, const char *cfg) {
    tl_loss t = tl_open(plugin, cfg, "z0", "z1");
    mf_tensor *in[2] = {t_param(t_fixture("lvmmed.safetensors", "z0")), t_param(t_fixture("lvmmed.safetensors", "z1"))};
    t_gradcheck(plugin, tl_call, &t, 2, in, 1e-6, 1e-6, 1e-5);
    mf_tensor_release(in[0]), mf_tensor_release(in[1]);
    tl_close(&t);
}

static void rejects_bad_shapes(const char *plugin) {
    tl_loss t = tl_open(plugin, NULL, "z0", "z1");
    int64_t a[2] = {6, 4}, b[2] = {6, 5};
    mf_tensor *in[2] = {t_uniform(1, 2, a, MF_F32, 0, 1), t_uniform(2, 2, b, MF_F32, 0, 1)}, *got = NULL;
    cr_assert_eq(tl_call(&t, in, &got), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), plugin), "%s", mf_last_error());
    mf_tensor_release(in[0]), mf_tensor_release(in[1]);
    tl_close(&t);
}

/* The loss of views on the GPU equals the CPU's (the plugins build host
 * constants and must move them; infonce did not). Skips without CUDA. */
static void matches_on_cuda(const char *plugin) {
    t_need_cuda();
    tl_loss t = tl_open(plugin, NULL, "z0", "z1");
    mf_tensor *in[2] = {t_fixture("lvmmed.safetensors", "z0"), t_fixture("lvmmed.safetensors", "z1")};
    mf_tensor *din[2] = {t_on(in[0], T_CUDA, false), t_on(in[1], T_CUDA, false)}, *want, *got;
    MF_OK_OR_FAIL(tl_call(&t, in, &want));
    MF_OK_OR_FAIL(tl_call(&t, din, &got));
    t_assert_matches_cpu(got, want, 10, plugin);
    mf_tensor *all[] = {in[0], in[1], din[0], din[1], want, got};
    for (int i = 0; i < 6; i++)
        mf_tensor_release(all[i]);
    tl_close(&t);
}

Test(infonce, runs_on_cuda_like_on_the_cpu) { matches_on_cuda("infonce"); }
Test(barlow_twins, runs_on_cuda_like_on_the_cpu) { matches_on_cuda("barlow_twins"); }
Test(vicreg, runs_on_cuda_like_on_the_cpu) { matches_on_cuda("vicreg"); }
Test(infonce, matches_torch_nt_xent) { matches("infonce", "{temperature: 0.5}"); }
Test(infonce, gradient_matches_finite_differences) { gradcheck("infonce", "{temperature: 0.5}"); }
Test(infonce, rejects_views_of_different_shapes) { rejects_bad_shapes("infonce"); }
Test(barlow_twins, matches_the_reference_formula) { matches("barlow_twins", NULL); }
Test(barlow_twins, gradient_matches_finite_differences) { gradcheck("barlow_twins", NULL); }
Test(barlow_twins, rejects_views_of_different_shapes) { rejects_bad_shapes("barlow_twins"); }
Test(vicreg, matches_the_reference_formula) { matches("vicreg", NULL); }
Test(vicreg, gradient_matches_finite_differences) { gradcheck("vicreg", NULL); }
Test(vicreg, rejects_views_of_different_shapes) { rejects_bad_shapes("vicreg"); }
