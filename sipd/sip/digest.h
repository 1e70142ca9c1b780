/* digest.h - HTTP Digest for SIP (RFC 3261 §22.4, RFC 2617, RFC 8760): the credentials of an
 * Authorization or Proxy-Authorization header, the hashes (MD5 and SHA-256, through GnuTLS),
 * and the challenge headers (WWW-Authenticate / Proxy-Authenticate).
 *
 * Only what a server needs: parse what a client sends, compute what it should have sent, and
 * say what it must send. Everything from the wire is length-bounded (DIGEST_MAX_* below); a
 * value that does not fit makes the header malformed, never a truncated copy. */
#ifndef SIPD_DIGEST_H
#define SIPD_DIGEST_H

#include <stddef.h>

#define DIGEST_MAX_HEADER 4096  /* one Authorization header value */
#define DIGEST_MAX_FIELD 256    /* username, realm, nonce, cnonce, opaque, qop, algorithm */
#define DIGEST_MAX_URI 1024     /* the uri parameter */
#define DIGEST_MAX_HEX 64       /* a SHA-256 digest in hex */

enum digest_alg { DIGEST_MD5 = 0, DIGEST_SHA256 = 1, DIGEST_NALGS = 2 };

/* What digest_parse_credentials() reports. */
enum digest_parse_result {
    DIGEST_OK = 0,
    DIGEST_EMALFORMED = -1,   /* not a well-formed Digest header: answer 400 */
    DIGEST_EUNSUPPORTED = -2, /* well-formed, but a scheme or algorithm we do not offer */
};

/* The parameters of one Digest credentials header, unquoted (quoted-pairs resolved) and
 * NUL-terminated. A parameter absent from the header is "" (algorithm: DIGEST_MD5). */
struct digest_credentials {
    char username[DIGEST_MAX_FIELD];
    char realm[DIGEST_MAX_FIELD];
    char nonce[DIGEST_MAX_FIELD];
    char uri[DIGEST_MAX_URI];
    char response[DIGEST_MAX_HEX + 1];
    char cnonce[DIGEST_MAX_FIELD];
    char nc[9];            /* 8 hex digits */
    char qop[DIGEST_MAX_FIELD];
    char opaque[DIGEST_MAX_FIELD];
    enum digest_alg alg;
};

/* Parse the value of an Authorization or Proxy-Authorization header (after the colon), len
 * bytes, no NUL needed. Line folding (CRLF followed by SP/HTAB) counts as white space. A
 * credentials header is well-formed when it is "Digest" followed by comma-separated
 * name=value pairs (token or quoted-string values), username, realm, nonce, uri and response
 * present, response of hex digits of the algorithm's length, nc (when present) 8 hex digits,
 * and no parameter given twice. Unknown parameters are skipped. Returns DIGEST_OK,
 * DIGEST_EMALFORMED or DIGEST_EUNSUPPORTED (another scheme, an algorithm other than MD5 and
 * SHA-256, e.g. a -sess one); *out is filled only as far as it got. */
int digest_parse_credentials(const char *value, size_t len, struct digest_credentials *out);

/* Point vals/lens at the values of the Authorization and Proxy-Authorization headers of a
 * request's raw bytes (after the request line; the headers end at the first empty line; folded
 * lines belong to their header), at most max of them. Returns how many, or -1 when one is longer
 * than DIGEST_MAX_HEADER. */
int digest_find_credentials(const char *raw, size_t raw_len, const char **vals, size_t *lens,
                            size_t max);

/* "MD5" / "SHA-256". */
const char *digest_alg_name(enum digest_alg alg);
/* Hex length of the algorithm's digest (32 / 64). */
size_t digest_hex_len(enum digest_alg alg);

/* Lower-case hex digest of data[0..len) into hex (room for DIGEST_MAX_HEX + 1). Returns 0 or
 * -1 (GnuTLS refused, e.g. MD5 in FIPS mode). */
int digest_hash_hex(enum digest_alg alg, const void *data, size_t len, char *hex);

/* HA1 = H(username ":" realm ":" password) in hex. Returns 0 or -1. */
int digest_ha1(enum digest_alg alg, const char *username, const char *realm, const char *password,
               char *hex);

/* The response a client with the right HA1 (hex) sends for credentials c and method (RFC 2617
 * §3.2.2.1 with qop=auth: H(HA1:nonce:nc:cnonce:qop:H(method:uri)); without qop, RFC 2069's
 * H(HA1:nonce:H(method:uri))). Returns 0 or -1. */
int digest_expected_response(enum digest_alg alg, const char *ha1_hex, const char *method,
                             const struct digest_credentials *c, char *hex);

/* Compare two hex digests in constant time, ignoring letter case. 1 when equal. */
int digest_hex_equal(const char *a, const char *b);

/* The challenge headers, complete lines ("Name: value\r\n"), one per algorithm of algs[0..nalgs)
 * in that order (RFC 8760 §2.4: the server's preference first; sipd offers SHA-256 then MD5),
 * each with qop="auth" and the same nonce, ", stale=true" when is_stale; header is
 * "WWW-Authenticate" or "Proxy-Authenticate". Returns the length written, or -1 when it does not
 * fit in out (n bytes) or realm/nonce hold a quote, backslash or control character. */
int digest_challenge_headers(const char *header, const char *realm, const char *nonce, int is_stale,
                             const enum digest_alg *algs, size_t nalgs, char *out, size_t n);

/* Parse an algorithm list ("SHA-256,MD5", case-insensitive, comma or space separated, each at
 * most once) into algs (room for DIGEST_NALGS). Returns how many (>= 1), or -1 when malformed. */
int digest_parse_alg_list(const char *s, enum digest_alg *algs);

#endif
