/* libFuzzer target for the manifest parser (CSV and JSONL): any bytes give
 * either a manifest or an error, never a crash or a leak. Built only by
 * `make fuzz` (clang -fsanitize=fuzzer -DMEDFM_FUZZ); empty otherwise, since
 * the test suite globs every .c under tests/. */
typedef int mf_fuzz_manifest_unused_;
#ifdef MEDFM_FUZZ
#include <stddef.h>
#include <stdint.h>

#include "medfm/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mf_manifest m;
    /* first byte picks the format hint the file name would give */
    const char *name = size && (data[0] & 1) ? "fuzz.jsonl" : "fuzz.csv";
    if (mf_manifest_parse((const char *)data, size, name, &m) == MF_OK)
        mf_manifest_free(&m);
    return 0;
}
#endif
