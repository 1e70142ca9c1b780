/* pidf.h - PIDF documents (RFC 3863), a body format of the presence package (like cpim.h for
 * `im`): the check a published body must pass, and the composition of a presentity's
 * publications into the one document its watchers receive (the rule is docs/presence.md §4).
 * Pure functions on plain byte ranges: no I/O, no global state, no store type. */
#ifndef SIPD_PIDF_H
#define SIPD_PIDF_H

#include <stddef.h>

struct sbuf;

#define PIDF_NS "urn:ietf:params:xml:ns:pidf"
#define PIDF_CONTENT_TYPE "application/pidf+xml"

/* Is doc[0..len) a PIDF document we can compose: well-formed as far as this small scanner
 * checks (matching tags, quoted attributes, no DOCTYPE, no NUL), with a root element `presence`
 * in the PIDF namespace? Returns 0 or -1. doc need not be NUL-terminated. */
int pidf_check(const char *doc, size_t len);

/* One publication of a presentity, as pidf_compose() reads it. Nothing is NUL-terminated but
 * content_type and etag; all of it is borrowed for the duration of the call. */
struct pidf_part {
    const char *content_type; /* its Content-Type (NULL: unknown, so not composed) */
    const char *body;         /* body[0..body_len), as published */
    size_t body_len;
    const char *etag;         /* its entity-tag, only named in the debug log (may be NULL) */
};

/* Compose the document for presentity `aor` from its publications v[0..n) (oldest first, as the
 * store returns them) into out (appended): every <tuple> child of every publication that is
 * PIDF, newest publication first, each tuple carrying the namespace declarations of its source
 * document's root; a tuple whose id an earlier (newer) tuple already used is left out. With no
 * tuple at all the document holds one tuple with <basic>closed</basic>. Publications that are
 * not PIDF contribute nothing. Returns the number of tuples taken from publications. The result
 * always passes pidf_check(). */
size_t pidf_compose(const char *aor, const struct pidf_part *v, size_t n, struct sbuf *out);

#endif
