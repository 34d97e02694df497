/* The medfm command line: one file per verb. Exit codes: 0 ok, 1 runtime
 * failure, 2 usage or config error; a run stopped by SIGINT/SIGTERM exits
 * 128 + signal after its checkpoint is saved. */
#ifndef MEDFM_CLI_H
#define MEDFM_CLI_H

#include <stdbool.h>
#include <string.h>

#include "medfm/medfm.h"
#include "medfm/runner.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_eval(int argc, char **argv);

static inline bool cli_is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }
/* Exit code for a failed library call: config/usage problems are 2. */
static inline int cli_exit_for(mf_status st) {
    return (st == MF_ERR_CONFIG || st == MF_ERR_NOT_FOUND || st == MF_ERR_PLUGIN) ? EXIT_USAGE : EXIT_RUNTIME;
}

#endif
