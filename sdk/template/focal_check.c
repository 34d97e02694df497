/* Checks the focal loss plugin from outside: load the built module into a
 * registry, create the loss from a config section as a task would, and
 * compare its values with cross-entropy (gamma 0) and with a direct
 * computation (gamma 2, class weights), and its gradients (through
 * autograd) with finite differences. Usage: focal_check PLUGIN.so */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "medfm/ops.h"
#include "medfm/runner.h"

static int failures;

static void expect_close(const char *what, double got, double want) {
    int ok = fabs(got - want) <= 1e-9 * (1 + fabs(want));
    printf("%s %s: got %.12f, want %.12f\n", ok ? "ok  " : "FAIL", what, got, want);
    failures += !ok;
}

static const double logits_data[2 * 3] = {1.0, -0.5, 0.25, 0.1, 2.0, -1.0};
static const int64_t label_data[2] = {0, 2};

/* Loss value of the plugin configured by `yaml` on logits x (2, 3) and the
 * fixed labels; with `grad`, also d loss / d x through autograd. */
static mf_status focal_eval(mf_registry *reg, const char *yaml, const double *x, double *out, double *grad) {
    int64_t ls[2] = {2, 3}, ys[1] = {2};
    mf_cfg *cfg = NULL;
    mf_loss *loss = NULL;
    mf_batch in = {0};
    mf_tensor *logits = NULL, *label = NULL, *value = NULL;
    mf_status st;
    MF_CHECK(mf_cfg_parse_string(yaml, "<focal_check>", &cfg));
    MF_CHECK(mf_plugin_create_loss(reg, cfg, &loss));
    MF_CHECK(mf_tensor_from_data(2, ls, MF_F64, x, &logits));
    MF_CHECK(mf_tensor_from_data(1, ys, MF_I64, label_data, &label));
    if (grad)
        MF_CHECK(mf_tensor_set_requires_grad(logits, true));
    MF_CHECK(mf_batch_put(&in, "logits", mf_tensor_retain(logits)));
    MF_CHECK(mf_batch_put(&in, "label", mf_tensor_retain(label)));
    MF_CHECK(loss->forward(loss, &in, &value, NULL));
    MF_CHECK(mf_tensor_item(value, out));
    if (grad) {
        MF_CHECK(mf_backward(value, NULL, false));
        st = mf_tensor_to_host(logits->grad, MF_F64, grad, 6 * sizeof *grad);
    }
cleanup:
    mf_batch_clear(&in);
    mf_tensor_release(logits);
    mf_tensor_release(label);
    mf_tensor_release(value);
    if (loss)
        loss->destroy(loss);
    mf_cfg_free(cfg);
    return st;
}

static mf_status focal_value(mf_registry *reg, const char *yaml, double *out) {
    return focal_eval(reg, yaml, logits_data, out, NULL);
}

/* Autograd's gradient against central finite differences. */
static void check_gradient(mf_registry *reg, const char *yaml) {
    double v, g[6], x[6];
    if (focal_eval(reg, yaml, logits_data, &v, g) != MF_OK) {
        printf("FAIL gradient of %s: %s\n", yaml, mf_last_error());
        failures++;
        return;
    }
    double worst = 0;
    for (int i = 0; i < 6; i++) {
        double hi, lo, h = 1e-6;
        memcpy(x, logits_data, sizeof x);
        x[i] += h;
        focal_eval(reg, yaml, x, &hi, NULL);
        x[i] -= 2 * h;
        focal_eval(reg, yaml, x, &lo, NULL);
        double fd = (hi - lo) / (2 * h), err = fabs(fd - g[i]) / (1 + fabs(fd));
        worst = err > worst ? err : worst;
    }
    int ok = worst < 1e-6;
    printf("%s gradient of %s matches finite differences (worst relative error %.2e)\n", ok ? "ok  " : "FAIL",
           yaml, worst);
    failures += !ok;
}

/* -alpha[y] (1 - p_y)^gamma log p_y for the same logits, by hand. */
static double by_hand(double gamma, const double *alpha, int sum) {
    double total = 0;
    for (int i = 0; i < 2; i++) {
        const double *x = logits_data + 3 * i;
        double p = exp(x[label_data[i]]) / (exp(x[0]) + exp(x[1]) + exp(x[2]));
        total += -(alpha ? alpha[label_data[i]] : 1.0) * pow(1 - p, gamma) * log(p);
    }
    return sum ? total : total / 2;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: focal_check PLUGIN.so\n");
        return 2;
    }
    mf_registry *reg = NULL;
    double v;
    if (mf_registry_new(&reg) != MF_OK || mf_registry_load(reg, argv[1]) != MF_OK) {
        fprintf(stderr, "focal_check: %s\n", mf_last_error());
        mf_registry_free(reg);
        return 1;
    }
    const double alpha[3] = {0.25, 1.0, 2.0};
    struct {
        const char *yaml, *what;
        double want;
    } cases[] = {
        {"{plugin: focal, gamma: 0}", "gamma 0 equals cross-entropy", by_hand(0, NULL, 0)},
        {"{plugin: focal}", "default gamma 2", by_hand(2, NULL, 0)},
        {"{plugin: focal, gamma: 0.5, alpha: [0.25, 1.0, 2.0], reduction: sum}", "gamma 0.5, alpha, sum",
         by_hand(0.5, alpha, 1)},
    };
    for (int i = 0; i < 3; i++) {
        if (focal_value(reg, cases[i].yaml, &v) != MF_OK) {
            printf("FAIL %s: %s\n", cases[i].what, mf_last_error());
            failures++;
        } else {
            expect_close(cases[i].what, v, cases[i].want);
        }
    }
    for (int i = 0; i < 3; i++)
        check_gradient(reg, cases[i].yaml);
    /* Bad settings are config errors naming the key. */
    if (focal_value(reg, "{plugin: focal, gamma: -1}", &v) == MF_OK) {
        printf("FAIL a negative gamma was accepted\n");
        failures++;
    } else {
        printf("ok   negative gamma rejected: %s\n", mf_last_error());
    }
    if (focal_value(reg, "{plugin: focal, alpha: [1, 2]}", &v) == MF_OK) {
        printf("FAIL alpha with the wrong class count was accepted\n");
        failures++;
    } else {
        printf("ok   wrong alpha length rejected: %s\n", mf_last_error());
    }
    mf_registry_free(reg);
    printf("%s\n", failures ? "focal_check: FAILED" : "focal_check: all passed");
    return failures ? 1 : 0;
}
