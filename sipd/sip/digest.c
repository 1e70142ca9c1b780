/* digest.c - HTTP Digest credentials, hashes and challenges; see digest.h.
 *
 * The parser reads the header value once, left to right, copying each known parameter into
 * its fixed-size field of struct digest_credentials; nothing is allocated and every copy is
 * bounded, so a hostile header costs at most one pass over DIGEST_MAX_HEADER bytes. */
#include "digest.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

/* ---- parsing ------------------------------------------------------------------------------- */

struct cursor {
    const char *p, *end;
};

static int is_lws(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

static void skip_lws(struct cursor *c)
{
    while (c->p < c->end && is_lws(*c->p))
        c->p++;
}

/* RFC 3261 §25.1 token characters. */
static int is_token_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("-.!%*_+`'~", ch));
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return 0;
    }
    return 1;
}

/* A token at c into [*start, *start + *len). 0, or -1 when there is none. */
static int read_token(struct cursor *c, const char **start, size_t *len)
{
    *start = c->p;
    while (c->p < c->end && is_token_char((unsigned char)*c->p))
        c->p++;
    *len = (size_t)(c->p - *start);
    return *len ? 0 : -1;
}

/* A value (quoted-string or token) at c, unquoted into out (n bytes with the NUL); out NULL
 * reads and drops it. 0, or -1 when malformed or too long. */
static int read_value(struct cursor *c, char *out, size_t n)
{
    size_t o = 0;
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        for (;;) {
            if (c->p >= c->end)
                return -1; /* no closing quote */
            unsigned char ch = (unsigned char)*c->p++;
            if (ch == '"')
                break;
            if (ch == '\\') {
                if (c->p >= c->end)
                    return -1;
                ch = (unsigned char)*c->p++;
            }
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return -1; /* no parameter of ours holds a control character or line break */
            if (out) {
                if (o + 1 >= n)
                    return -1;
                out[o++] = (char)ch;
            }
        }
    } else {
        const char *s;
        size_t len;
        if (read_token(c, &s, &len) < 0)
            return -1;
        if (out) {
            if (len + 1 > n)
                return -1;
            memcpy(out, s, len);
            o = len;
        }
    }
    if (out)
        out[o] = '\0';
    return 0;
}

struct param {
    const char *name;
    size_t off, size;
};

#define P(nm, field) {nm, offsetof(struct digest_credentials, field), sizeof(((struct digest_credentials *)0)->field)}
static const struct param params[] = {
    P("username", username), P("realm", realm),   P("nonce", nonce),   P("uri", uri),
    P("response", response), P("cnonce", cnonce), P("nc", nc),         P("qop", qop),
    P("opaque", opaque),
};
#undef P
#define PARAM_ALGORITHM (sizeof params / sizeof params[0])

