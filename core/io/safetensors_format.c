/* The dtype spellings of the safetensors format. */
#include "core/io/safetensors_format.h"

#include <string.h>

static const struct {
    const char *name;
    mf_dtype dt;
} names[] = {{"F32", MF_F32}, {"F64", MF_F64}, {"I32", MF_I32}, {"I64", MF_I64},   {"U8", MF_U8},   {"BOOL", MF_BOOL},
             {"BF16", MF_BF16}, {"F16", MF_F16}, {"I8", MF_I8}, {"I16", MF_I16}, {"U16", MF_U16}};

mf_status mf_st_dtype_from_name(const char *s, mf_dtype *out) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, s) == 0) {
            *out = names[i].dt;
            return MF_OK;
        }
    return MF_ERR_FORMAT;
}

const char *mf_st_dtype_name(mf_dtype dt) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].dt == dt)
            return names[i].name;
    return "?";
}
