/* medfm validate CONFIG [k=v ...]: every problem, then a non-zero exit. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const char help[] =
    "usage: medfm validate CONFIG [key.sub=value ...]\n"
    "\n"
    "Resolves CONFIG (base files, overrides, defaults), loads its plugins and\n"
    "checks every section against its schema, builds the model once (which\n"
    "checks sub-plugin sections) and the files it names. Prints every problem\n"
    "and exits 2 when there is any, else prints 'ok' and exits 0.\n";

int cmd_validate(int argc, char **argv) {
    const char *config = NULL;
    const char **over = calloc((size_t)argc, sizeof *over);
    int n_over = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            free(over);
            return EXIT_OK;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "medfm validate: unknown option '%s'\n\n%s", argv[i], help);
            free(over);
            return EXIT_USAGE;
        } else if (strchr(argv[i], '=')) {
            over[n_over++] = argv[i];
        } else if (!config) {
            config = argv[i];
        } else {
            fprintf(stderr, "medfm validate: unexpected argument '%s'\n", argv[i]);
            free(over);
            return EXIT_USAGE;
        }
    }
    if (!config) {
        fprintf(stderr, "medfm validate: CONFIG is missing\n\n%s", help);
        free(over);
        return EXIT_USAGE;
    }
    mf_diag d = {0};
    mf_experiment *e = NULL;
    mf_status st = mf_experiment_load(config, n_over, over, &d, &e);
    free(over);
    if (!e) {
        fprintf(stderr, "%s\n", mf_last_error());
        mf_diag_free(&d);
        return EXIT_USAGE;
    }
    if (st == MF_OK)
        mf_experiment_check(e, &d);
    int n = d.n;
    for (int i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    mf_diag_free(&d);
    mf_experiment_free(e);
    if (n) {
        fprintf(stderr, "%s: %d problem%s\n", config, n, n > 1 ? "s" : "");
        return EXIT_USAGE;
    }
    printf("%s: ok\n", config);
    return EXIT_OK;
}
