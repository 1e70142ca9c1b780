/* table.h - aligned text tables for people: a header row, then rows, columns separated by two
 * spaces and padded to the widest cell (counted in characters, not bytes). Cells are copied;
 * control characters in them (a newline in a message body) print as spaces so that a row stays
 * one line. Pure: the unit tests render into a memory stream. */
#ifndef SIPCTL_TABLE_H
#define SIPCTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct table;

/* A table with NCOLS columns named by HEADERS (NCOLS strings, copied). Caller frees with
 * table_free(). NULL on allocation failure. */
struct table *table_new(size_t ncols, const char *const *headers);
/* Right-align column COL (numbers). */
void table_align_right(struct table *t, size_t col);
/* Append a row of NCOLS cells (NULL prints as "-"). Returns 0 or -ENOMEM. */
int table_add_row(struct table *t, const char *const *cells);
size_t table_rows(const struct table *t);
/* Write the table to OUT; no trailing spaces on any line. */
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

/* Display width of the UTF-8 string S (code points; continuation bytes do not count). */
size_t table_text_width(const char *s);

#endif
