/* pidf.c - PIDF (RFC 3863) bodies for the presence package: a small length-bounded XML scanner,
 * enough to check that a published body is a PIDF document and to cut its <tuple> elements out
 * verbatim, and the composition of several publications into one document; see pidf.h. Bodies
 * come from the network (PUBLISH): nothing here trusts them, nothing is NUL-terminated on
 * purpose. */
#include "pidf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/log.h"
#include "../base/sbuf.h"

#define XML_MAX_ATTRS 32
#define XML_MAX_DEPTH 64

struct xml_attr {
    const char *name, *val, *raw; /* raw: `name="value"` as written */
    size_t nlen, vlen, rawlen;
};

struct xml_tag {
    const char *start;    /* '<' */
    const char *name;     /* qualified name */
    size_t nlen;
    const char *name_end; /* just after the name: where declarations can be inserted */
    int self_closing;
    struct xml_attr attrs[XML_MAX_ATTRS];
    size_t nattrs;
    int too_many_attrs;
};

/* A direct child of the root, reported with the root: [child->start, end). */
typedef void (*xml_child_cb)(void *arg, const struct xml_tag *root, const struct xml_tag *child,
                             const char *end);

static int xml_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int starts(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* p at "<!--", "<?" or "<![CDATA[": skip past its end. Returns the new position or NULL. */
static const char *xml_skip_special(const char *p, const char *end)
{
    const char *close;
    size_t skip;
    if (starts(p, end, "<!--")) {
        close = "-->";
        skip = 4;
    } else if (starts(p, end, "<![CDATA[")) {
        close = "]]>";
        skip = 9;
    } else if (starts(p, end, "<?")) {
        close = "?>";
        skip = 2;
    } else {
        return NULL; /* DOCTYPE and other declarations: not accepted */
    }
    size_t cl = strlen(close);
    for (p += skip; p + cl <= end; p++)
        if (memcmp(p, close, cl) == 0)
            return p + cl;
    return NULL;
}

static int xml_name_char(char c)
{
    return c && !xml_space(c) && c != '/' && c != '>' && c != '<' && c != '=' && c != '"' &&
           c != '\'';
}

/* p at '<' of a start tag: fill tag, return the position after '>' or NULL. */
static const char *xml_start_tag(const char *p, const char *end, struct xml_tag *tag)
{
    memset(tag, 0, sizeof *tag);
    tag->start = p++;
    tag->name = p;
    while (p < end && xml_name_char(*p))
        p++;
    tag->nlen = (size_t)(p - tag->name);
    tag->name_end = p;
    if (tag->nlen == 0)
        return NULL;
    for (;;) {
        const char *ws = p;
        while (p < end && xml_space(*p))
            p++;
        if (p >= end)
            return NULL;
        if (*p == '>')
            return p + 1;
        if (*p == '/') {
            if (p + 1 < end && p[1] == '>') {
                tag->self_closing = 1;
                return p + 2;
            }
            return NULL;
        }
        if (p == ws)
            return NULL; /* attributes are separated by white space */
        struct xml_attr a = {.name = p, .raw = p};
        while (p < end && xml_name_char(*p))
            p++;
        a.nlen = (size_t)(p - a.name);
        while (p < end && xml_space(*p))
            p++;
        if (a.nlen == 0 || p >= end || *p != '=')
            return NULL;
        p++;
        while (p < end && xml_space(*p))
            p++;
        if (p >= end || (*p != '"' && *p != '\''))
            return NULL;
        char q = *p++;
        a.val = p;
        while (p < end && *p != q && *p != '<')
            p++;
        if (p >= end || *p != q)
            return NULL;
        a.vlen = (size_t)(p - a.val);
        p++;
        a.rawlen = (size_t)(p - a.raw);
        if (tag->nattrs < XML_MAX_ATTRS)
            tag->attrs[tag->nattrs++] = a;
        else
            tag->too_many_attrs = 1;
    }
}

static const struct xml_attr *xml_attr_get(const struct xml_tag *t, const char *name, size_t nlen)
{
    for (size_t i = 0; i < t->nattrs; i++)
        if (t->attrs[i].nlen == nlen && memcmp(t->attrs[i].name, name, nlen) == 0)
            return &t->attrs[i];
    return NULL;
}

/* The namespace declaration for the prefix of `name` ("xmlns" or "xmlns:<prefix>") in t. */
static const struct xml_attr *xml_ns_decl(const struct xml_tag *t, const char *name, size_t nlen)
{
    const char *colon = memchr(name, ':', nlen);
    char buf[128];
    if (!colon)
        return xml_attr_get(t, "xmlns", 5);
    size_t plen = (size_t)(colon - name);
    if (plen + 6 >= sizeof buf)
        return NULL;
    memcpy(buf, "xmlns:", 6);
    memcpy(buf + 6, name, plen);
    return xml_attr_get(t, buf, plen + 6);
}

static int xml_local_is(const char *name, size_t nlen, const char *local)
{
    const char *colon = memchr(name, ':', nlen);
    const char *l = colon ? colon + 1 : name;
    size_t ll = nlen - (size_t)(l - name);
    return ll == strlen(local) && memcmp(l, local, ll) == 0;
}

static int is_pidf_ns(const struct xml_attr *a)
{
    return a && a->vlen == strlen(PIDF_NS) && memcmp(a->val, PIDF_NS, a->vlen) == 0;
}

/* Is element `t` (a direct child of root) in the PIDF namespace? Its own declarations first. */
static int child_in_pidf(const struct xml_tag *root, const struct xml_tag *t)
{
    const struct xml_attr *d = xml_ns_decl(t, t->name, t->nlen);
    if (!d)
        d = xml_ns_decl(root, t->name, t->nlen);
    return is_pidf_ns(d);
}

/* Scan a PIDF document; cb (may be NULL) gets every direct child of the root. Returns 0 when
 * the document is acceptable (pidf.h, pidf_check), else -1. */
static int pidf_scan(const char *doc, size_t len, xml_child_cb cb, void *arg)
{
    const char *p = doc, *end = doc + len;
    if (memchr(doc, '\0', len))
        return -1;
    if (starts(p, end, "\xEF\xBB\xBF"))
        p += 3; /* UTF-8 byte order mark */
    /* prolog: white space, XML declaration, comments, processing instructions */
    for (;;) {
        while (p < end && xml_space(*p))
            p++;
        if (p >= end || *p != '<')
            return -1;
        if (p + 1 < end && (p[1] == '?' || p[1] == '!')) {
            if (!(p = xml_skip_special(p, end)))
                return -1;
            continue;
        }
        break;
    }
    struct xml_tag root;
    if (!(p = xml_start_tag(p, end, &root)) || root.too_many_attrs)
        return -1;
    if (!xml_local_is(root.name, root.nlen, "presence") ||
        !is_pidf_ns(xml_ns_decl(&root, root.name, root.nlen)))
        return -1;
    if (!root.self_closing) {
        const char *names[XML_MAX_DEPTH];
        size_t nlens[XML_MAX_DEPTH];
        size_t depth = 1;
        names[0] = root.name;
        nlens[0] = root.nlen;
        struct xml_tag child;
        int in_child = 0;
        while (depth > 0) {
            const char *lt = memchr(p, '<', (size_t)(end - p));
            if (!lt)
                return -1;
            p = lt;
            if (p + 1 < end && (p[1] == '!' || p[1] == '?')) {
                if (!(p = xml_skip_special(p, end)))
                    return -1;
                continue;
            }
            if (p + 1 < end && p[1] == '/') {
                const char *n = p + 2, *q = n;
                while (q < end && xml_name_char(*q))
                    q++;
                size_t nl = (size_t)(q - n);
                while (q < end && xml_space(*q))
                    q++;
                if (q >= end || *q != '>' || nl != nlens[depth - 1] ||
                    memcmp(n, names[depth - 1], nl) != 0)
                    return -1;
                p = q + 1;
                depth--;
                if (depth == 1 && in_child) {
                    if (cb)
                        cb(arg, &root, &child, p);
                    in_child = 0;
                }
                continue;
            }
            struct xml_tag t;
            const char *after = xml_start_tag(p, end, &t);
            if (!after)
                return -1;
            if (depth == 1) {
                child = t;
                in_child = 1;
            }
            p = after;
            if (t.self_closing) {
                if (depth == 1) {
                    if (cb)
                        cb(arg, &root, &child, p);
                    in_child = 0;
                }
                continue;
            }
            if (depth == XML_MAX_DEPTH)
                return -1;
            names[depth] = t.name;
            nlens[depth] = t.nlen;
            depth++;
        }
    }
    /* after the root: only white space, comments and processing instructions */
    for (;;) {
        while (p < end && xml_space(*p))
            p++;
        if (p >= end)
            return 0;
        if (*p != '<' || p + 1 >= end || (p[1] != '!' && p[1] != '?') ||
            starts(p, end, "<![CDATA[") || !(p = xml_skip_special(p, end)))
            return -1;
    }
}

int pidf_check(const char *doc, size_t len)
{
    return doc ? pidf_scan(doc, len, NULL, NULL) : -1;
}

struct compose_ctx {
    struct sbuf *out;
    size_t ntuples;
    /* ids already emitted, as (pointer, length) into the publications' bodies */
    const char **ids;
    size_t *idlens;
    size_t nids, cap;
};

static int seen_id(struct compose_ctx *c, const char *id, size_t n)
{
    for (size_t i = 0; i < c->nids; i++)
        if (c->idlens[i] == n && memcmp(c->ids[i], id, n) == 0)
            return 1;
    if (c->nids == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        const char **ni = realloc(c->ids, cap * sizeof *ni);
        if (ni)
            c->ids = ni;
        size_t *nl = ni ? realloc(c->idlens, cap * sizeof *nl) : NULL;
        if (!ni || !nl)
            return 0; /* out of memory: duplicates are then not detected */
        c->idlens = nl;
        c->cap = cap;
    }
    c->ids[c->nids] = id;
    c->idlens[c->nids++] = n;
    return 0;
}

static void compose_child(void *arg, const struct xml_tag *root, const struct xml_tag *t,
                          const char *end)
{
    struct compose_ctx *c = arg;
    if (!xml_local_is(t->name, t->nlen, "tuple") || !child_in_pidf(root, t))
        return; /* <note>, RFC 4479 <person>/<device>, extensions: not composed */
    const struct xml_attr *id = xml_attr_get(t, "id", 2);
    if (id && seen_id(c, id->val, id->vlen))
        return;
    sbuf_append(c->out, t->start, (size_t)(t->name_end - t->start));
    /* the root's namespace declarations, unless the tuple declares the same prefix itself */
    for (size_t i = 0; i < root->nattrs; i++) {
        const struct xml_attr *a = &root->attrs[i];
        int is_decl = (a->nlen == 5 && memcmp(a->name, "xmlns", 5) == 0) ||
                      (a->nlen > 6 && memcmp(a->name, "xmlns:", 6) == 0);
        if (!is_decl || xml_attr_get(t, a->name, a->nlen))
            continue;
        sbuf_append(c->out, " ", 1);
        sbuf_append(c->out, a->raw, a->rawlen);
    }
    sbuf_append(c->out, t->name_end, (size_t)(end - t->name_end));
    sbuf_append(c->out, "\n", 1);
    c->ntuples++;
}

static void xml_escape(struct sbuf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sbuf_puts(out, "&amp;"); break;
        case '<': sbuf_puts(out, "&lt;"); break;
        case '>': sbuf_puts(out, "&gt;"); break;
        case '"': sbuf_puts(out, "&quot;"); break;
        case '\'': sbuf_puts(out, "&apos;"); break;
        default: sbuf_append(out, s, 1);
        }
    }
}

