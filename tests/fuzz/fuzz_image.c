/* libFuzzer target for the PNG/JPEG readers: the bytes go through a file
 * (the readers take paths) and must decode or fail cleanly. Built only by
 * `make fuzz`. */
typedef int mf_fuzz_image_unused_;
#ifdef MEDFM_FUZZ
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "medfm/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/medfm_fuzz_image_%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    mf_tensor *t = NULL;
    if (mf_image_read(path, &t) == MF_OK)
        mf_tensor_release(t);
    return 0;
}
#endif
