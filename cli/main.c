/* The medfm command line. Verbs grow with the runtime; today: --version and
 * a smoke run of the engine. */
#include <stdio.h>
#include <string.h>

#include "medfm/medfm.h"

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("medfm %s\n", mf_version());
        return 0;
    }
    fprintf(stderr, "usage: medfm --version\n");
    return 2;
}
