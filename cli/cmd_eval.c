/* medfm eval CONFIG --checkpoint C [--split val|test] [k=v ...] */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const char help[] =
    "usage: medfm eval CONFIG --checkpoint C [--split val|test] [key.sub=value ...]\n"
    "\n"
    "Builds the experiment's model, loads weights from C (a model\n"
    ".safetensors, a checkpoint directory or a run directory: its best model)\n"
    "and prints the task's metrics on data.<split> (default val), one\n"
    "'name value' per line.\n";

int cmd_eval(int argc, char **argv) {
    const char *config = NULL, *ckpt = NULL, *split = "val";
    const char **over = calloc((size_t)argc, sizeof *over);
    int n_over = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(help, stdout);
            free(over);
            return EXIT_OK;
        } else if (!strcmp(a, "--checkpoint") && i + 1 < argc) {
            ckpt = argv[++i];
        } else if (!strcmp(a, "--split") && i + 1 < argc) {
            split = argv[++i];
        } else if (a[0] == '-' || (!strchr(a, '=') && config)) {
            fprintf(stderr, "medfm eval: unexpected argument '%s'\n\n%s", a, help);
            free(over);
            return EXIT_USAGE;
        } else if (strchr(a, '=')) {
            over[n_over++] = a;
        } else {
            config = a;
        }
    }
    if (!config || !ckpt) {
        fprintf(stderr, "medfm eval: CONFIG and --checkpoint are required\n\n%s", help);
        free(over);
        return EXIT_USAGE;
    }
    mf_experiment *e = NULL;
    mf_status st = mf_experiment_load(config, n_over, over, NULL, &e);
    free(over);
    if (st != MF_OK) {
        fprintf(stderr, "medfm eval: %s\n", mf_last_error());
        return EXIT_USAGE;
    }
    mf_metrics m;
    st = mf_experiment_eval(e, ckpt, split, &m);
    mf_experiment_free(e);
    if (st != MF_OK) {
        fprintf(stderr, "medfm eval: %s\n", mf_last_error());
        return st == MF_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    for (int i = 0; i < m.n; i++)
        printf("%s %.6f\n", m.names[i], m.values[i]);
    return EXIT_OK;
}