int digest_parse_credentials(const char *value, size_t len, struct digest_credentials *out)
{
    memset(out, 0, sizeof *out);
    if (!value || len > DIGEST_MAX_HEADER)
        return DIGEST_EMALFORMED;
    struct cursor c = {value, value + len};
    skip_lws(&c);
    const char *scheme;
    size_t slen;
    if (read_token(&c, &scheme, &slen) < 0)
        return DIGEST_EMALFORMED;
    if (slen != 6 || strncasecmp(scheme, "Digest", 6) != 0)
        return DIGEST_EUNSUPPORTED;
    if (c.p < c.end && !is_lws(*c.p))
        return DIGEST_EMALFORMED;
    unsigned seen = 0;
    int has_unsupported = 0;
    for (;;) {
        skip_lws(&c);
        while (c.p < c.end && *c.p == ',') { /* empty list elements */
            c.p++;
            skip_lws(&c);
        }
        if (c.p >= c.end)
            break;
        const char *name;
        size_t nlen;
        if (read_token(&c, &name, &nlen) < 0)
            return DIGEST_EMALFORMED;
        skip_lws(&c);
        if (c.p >= c.end || *c.p != '=')
            return DIGEST_EMALFORMED;
        c.p++;
        skip_lws(&c);
        size_t which = PARAM_ALGORITHM + 1; /* unknown */
        for (size_t i = 0; i < PARAM_ALGORITHM; i++)
            if (strlen(params[i].name) == nlen && strncasecmp(params[i].name, name, nlen) == 0)
                which = i;
        if (nlen == 9 && strncasecmp(name, "algorithm", 9) == 0)
            which = PARAM_ALGORITHM;
        if (which <= PARAM_ALGORITHM) {
            if (seen & (1u << which))
                return DIGEST_EMALFORMED;
            seen |= 1u << which;
        }
        if (which < PARAM_ALGORITHM) {
            if (read_value(&c, (char *)out + params[which].off, params[which].size) < 0)
                return DIGEST_EMALFORMED;
        } else if (which == PARAM_ALGORITHM) {
            char alg[DIGEST_MAX_FIELD];
            if (read_value(&c, alg, sizeof alg) < 0)
                return DIGEST_EMALFORMED;
            if (strcasecmp(alg, "MD5") == 0)
                out->alg = DIGEST_MD5;
            else if (strcasecmp(alg, "SHA-256") == 0)
                out->alg = DIGEST_SHA256;
            else
                has_unsupported = 1;
        } else if (read_value(&c, NULL, 0) < 0) {
            return DIGEST_EMALFORMED;
        }
        skip_lws(&c);
        if (c.p < c.end && *c.p != ',')
            return DIGEST_EMALFORMED;
    }
    /* username, realm, nonce, uri, response */
    if ((seen & 0x1f) != 0x1f)
        return DIGEST_EMALFORMED;
    if (out->nc[0] && (strlen(out->nc) != 8 || !is_hex(out->nc, 8)))
        return DIGEST_EMALFORMED;
    if (has_unsupported || (out->qop[0] && strcasecmp(out->qop, "auth") != 0))
        return DIGEST_EUNSUPPORTED;
    /* qop=auth needs nc and cnonce (RFC 2617 §3.2.2) */
    if (out->qop[0] && (!out->nc[0] || !out->cnonce[0]))
        return DIGEST_EMALFORMED;
    size_t rlen = strlen(out->response);
    if (rlen != digest_hex_len(out->alg) || !is_hex(out->response, rlen))
        return DIGEST_EMALFORMED;
    return DIGEST_OK;
}

/* ---- finding the headers ----------------------------------------------------------------- */

/* Is [p, p + n) the header name `name` (case-insensitive) followed by optional white space and
 * a colon? Returns the offset just after the colon, or 0. */
static size_t header_named(const char *p, size_t n, const char *name)
{
    size_t l = strlen(name);
    if (n <= l || strncasecmp(p, name, l) != 0)
        return 0;
    while (l < n && (p[l] == ' ' || p[l] == '\t'))
        l++;
    return l < n && p[l] == ':' ? l + 1 : 0;
}

int digest_find_credentials(const char *raw, size_t raw_len, const char **vals, size_t *lens,
                          size_t max)
{
    const char *p = raw, *end = raw + raw_len;
    const char *eol = memchr(p, '\n', raw_len);
    if (!eol)
        return 0;
    p = eol + 1; /* past the request line */
    size_t n = 0;
    while (p < end && *p != '\r' && *p != '\n') {
        /* this header's end: a line break not followed by SP/HTAB (folding) */
        const char *q = p;
        for (;;) {
            eol = memchr(q, '\n', (size_t)(end - q));
            if (!eol) {
                eol = end;
                break;
            }
            if (eol + 1 < end && (eol[1] == ' ' || eol[1] == '\t')) {
                q = eol + 1;
                continue;
            }
            break;
        }
        size_t len = (size_t)(eol - p);
        size_t off = header_named(p, len, "Authorization");
        if (!off)
            off = header_named(p, len, "Proxy-Authorization");
        if (off && n < max) {
            size_t vlen = len - off;
            if (vlen && p[off + vlen - 1] == '\r')
                vlen--;
            if (vlen > DIGEST_MAX_HEADER)
                return -1;
            vals[n] = p + off;
            lens[n] = vlen;
            n++;
        }
        p = eol < end ? eol + 1 : end;
    }
    return (int)n;
}

