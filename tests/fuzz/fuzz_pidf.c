/* fuzz_pidf.c - libFuzzer target for the PIDF scanner and composition (sipd/sip/pidf.c), which
 * read PUBLISH bodies from the network. The input is split at the first NUL into two bodies,
 * composed as two publications; the invariant checked is the one pidf.h promises: a composed
 * document always passes pidf_check().
 *
 *   tests/fuzz/build.sh && mkdir -p p &&
 *   ./fuzz_pidf -max_total_time=60 -dict=tests/fuzz/pidf.dict p tests/fuzz/corpus_pidf */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "sip/pidf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 70000)
        return 0;
    const char *a = (const char *)data;
    const char *nul = memchr(a, '\0', size);
    size_t alen = nul ? (size_t)(nul - a) : size;
    const char *b = nul ? nul + 1 : "";
    size_t blen = nul ? size - alen - 1 : 0;
    /* copies of exactly the body length, so ASan sees any read past the end */
    char *ca = malloc(alen ? alen : 1), *cb = malloc(blen ? blen : 1);
    memcpy(ca, a, alen);
    memcpy(cb, b, blen);
    pidf_check(ca, alen);
    pidf_check(cb, blen);
    struct pidf_part v[2] = {
        {.content_type = PIDF_CONTENT_TYPE, .body = ca, .body_len = alen, .etag = "e1"},
        {.content_type = PIDF_CONTENT_TYPE, .body = cb, .body_len = blen, .etag = "e2"},
    };
    struct sbuf out;
    sbuf_init(&out);
    pidf_compose("sip:a&<\"@example.com", v, 2, &out);
    if (!out.failed && pidf_check(out.p, out.len) != 0)
        abort(); /* a composed document must be one we accept */
    sbuf_free(&out);
    free(ca);
    free(cb);
    return 0;
}
