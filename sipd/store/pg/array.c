/* array.c - array literals ('{"a","b"}', '{1,2}') for the array parameters of the PostgreSQL
 * store's statements, bounded by PG_MAX_PARAM_BYTES. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "../../base/sbuf.h"
#include "pg_impl.h"

/* ---- array parameters ------------------------------------------------------------------------ */

void pg_arr_put(struct pg_arr *sb, const char *s, size_t n)
{
    if (sb->is_bad)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        if (cap > PG_MAX_PARAM_BYTES) {
            sb->is_bad = 1;
            return;
        }
        char *p = realloc(sb->p, cap);
        if (!p) {
            sb->is_bad = 1;
            return;
        }
        sb->p = p;
        sb->cap = cap;
    }
    memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

static void sb_sep(struct pg_arr *sb, size_t i) { pg_arr_put(sb, i ? "," : "{", 1); }

/* An array element: always quoted (so "" and "NULL" stay strings), NULL unquoted. */
void pg_arr_text(struct pg_arr *sb, size_t i, const char *s)
{
    sb_sep(sb, i);
    if (!s) {
        pg_arr_put(sb, "NULL", 4);
        return;
    }
    pg_arr_put(sb, "\"", 1);
    for (const char *run = s;;) {
        size_t n = strcspn(run, "\"\\");
        pg_arr_put(sb, run, n);
        if (!run[n])
            break;
        pg_arr_put(sb, "\\", 1);
        pg_arr_put(sb, run + n, 1);
        run += n + 1;
    }
    pg_arr_put(sb, "\"", 1);
}

void pg_arr_int(struct pg_arr *sb, size_t i, int64_t v)
{
    char num[STR_U64_MAX + 1];
    size_t n;
    if (v < 0) {
        num[0] = '-';
        n = 1 + str_u64(num + 1, 0ULL - (unsigned long long)v);
    } else {
        n = str_u64(num, (unsigned long long)v);
    }
    sb_sep(sb, i);
    pg_arr_put(sb, num, n);
}

struct pg_arr pg_arr_borrow(struct pg_store *ps, int i)
{
    struct pg_arr a = ps->scratch[i];
    ps->scratch[i] = (struct pg_arr){0};
    a.len = 0;
    a.is_bad = 0;
    return a;
}

void pg_arr_return(struct pg_store *ps, int i, struct pg_arr *a)
{
    if (a->cap > PG_SCRATCH_KEEP_BYTES || ps->scratch[i].p) {
        free(a->p);
    } else {
        ps->scratch[i] = *a;
        ps->scratch[i].len = 0;
    }
    *a = (struct pg_arr){0};
}

void pg_arr_free_scratch(struct pg_store *ps)
{
    for (int i = 0; i < PG_SCRATCH_ARRAYS; i++) {
        free(ps->scratch[i].p);
        ps->scratch[i] = (struct pg_arr){0};
    }
}
