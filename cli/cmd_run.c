/* medfm run CONFIG [k=v ...] [--output DIR] | medfm run --resume RUN_DIR [k=v ...] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const char help[] =
    "usage: medfm run CONFIG [key.sub=value ...] [--output DIR] [--quiet]\n"
    "       medfm run --resume RUN_DIR [key=value ...]\n"
    "\n"
    "Trains the experiment in CONFIG and writes DIR/<name>/ (default runs/):\n"
    "config.yaml (resolved), metrics.jsonl, log.txt, checkpoints/, summary.json.\n"
    "key=value arguments override any config key. SIGINT/SIGTERM save a\n"
    "checkpoint and stop (exit 130/143); --resume continues from it, and its\n"
    "key=value arguments may change where and how fast it goes on, never what\n"
    "it computes: device (e.g. device=cuda:1 or device=cpu), train.cuda_graph,\n"
    "train.cudnn_search, train.channels_last, train.tf32, train.log_every,\n"
    "data.<split>.workers. They are written into the run's config.yaml.\n";

int cmd_run(int argc, char **argv) {
    const char *config = NULL, *resume = NULL;
    const char **over = calloc((size_t)argc, sizeof *over);
    int n_over = 0;
    mf_run_options opt = mf_run_options_default();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(help, stdout);
            free(over);
            return EXIT_OK;
        } else if (!strcmp(a, "--output") && i + 1 < argc) {
            opt.output_dir = argv[++i];
        } else if (!strcmp(a, "--resume") && i + 1 < argc) {
            resume = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            opt.quiet = true;
        } else if (!strcmp(a, "--plain")) {
            opt.progress = 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "medfm run: unknown option '%s'\n\n%s", a, help);
            free(over);
            return EXIT_USAGE;
        } else if (strchr(a, '=')) {
            over[n_over++] = a;
        } else if (!config) {
            config = a;
        } else {
            fprintf(stderr, "medfm run: unexpected argument '%s' (overrides read key=value)\n", a);
            free(over);
            return EXIT_USAGE;
        }
    }
    if ((!config && !resume) || (config && resume)) {
        fprintf(stderr, "medfm run: give CONFIG [k=v ...] or --resume RUN_DIR [k=v ...]\n\n%s", help);
        free(over);
        return EXIT_USAGE;
    }
    mf_runner_install_signals();
    mf_run_result res;
    mf_status st;
    if (resume) {
        opt.n_resume_overrides = n_over;
        opt.resume_overrides = over;
        st = mf_run_resume(resume, &opt, &res);
    } else {
        mf_experiment *e = NULL;
        st = mf_experiment_load(config, n_over, over, NULL, &e);
        if (st != MF_OK) {
            fprintf(stderr, "medfm run: %s\n", mf_last_error());
            free(over);
            return EXIT_USAGE;
        }
        st = mf_experiment_run(e, &opt, &res);
        mf_experiment_free(e);
    }
    free(over);
    if (st == MF_ERR_INTERRUPTED) {
        fprintf(stderr, "medfm run: %s; continue with: medfm run --resume %s\n", mf_last_error(), res.run_dir);
        return res.signal ? 128 + res.signal : EXIT_RUNTIME;
    }
    if (st != MF_OK) {
        fprintf(stderr, "medfm run: %s\n", mf_last_error());
        return st == MF_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    printf("run directory: %s\n", res.run_dir);
    return EXIT_OK;
}
