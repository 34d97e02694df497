/* The library version string. */
#include "medfm/version.h"

const char *mf_version(void) { return MEDFM_VERSION_STRING; }
