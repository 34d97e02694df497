/* medfm: dispatch to the verbs (cmd_<verb>.c). */
#include <stdio.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: medfm <command> [options]\n"
    "\n"
    "commands:\n"
    "  run CONFIG [k=v ...]        train an experiment (runs/<name>/)\n"
    "  validate CONFIG [k=v ...]   check a config: plugins, keys, types, files\n"
    "  plugins [--kind K]          list plugins; --describe NAME shows every key\n"
    "  embed CONFIG --input F --output F.safetensors   run the encoder\n"
    "  eval CONFIG --checkpoint C  evaluate weights on the validation data\n"
    "  --version                   print the version\n"
    "\n"
    "`medfm <command> --help` describes each command.\n";

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "--version")) {
        printf("medfm %s\n", mf_version());
        return EXIT_OK;
    }
    if (cli_is_help(verb) || !strcmp(verb, "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (!strcmp(verb, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(verb, "validate"))
        return cmd_validate(argc - 1, argv + 1);
    if (!strcmp(verb, "plugins"))
        return cmd_plugins(argc - 1, argv + 1);
    if (!strcmp(verb, "embed"))
        return cmd_embed(argc - 1, argv + 1);
    if (!strcmp(verb, "eval"))
        return cmd_eval(argc - 1, argv + 1);
    const char *verbs[] = {"run", "validate", "plugins", "embed", "eval"};
    const char *dym = mf_did_you_mean(verb, verbs, 5);
    fprintf(stderr, "medfm: unknown command '%s'%s%s%s\n\n%s", verb, dym ? " (did you mean '" : "", dym ? dym : "",
            dym ? "'?)" : "", usage);
    return EXIT_USAGE;
}