static int is_pidf_type(const char *ct)
{
    if (!ct)
        return 0;
    size_t n = strlen(PIDF_CONTENT_TYPE);
    return strncasecmp(ct, PIDF_CONTENT_TYPE, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || xml_space(ct[n]));
}

size_t pidf_compose(const char *aor, const struct pidf_part *v, size_t n, struct sbuf *out)
{
    struct compose_ctx c = {.out = out};
    sbuf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"" PIDF_NS
                   "\" entity=\"");
    xml_escape(out, aor);
    sbuf_puts(out, "\">\n");
    for (size_t i = n; i-- > 0;) {
        if (!is_pidf_type(v[i].content_type) || !v[i].body ||
            pidf_scan(v[i].body, v[i].body_len, NULL, NULL) != 0) {
            LOG_DEBUG("presence aor=%s etag=%s not composed reason=not-pidf", aor,
                      v[i].etag ? v[i].etag : "-");
            continue;
        }
        pidf_scan(v[i].body, v[i].body_len, compose_child, &c);
    }
    if (c.ntuples == 0)
        sbuf_puts(out, "<tuple id=\"sipd-closed\"><status><basic>closed</basic></status>"
                       "</tuple>\n");
    sbuf_puts(out, "</presence>\n");
    free(c.ids);
    free(c.idlens);
    return c.ntuples;
}
