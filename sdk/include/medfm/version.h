/* Library and plugin ABI versions. A plugin built for ABI major M loads only
 * into a core of the same major whose minor is not older than the plugin's. */
#ifndef MEDFM_VERSION_H
#define MEDFM_VERSION_H

#define MEDFM_VERSION_MAJOR 0
#define MEDFM_VERSION_MINOR 1
#define MEDFM_VERSION_PATCH 0
#define MEDFM_VERSION_STRING "0.1.0"

#define MEDFM_ABI_MAJOR 1
#define MEDFM_ABI_MINOR 0

const char *mf_version(void);

#endif
