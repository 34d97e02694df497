/* mf_task_model_*: the root a task builds around its encoder. Who frees
 * the encoder on each path (created, released after a failed task create,
 * failed model creation) is checked by counting its destroy calls; the
 * sanitizer build checks there is no leak or double free besides. */
#include <stdlib.h>
#include <string.h>

#include "core/nn/internal.h"
#include "medfm/nn.h"
#include "medfm/task.h"
#include "tests/support/testing.h"

static int destroyed;

static void fake_destroy(mf_encoder *e) {
    destroyed++;
    mf_module_free(e->module);
    free(e);
}

/* An encoder whose module is one linear layer (weight, bias). */
static mf_encoder *fake_encoder(void) {
    mf_encoder *e = calloc(1, sizeof *e);
    cr_assert(e);
    e->size = sizeof *e;
    e->embed_dim = 3;
    e->destroy = fake_destroy;
    mf_rng rng;
    mf_rng_init(&rng, 1);
    MF_OK_OR_FAIL(mf_nn_linear_new(2, 3, true, &rng, &e->module));
    return e;
}

static void names_of(const mf_module *m, char *buf, size_t cap) {
    mf_named_tensors ps = {0};
    MF_OK_OR_FAIL(mf_module_named_parameters(m, &ps));
    buf[0] = 0;
    for (int i = 0; i < ps.n; i++) {
        strncat(buf, ps.items[i].name, cap - strlen(buf) - 1);
        strncat(buf, " ", cap - strlen(buf) - 1);
    }
    mf_named_tensors_free(&ps);
}

Test(task_model, lists_the_encoder_first_then_the_heads_with_the_task_type_name) {
    destroyed = 0;
    mf_encoder *e = fake_encoder();
    mf_module *root, *head;
    MF_OK_OR_FAIL(mf_task_model_new("Probe", e, &root));
    mf_rng rng;
    mf_rng_init(&rng, 2);
    MF_OK_OR_FAIL(mf_nn_linear_new(3, 2, false, &rng, &head));
    MF_OK_OR_FAIL(mf_module_add_child(root, "head", head, NULL));
    char names[256];
    names_of(root, names, sizeof names);
    cr_assert_str_eq(names, "encoder.weight encoder.bias head.weight ");
    cr_assert_str_eq(mf_module_type(root), "Probe");
    cr_assert_eq(mf_task_model_encoder(root), e);
    mf_module_free(root);
}

Test(task_model, freeing_the_model_destroys_the_encoder_once) {
    destroyed = 0;
    mf_encoder *e = fake_encoder();
    mf_module *root;
    MF_OK_OR_FAIL(mf_task_model_new("Probe", e, &root));
    mf_module_free(root);
    cr_assert_eq(destroyed, 1);
}

Test(task_model, a_released_encoder_survives_the_model_and_stays_the_callers) {
    /* the failure path of a task's create: the runner destroys the encoder */
    destroyed = 0;
    mf_encoder *e = fake_encoder();
    mf_module *root;
    MF_OK_OR_FAIL(mf_task_model_new("Probe", e, &root));
    cr_assert_eq(mf_task_model_release_encoder(root), e);
    cr_assert_null(mf_task_model_encoder(root));
    cr_assert_null(mf_task_model_release_encoder(root), "a second release has nothing to give");
    char names[256];
    names_of(root, names, sizeof names);
    cr_assert_str_eq(names, "", "the released encoder's parameters are no longer listed");
    mf_module_free(root);
    cr_assert_eq(destroyed, 0);
    cr_assert_eq(mf_module_num_params(e->module), 3 * 2 + 3, "the encoder's module is intact");
    e->destroy(e);
    cr_assert_eq(destroyed, 1);
}

Test(task_model, creating_without_an_encoder_or_its_module_fails_and_touches_nothing) {
    mf_module *root = (mf_module *)&root;
    cr_assert_eq(mf_task_model_new("Probe", NULL, &root), MF_ERR_INVALID);
    cr_assert_null(root);
    cr_assert(strstr(mf_last_error(), "no encoder"), "%s", mf_last_error());
    destroyed = 0;
    mf_encoder *e = fake_encoder();
    mf_module *m = e->module;
    e->module = NULL;
    cr_assert_eq(mf_task_model_new("Probe", e, &root), MF_ERR_INVALID);
    cr_assert_null(root);
    cr_assert(strstr(mf_last_error(), "Probe: the encoder has no module"), "%s", mf_last_error());
    cr_assert_eq(destroyed, 0);
    e->module = m;
    e->destroy(e);
}

Test(task_model, other_modules_have_no_encoder_to_give) {
    mf_module *m;
    mf_rng rng;
    mf_rng_init(&rng, 3);
    MF_OK_OR_FAIL(mf_nn_linear_new(2, 2, true, &rng, &m));
    cr_assert_null(mf_task_model_encoder(m));
    cr_assert_null(mf_task_model_release_encoder(m));
    cr_assert_null(mf_task_model_release_encoder(NULL));
    mf_module_free(m);
}

Test(task_model, a_failed_borrowing_add_leaves_the_child_to_the_caller) {
    /* what mf_task_model_new relies on when adding the encoder's module
     * runs out of memory: the module must stay the encoder's */
    mf_module *m, *child, *dup;
    mf_rng rng;
    mf_rng_init(&rng, 4);
    MF_OK_OR_FAIL(mf_nn_linear_new(2, 2, true, &rng, &m));
    MF_OK_OR_FAIL(mf_nn_linear_new(2, 2, true, &rng, &child));
    MF_OK_OR_FAIL(mf_nn_linear_new(2, 2, true, &rng, &dup));
    MF_OK_OR_FAIL(mf_module_add_child(m, "enc", child, NULL));
    cr_assert_eq(mf__module_add_child_keep(m, "enc", dup, NULL), MF_ERR_INVALID);
    cr_assert_eq(mf_module_num_params(dup), 2 * 2 + 2, "still the caller's, intact");
    mf_module_free(dup);
    mf_module_free(m);
}
