/* format.h - JSON fields as table cells: text, numbers, durations, times. */
#ifndef SIPCTL_FORMAT_H
#define SIPCTL_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "commands.h"
#include "table.h"

/* A field of OBJ as text, in BUF when it is not a string already: numbers (whole ones without a
 * fraction), yes/no, arrays joined with ',', "-" for null or absent. BUF may be NULL for a
 * field known to be a string ("?" if it is not). */
const char *ctl_field(const json_t *obj, const char *key, char *buf, size_t len);
/* The number field KEY of OBJ into *OUT; false when absent or not a number. */
bool ctl_number(const json_t *obj, const char *key, double *out);
/* A duration in milliseconds the way people read it: 412ms, 3.2s, 4m05s, 2h10m, 3d04h. */
const char *ctl_duration(double ms, char *buf, size_t len);
/* Unix milliseconds as local "YYYY-MM-DD HH:MM:SS". */
const char *ctl_timestamp(double ms, char *buf, size_t len);
/* A millisecond field as "0.41ms", "-" when absent. */
const char *ctl_ms_field(const json_t *obj, const char *key, char *buf, size_t len);
/* Print T on ctx->out and free it. */
void ctl_print_table(struct ctl_ctx *ctx, struct table *t);
/* The fields of OBJ as a FIELD/VALUE table, in the order the API sent them. */
void ctl_print_object(struct ctl_ctx *ctx, json_t *obj);

#endif