/* ---- hashes -------------------------------------------------------------------------------- */

const char *digest_alg_name(enum digest_alg alg) { return alg == DIGEST_SHA256 ? "SHA-256" : "MD5"; }

size_t digest_hex_len(enum digest_alg alg) { return alg == DIGEST_SHA256 ? 64 : 32; }

int digest_hash_hex(enum digest_alg alg, const void *data, size_t len, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    size_t mlen = digest_hex_len(alg) / 2;
    if (gnutls_hash_fast(alg == DIGEST_SHA256 ? GNUTLS_DIG_SHA256 : GNUTLS_DIG_MD5, data, len,
                         md) < 0)
        return -1;
    for (size_t i = 0; i < mlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * mlen] = '\0';
    return 0;
}

/* H(a ":" b ":" ... ) of up to 6 strings (NULL ends the list early). */
static int hash_joined(enum digest_alg alg, char *hex, const char *const *parts, size_t nparts)
{
    char buf[DIGEST_MAX_URI + 6 * DIGEST_MAX_FIELD + 64];
    size_t o = 0;
    for (size_t i = 0; i < nparts && parts[i]; i++) {
        size_t l = strlen(parts[i]);
        if (o + l + 1 >= sizeof buf)
            return -1;
        if (i)
            buf[o++] = ':';
        memcpy(buf + o, parts[i], l);
        o += l;
    }
    return digest_hash_hex(alg, buf, o, hex);
}

int digest_ha1(enum digest_alg alg, const char *username, const char *realm, const char *password,
               char *hex)
{
    const char *parts[] = {username, realm, password};
    return hash_joined(alg, hex, parts, 3);
}

int digest_expected_response(enum digest_alg alg, const char *ha1_hex, const char *method,
                             const struct digest_credentials *c, char *hex)
{
    char ha2[DIGEST_MAX_HEX + 1];
    const char *a2[] = {method, c->uri};
    if (hash_joined(alg, ha2, a2, 2) < 0)
        return -1;
    if (!c->qop[0]) {
        const char *parts[] = {ha1_hex, c->nonce, ha2};
        return hash_joined(alg, hex, parts, 3);
    }
    const char *parts[] = {ha1_hex, c->nonce, c->nc, c->cnonce, c->qop, ha2};
    return hash_joined(alg, hex, parts, 6);
}

static unsigned char lower(unsigned char ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

int digest_hex_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    unsigned char diff = 0;
    for (size_t i = 0; i < la; i++)
        diff |= lower((unsigned char)a[i]) ^ lower((unsigned char)b[i]);
    return diff == 0;
}

/* ---- challenges ---------------------------------------------------------------------------- */

static int is_quotable(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

int digest_challenge_headers(const char *header, const char *realm, const char *nonce, int is_stale,
                             const enum digest_alg *algs, size_t nalgs, char *out, size_t n)
{
    if (!is_quotable(realm) || !is_quotable(nonce) || n == 0)
        return -1;
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < nalgs; i++) {
        int w = snprintf(out + o, n - o,
                         "%s: Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, qop=\"auth\"%s\r\n",
                         header, realm, nonce, digest_alg_name(algs[i]),
                         is_stale ? ", stale=true" : "");
        if (w < 0 || (size_t)w >= n - o)
            return -1;
        o += (size_t)w;
    }
    return (int)o;
}

int digest_parse_alg_list(const char *s, enum digest_alg *algs)
{
    int n = 0;
    while (*s) {
        s += strspn(s, " ,\t");
        size_t l = strcspn(s, " ,\t");
        if (!l)
            break;
        enum digest_alg a;
        if (l == 3 && strncasecmp(s, "MD5", 3) == 0)
            a = DIGEST_MD5;
        else if (l == 7 && strncasecmp(s, "SHA-256", 7) == 0)
            a = DIGEST_SHA256;
        else
            return -1;
        for (int i = 0; i < n; i++)
            if (algs[i] == a)
                return -1;
        algs[n++] = a;
        s += l;
    }
    return n ? n : -1;
}
