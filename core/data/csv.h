/* A small RFC 4180 CSV reader: quoted fields, doubled quotes, newlines
 * inside quotes, CRLF. Internal to the data layer. */
#ifndef MEDFM_DATA_CSV_H
#define MEDFM_DATA_CSV_H

#include <stddef.h>

#include "medfm/status.h"

typedef struct mf_csv_record {
    char **fields;
    int n, cap;
    int line; /* 1-based line where the record starts */
} mf_csv_record;

typedef struct mf_csv {
    const char *text, *name;
    size_t len, pos;
    int line;
} mf_csv;

void mf_csv_init(mf_csv *c, const char *text, size_t len, const char *name);
/* Next record into r (fields replaced). *eof at the end. Errors name
 * name:line (unterminated quote, text after a closing quote, NUL byte). */
mf_status mf_csv_next(mf_csv *c, mf_csv_record *r, int *eof);
void mf_csv_record_free(mf_csv_record *r);

#endif
