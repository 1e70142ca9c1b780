/* json.h - writing JSON text: strings escaped per RFC 8259 §7.
 *
 * Only what emitting small objects needs (the event stream's payloads, base/events.c); parsing
 * is Jansson's job in api/. */
#ifndef SIPD_JSON_H
#define SIPD_JSON_H

#include <stddef.h>

struct sbuf;

/* Append s[0..len) to out as a JSON string, quotes included: '"' and '\\' escaped, control
 * characters as \n, \r, \t, \b, \f or \u00XX, and every byte that is not part of well-formed
 * UTF-8 replaced by U+FFFD, so that the output is valid JSON whatever the input. */
void json_put_stringn(struct sbuf *out, const char *s, size_t len);
/* The same for a NUL-terminated string; NULL is written as null. */
void json_put_string(struct sbuf *out, const char *s);

#endif
