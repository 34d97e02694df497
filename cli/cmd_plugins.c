/* medfm plugins [--kind K] | medfm plugins --describe NAME */
#include <math.h>
#include <stdio.h>

#include "cli/cli.h"

static const char help[] =
    "usage: medfm plugins [--kind KIND] [--describe NAME]\n"
    "\n"
    "Lists the plugins found in the install's plugin directory and\n"
    "MEDFM_PLUGIN_PATH (kind, name, version, file). --describe NAME prints\n"
    "every config key of a plugin with its type, default and doc.\n"
    "Kinds: encoder, solver, grad_estimator, loss, task, dataset.\n";

static const char *type_name(mf_key_type t) {
    static const char *names[] = {"bool", "int", "float", "string", "path", "choice", "list", "map", "section", "any"};
    return t <= MF_KEY_ANY ? names[t] : "?";
}

static void describe_schema(const mf_schema *s, int indent) {
    for (int i = 0; s && i < s->n_keys; i++) {
        const mf_key_spec *k = &s->keys[i];
        char type[256];
        if (k->type == MF_KEY_CHOICE)
            snprintf(type, sizeof type, "choice(%s)", k->choices ? k->choices : "");
        else
            snprintf(type, sizeof type, "%s", type_name(k->type));
        char range[96] = "";
        if ((k->type == MF_KEY_INT || k->type == MF_KEY_FLOAT) && (!isnan(k->min) || !isnan(k->max)))
            snprintf(range, sizeof range, " in [%s%g, %s%g]", "", isnan(k->min) ? -INFINITY : k->min, "",
                     isnan(k->max) ? INFINITY : k->max);
        printf("%*s%-18s %-24s default: %-12s %s%s\n", indent, "", k->name, type, k->def ? k->def : "(required)",
               k->doc ? k->doc : "", range);
        if (k->type == MF_KEY_SECTION && k->section)
            describe_schema(k->section, indent + 2);
    }
}

int cmd_plugins(int argc, char **argv) {
    const char *kind_s = NULL, *describe = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--kind") && i + 1 < argc) {
            kind_s = argv[++i];
        } else if (!strcmp(argv[i], "--describe") && i + 1 < argc) {
            describe = argv[++i];
        } else {
            fprintf(stderr, "medfm plugins: unexpected argument '%s'\n\n%s", argv[i], help);
            return EXIT_USAGE;
        }
    }
    mf_plugin_kind kind = MF_KIND_COUNT;
    if (kind_s && mf_plugin_kind_parse(kind_s, &kind) != MF_OK) {
        fprintf(stderr, "medfm plugins: %s\n", mf_last_error());
        return EXIT_USAGE;
    }
    mf_registry *reg;
    if (mf_registry_new(&reg) != MF_OK) {
        fprintf(stderr, "medfm plugins: %s\n", mf_last_error());
        return EXIT_RUNTIME;
    }
    int rc = EXIT_OK;
    if (mf_registry_load_defaults(reg) != MF_OK) {
        fprintf(stderr, "medfm plugins: warning: %s\n", mf_last_error());
    }
    int n = mf_registry_count(reg);
    if (describe) {
        int found = 0;
        const char *names[512];
        int nn = 0;
        for (int i = 0; i < n; i++) {
            const mf_plugin_info *p = mf_registry_at(reg, i);
            if (nn < 512)
                names[nn++] = p->name;
            if (strcmp(p->name, describe) || (kind_s && p->kind != kind))
                continue;
            found++;
            printf("%s %s %s (%s)\n  %s\n\nkeys:\n", mf_plugin_kind_name(p->kind), p->name, p->version,
                   mf_registry_file(reg, i), p->doc ? p->doc : "");
            printf("  %-18s %-24s default: %-12s %s\n", "plugin", "string", "(required)", "the plugin's name");
            describe_schema(p->schema, 2);
            if (p->schema && p->schema->open)
                printf("  (other keys are allowed)\n");
        }
        if (!found) {
            const char *dym = mf_did_you_mean(describe, names, nn);
            fprintf(stderr, "medfm plugins: no plugin named '%s'%s%s%s\n", describe, dym ? " (did you mean '" : "",
                    dym ? dym : "", dym ? "'?)" : "");
            rc = EXIT_USAGE;
        }
    } else {
        printf("%-15s %-24s %-8s %s\n", "KIND", "NAME", "VERSION", "FILE");
        for (int i = 0; i < n; i++) {
            const mf_plugin_info *p = mf_registry_at(reg, i);
            if (kind_s && p->kind != kind)
                continue;
            printf("%-15s %-24s %-8s %s\n", mf_plugin_kind_name(p->kind), p->name, p->version,
                   mf_registry_file(reg, i));
        }
    }
    mf_registry_free(reg);
    return rc;
}
