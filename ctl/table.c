/* table.c - aligned text tables (see table.h). The table keeps every cell until it is printed
 * because a column's width is only known once the last row is in. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

struct table {
    size_t ncols;
    size_t nrows, cap;  /* rows, not counting the header */
    char **cells;       /* (nrows + 1) * ncols, row 0 is the header */
    bool *is_right;     /* per column */
};

size_t table_text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* A copy of S with control characters (tabs, newlines, ESC) replaced by spaces. */
static char *cell_copy(const char *s)
{
    char *c = strdup(s ? s : "-");
    if (!c)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return c;
}

/* Room for one more row (the header is row 0, so NROWS + 2 rows in all). */
static int grow(struct table *t)
{
    if (t->nrows + 2 <= t->cap)
        return 0;
    size_t cap = t->cap * 2;
    char **n = realloc(t->cells, cap * t->ncols * sizeof(*n));
    if (!n)
        return -ENOMEM;
    t->cells = n;
    t->cap = cap;
    return 0;
}

struct table *table_new(size_t ncols, const char *const *headers)
{
    struct table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->is_right = calloc(ncols, sizeof(*t->is_right));
    t->cap = 8;
    t->cells = calloc(t->cap * ncols, sizeof(*t->cells));
    if (!t->is_right || !t->cells) {
        table_free(t);
        return NULL;
    }
    for (size_t c = 0; c < ncols; c++)
        t->cells[c] = cell_copy(headers[c]);
    return t;
}

void table_align_right(struct table *t, size_t col)
{
    if (col < t->ncols)
        t->is_right[col] = true;
}

int table_add_row(struct table *t, const char *const *cells)
{
    if (grow(t) < 0)
        return -ENOMEM;
    char **row = t->cells + (t->nrows + 1) * t->ncols;
    for (size_t c = 0; c < t->ncols; c++)
        row[c] = cell_copy(cells[c]);
    t->nrows++;
    return 0;
}

size_t table_rows(const struct table *t) { return t->nrows; }

void table_print(const struct table *t, FILE *out)
{
    size_t *width = calloc(t->ncols, sizeof(*width));
    if (!width)
        return;
    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++) {
        size_t w = table_text_width(t->cells[i]);
        if (w > width[i % t->ncols])
            width[i % t->ncols] = w;
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        size_t pending = 0; /* spaces owed before the next text: none at the end of a line */
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t fill = width[c] - table_text_width(s);
            if (c > 0)
                pending += 2;
            if (t->is_right[c])
                pending += fill;
            if (*s) {
                fprintf(out, "%*s%s", (int)pending, "", s);
                pending = 0;
            }
            if (!t->is_right[c])
                pending += fill;
        }
        fputc('\n', out);
    }
    free(width);
}

void table_free(struct table *t)
{
    if (!t)
        return;
    if (t->cells)
        for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
            free(t->cells[i]);
    free(t->cells);
    free(t->is_right);
    free(t);
}
