/* fuzz_digest.c - libFuzzer target for the digest credentials parser and the header scanner
 * (sipd/sip/digest.c), which read the Authorization / Proxy-Authorization headers of every
 * challenged request. The input is taken both as a whole request (the scanner finds the
 * headers, each is parsed) and as one header value; for credentials that parse, the expected
 * response is computed with both algorithms and a challenge is written. Invariants: every field
 * is NUL-terminated inside its buffer, a parsed response has its algorithm's hex length.
 *
 *   tests/fuzz/build.sh && mkdir -p d && ./fuzz_digest -max_total_time=60 d tests/fuzz/corpus_digest */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/digest.h"

static void check_one(const char *v, size_t len)
{
    struct digest_credentials c;
    int rc = digest_parse_credentials(v, len, &c);
    if (memchr(c.username, '\0', sizeof c.username) == NULL || memchr(c.uri, '\0', sizeof c.uri) == NULL ||
        memchr(c.nc, '\0', sizeof c.nc) == NULL || memchr(c.response, '\0', sizeof c.response) == NULL)
        abort();
    if (rc != DIGEST_OK)
        return;
    if (strlen(c.response) != digest_hex_len(c.alg))
        abort();
    char ha1[DIGEST_MAX_HEX + 1], resp[DIGEST_MAX_HEX + 1], hdrs[2048];
    static const enum digest_alg algs[] = {DIGEST_SHA256, DIGEST_MD5};
    for (int a = 0; a < DIGEST_NALGS; a++) {
        if (digest_ha1((enum digest_alg)a, c.username, c.realm, "pw", ha1) == 0 &&
            digest_expected_response((enum digest_alg)a, ha1, "REGISTER", &c, resp) == 0)
            (void)digest_hex_equal(resp, c.response);
    }
    (void)digest_challenge_headers("WWW-Authenticate", c.realm, c.nonce, 1, algs, 2, hdrs, sizeof hdrs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 70000)
        return 0;
    /* an exact-length copy, so ASan sees any read past the end */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    const char *vals[8];
    size_t lens[8];
    int n = digest_find_credentials(buf, size, vals, lens, 8);
    for (int i = 0; i < n; i++) {
        if (vals[i] < buf || vals[i] + lens[i] > buf + size)
            abort();
        check_one(vals[i], lens[i]);
    }
    check_one(buf, size);
    free(buf);
    return 0;
}
