/* fuzz_cpim.c - libFuzzer target for sipd/sip/cpim.c: the Content-Type reader
 * (cpim_media_type, fed the Content-Type of a published message) and the CPIM rendering of a
 * notification built from outside strings (cpim_render). The input is split at NULs into
 * content type, body, sender and topic; 16 bytes of it give the date, seq and gap numbers.
 * Invariants: the media type is lower-case, without parameters or spaces, NUL-terminated
 * within its buffer; the rendered body carries the published body unchanged at its end (or the
 * truncation notice), preceded by a blank line.
 *
 *   tests/fuzz/build.sh && mkdir -p c && ./fuzz_cpim -max_total_time=60 c tests/fuzz/corpus_cpim */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "sip/cpim.h"

static const char *next_part(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    const char *nul = memchr(s, '\0', (size_t)(end - s));
    *len = nul ? (size_t)(nul - s) : (size_t)(end - s);
    *p = nul ? nul + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16 || size > 70000)
        return 0;
    int64_t nums[2];
    memcpy(nums, data, 16);
    const char *p = (const char *)data + 16, *end = (const char *)data + size;
    size_t ctl, bodyl, froml, tol;
    const char *ct = next_part(&p, end, &ctl);
    const char *body = next_part(&p, end, &bodyl);
    const char *from = next_part(&p, end, &froml);
    const char *to = next_part(&p, end, &tol);
    char *cts = strndup(ct, ctl), *froms = strndup(from, froml), *tos = strndup(to, tol);
    char *bodyc = malloc(bodyl ? bodyl : 1); /* exactly its length: ASan sees a read past it */
    memcpy(bodyc, body, bodyl);

    char mt[64];
    memset(mt, 'x', sizeof mt);
    cpim_media_type(cts, mt, sizeof mt);
    if (!memchr(mt, '\0', sizeof mt))
        abort();
    for (const char *q = mt; *q; q++)
        if (isupper((unsigned char)*q) || *q == ';' || *q == ' ')
            abort();

    char date[32];
    cpim_datetime(nums[0] % 253402300800LL, date, sizeof date);

    struct sbuf out;
    sbuf_init(&out);
    int truncated = (nums[1] & 1) != 0;
    struct cpim_fields f = {
        .from = froms, .to = tos, .date = nums[0] % 253402300800LL, .seq = nums[1],
        .group_topic = (nums[1] & 2) ? tos : NULL, .gap_lo = (nums[1] & 4) ? 1 : 0,
        .gap_hi = nums[0], .content_type = cts, .body = bodyc, .body_len = bodyl,
        .truncated = truncated,
    };
    cpim_render(&out, &f);
    if (!truncated && bodyl) {
        if (out.len < bodyl + 4 || memcmp(out.p + out.len - bodyl, bodyc, bodyl) != 0 ||
            memcmp(out.p + out.len - bodyl - 4, "\r\n\r\n", 4) != 0)
            abort();
    }
    sbuf_free(&out);
    free(cts);
    free(froms);
    free(tos);
    free(bodyc);
    return 0;
}
