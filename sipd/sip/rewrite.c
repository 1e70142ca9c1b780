/* rewrite.c - textual edits of validated messages; see rewrite.h. */
#include "rewrite.h"

#include <string.h>
#include <strings.h>

#include "../base/sbuf.h"

struct hline {
    size_t start;     /* first byte of the header line */
    size_t end;       /* just past its last line terminator (folded lines included) */
    size_t name_len;
    size_t vstart;    /* value, whitespace skipped */
    size_t vend;      /* value end, before the terminator, trailing whitespace dropped */
};

/* Parse the header line at pos (pos < hdr_end). Returns 0, or -1 at the blank line/garbage. */
static int next_header(const char *b, size_t hdr_end, size_t pos, struct hline *h)
{
    if (pos >= hdr_end || b[pos] == '\r' || b[pos] == '\n')
        return -1;
    h->start = pos;
    size_t i = pos;
    while (i < hdr_end && b[i] != ':' && b[i] != '\r' && b[i] != '\n')
        i++;
    if (i >= hdr_end || b[i] != ':')
        return -1;
    size_t ne = i;
    while (ne > pos && (b[ne - 1] == ' ' || b[ne - 1] == '\t'))
        ne--;
    h->name_len = ne - pos;
    i++;
    while (i < hdr_end && (b[i] == ' ' || b[i] == '\t'))
        i++;
    h->vstart = i;
    /* the value runs to the end of line, continued by lines that start with whitespace */
    for (;;) {
        while (i < hdr_end && b[i] != '\n')
            i++;
        if (i >= hdr_end)
            return -1;
        size_t eol = i; /* at '\n' */
        i++;
        if (i < hdr_end && (b[i] == ' ' || b[i] == '\t'))
            continue;
        size_t ve = eol;
        if (ve > h->vstart && b[ve - 1] == '\r')
            ve--;
        while (ve > h->vstart && (b[ve - 1] == ' ' || b[ve - 1] == '\t'))
            ve--;
        h->vend = ve;
        h->end = i;
        return 0;
    }
}

static int name_is(const char *b, const struct hline *h, const char *name, const char *compact)
{
    size_t n = strlen(name);
    if (h->name_len == n && strncasecmp(b + h->start, name, n) == 0)
        return 1;
    return compact && h->name_len == 1 && (b[h->start] | 0x20) == compact[0];
}

/* The end of the first value in [vs, ve): the first comma outside <> and quotes. Returns that
 * offset (== ve when there is one value) and the start of the rest in *rest (== ve if none). */
static size_t first_value_end(const char *b, size_t vs, size_t ve, size_t *rest)
{
    int angle = 0, quote = 0;
    for (size_t i = vs; i < ve; i++) {
        char c = b[i];
        if (quote) {
            if (c == '\\' && i + 1 < ve)
                i++;
            else if (c == '"')
                quote = 0;
        } else if (c == '"') {
            quote = 1;
        } else if (c == '<') {
            angle = 1;
        } else if (c == '>') {
            angle = 0;
        } else if (c == ',' && !angle) {
            size_t e = i;
            while (e > vs && (b[e - 1] == ' ' || b[e - 1] == '\t' || b[e - 1] == '\r' || b[e - 1] == '\n'))
                e--;
            size_t r = i + 1;
            while (r < ve && (b[r] == ' ' || b[r] == '\t' || b[r] == '\r' || b[r] == '\n'))
                r++;
            *rest = r;
            return e;
        }
    }
    *rest = ve;
    return ve;
}

static void put_header(struct sbuf *out, const char *b, const struct hline *h, const char *first,
                       size_t first_len, size_t rest, size_t ve)
{
    sbuf_append(out, b + h->start, h->name_len);
    sbuf_append(out, ": ", 2);
    if (first) {
        sbuf_append(out, first, first_len);
        if (rest < ve)
            sbuf_append(out, ", ", 2);
    }
    if (rest < ve)
        sbuf_append(out, b + rest, ve - rest);
    sbuf_append(out, "\r\n", 2);
}

/* Where the blank line ending the header section starts. A datagram may end with its last
 * header line and no blank line (oSIP takes it; RFC 3261 §7.5 wants one): the section then runs
 * to len and *add_blank says that the copy needs the blank line. 0 when there is no end. */
static size_t header_end(const char *b, size_t len, int *add_blank)
{
    *add_blank = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (b[i] == '\n' && (b[i + 1] == '\n' || (b[i + 1] == '\r' && i + 2 < len && b[i + 2] == '\n')))
            return i + 1; /* the blank line starts here */
    }
    if (len > 0 && b[len - 1] == '\n') {
        *add_blank = 1;
        return len;
    }
    return 0;
}

/* The blank line and the body after the header section. */
static void put_rest(struct sbuf *out, const char *b, size_t len, size_t hend, int add_blank)
{
    if (add_blank)
        sbuf_append(out, "\r\n", 2);
    else
        sbuf_append(out, b + hend, len - hend);
}

/* How many Route values the header section holds, and where the last Route line starts. */
static int count_routes(const char *b, size_t hend, size_t pos, size_t *last_line)
{
    int n = 0;
    struct hline h;
    *last_line = hend;
    while (pos < hend && next_header(b, hend, pos, &h) == 0) {
        pos = h.end;
        if (!name_is(b, &h, "route", NULL))
            continue;
        *last_line = h.start;
        for (size_t vs = h.vstart, rest; vs < h.vend; vs = rest, n++)
            first_value_end(b, vs, h.vend, &rest);
    }
    return n;
}

/* A Route line with the values numbered [keep_from, keep_to) across the message kept (*idx
 * counts the values seen so far). Untouched lines are copied as they are. */
static void put_route_line(struct sbuf *out, const char *b, const struct hline *h, int *idx,
                           int keep_from, int keep_to)
{
    size_t ks = 0, ke = 0;
    int kept = 0, dropped = 0;
    for (size_t vs = h->vstart, rest; vs < h->vend; vs = rest, (*idx)++) {
        size_t ve = first_value_end(b, vs, h->vend, &rest);
        if (*idx < keep_from || *idx >= keep_to) {
            dropped = 1;
            continue;
        }
        if (!kept)
            ks = vs;
        ke = ve;
        kept = 1;
    }
    if (!dropped)
        sbuf_append(out, b + h->start, h->end - h->start);
    else if (kept)
        put_header(out, b, h, NULL, 0, ks, ke);
}

int sip_rewrite_request(const char *b, size_t len, const struct fwd_edit *e, struct sbuf *out)
{
    int add_blank;
    size_t hend = header_end(b, len, &add_blank);
    const char *nl = memchr(b, '\n', len);
    if (!hend || !nl)
        return -1;
    size_t pos = (size_t)(nl - b) + 1;
    if (e->new_ruri) {
        const char *sp1 = memchr(b, ' ', pos);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1)) : NULL;
        if (!sp2)
            return -1;
        sbuf_append(out, b, (size_t)(sp1 - b) + 1);
        sbuf_puts(out, e->new_ruri);
        size_t vend = (size_t)(nl - b);
        if (vend > 0 && b[vend - 1] == '\r')
            vend--;
        sbuf_append(out, sp2, (size_t)(b + vend - sp2));
        sbuf_append(out, "\r\n", 2);
    } else {
        sbuf_append(out, b, pos);
    }
    if (e->prepend)
        sbuf_puts(out, e->prepend);
    /* Route values kept: [drop_routes, keep_to); counted first only when the end matters */
    int keep_to = 1 << 30, route_idx = 0;
    size_t last_route_line = hend;
    if (e->drop_last_route || e->append_route) {
        keep_to = count_routes(b, hend, pos, &last_route_line);
        if (e->drop_last_route)
            keep_to--;
    }
    int edit_routes = e->drop_routes > 0 || e->drop_last_route || e->append_route;
    int via_done = e->top_via_value == NULL, route_appended = e->append_route == NULL;
    struct hline h;
    while (pos < hend && next_header(b, hend, pos, &h) == 0) {
        pos = h.end;
        if (!via_done && name_is(b, &h, "via", "v")) {
            size_t rest, fe = first_value_end(b, h.vstart, h.vend, &rest);
            (void)fe;
            put_header(out, b, &h, e->top_via_value, strlen(e->top_via_value), rest, h.vend);
            via_done = 1;
            continue;
        }
        if (edit_routes && name_is(b, &h, "route", NULL)) {
            put_route_line(out, b, &h, &route_idx, e->drop_routes, keep_to);
            if (h.start == last_route_line && !route_appended) {
                sbuf_printf(out, "Route: %s\r\n", e->append_route);
                route_appended = 1;
            }
            continue;
        }
        if (e->max_forwards >= 0 && name_is(b, &h, "max-forwards", NULL)) {
            sbuf_printf(out, "Max-Forwards: %d\r\n", e->max_forwards);
            continue;
        }
        sbuf_append(out, b + h.start, h.end - h.start);
    }
    if (pos != hend)
        return -1; /* a header we could not delimit */
    if (!route_appended)
        sbuf_printf(out, "Route: %s\r\n", e->append_route); /* no Route line to follow */
    put_rest(out, b, len, hend, add_blank);
    return out->failed ? -1 : 0;
}

int sip_rewrite_pop_via(const char *b, size_t len, struct sbuf *out)
{
    int add_blank;
    size_t hend = header_end(b, len, &add_blank);
    const char *nl = memchr(b, '\n', len);
    if (!hend || !nl)
        return -1;
    size_t pos = (size_t)(nl - b) + 1;
    sbuf_append(out, b, pos);
    int popped = 0;
    struct hline h;
    while (pos < hend && next_header(b, hend, pos, &h) == 0) {
        pos = h.end;
        if (!popped && name_is(b, &h, "via", "v")) {
            popped = 1;
            size_t rest;
            first_value_end(b, h.vstart, h.vend, &rest);
            if (rest < h.vend)
                put_header(out, b, &h, NULL, 0, rest, h.vend);
            continue;
        }
        sbuf_append(out, b + h.start, h.end - h.start);
    }
    if (pos != hend || !popped)
        return -1;
    put_rest(out, b, len, hend, add_blank);
    return out->failed ? -1 : 0;
}

/* The header lines a response copies from its request, in the order they are written. */
enum { RH_FROM, RH_TO, RH_CALL_ID, RH_CSEQ, RH_SINGLES };
#define RESP_MAX_LINES 64 /* Via and Record-Route lines each; more: the parsed path */

int sip_rewrite_response(const char *b, size_t len, const struct resp_edit *e, struct sbuf *out)
{
    static const char *const names[RH_SINGLES] = {"from", "to", "call-id", "cseq"};
    static const char *const compact[RH_SINGLES] = {"f", "t", "i", NULL};
    int add_blank;
    size_t hend = header_end(b, len, &add_blank);
    const char *nl = memchr(b, '\n', len);
    if (!hend || !nl || e->code < 100 || e->code > 699 || !e->reason)
        return -1;
    struct hline single[RH_SINGLES], via[RESP_MAX_LINES], rr[RESP_MAX_LINES];
    int have[RH_SINGLES] = {0}, nvia = 0, nrr = 0;
    size_t pos = (size_t)(nl - b) + 1;
    struct hline h;
    while (pos < hend && next_header(b, hend, pos, &h) == 0) {
        pos = h.end;
        if (name_is(b, &h, "via", "v")) {
            if (nvia == RESP_MAX_LINES)
                return -1;
            via[nvia++] = h;
        } else if (name_is(b, &h, "record-route", NULL)) {
            if (nrr == RESP_MAX_LINES)
                return -1;
            rr[nrr++] = h;
        } else {
            for (int i = 0; i < RH_SINGLES; i++) {
                if (name_is(b, &h, names[i], compact[i])) {
                    if (have[i]++)
                        return -1;
                    single[i] = h;
                    break;
                }
            }
        }
    }
    if (pos != hend || !nvia)
        return -1;
    for (int i = 0; i < RH_SINGLES; i++)
        if (!have[i])
            return -1;
    char status[] = "SIP/2.0 000 ";
    status[8] = (char)('0' + e->code / 100);
    status[9] = (char)('0' + e->code / 10 % 10);
    status[10] = (char)('0' + e->code % 10);
    sbuf_append(out, status, sizeof status - 1);
    sbuf_puts(out, e->reason);
    sbuf_append(out, "\r\n", 2);
    for (int i = 0; i < nvia; i++) {
        if (i == 0 && e->top_via_value) {
            size_t rest;
            first_value_end(b, via[0].vstart, via[0].vend, &rest);
            put_header(out, b, &via[0], e->top_via_value, strlen(e->top_via_value), rest, via[0].vend);
        } else {
            put_header(out, b, &via[i], NULL, 0, via[i].vstart, via[i].vend);
        }
    }
    for (int i = 0; i < RH_SINGLES; i++) {
        const struct hline *s = &single[i];
        sbuf_append(out, b + s->start, s->name_len);
        sbuf_append(out, ": ", 2);
        sbuf_append(out, b + s->vstart, s->vend - s->vstart);
        if (i == RH_TO && e->to_tag) {
            sbuf_append(out, ";tag=", 5);
            sbuf_puts(out, e->to_tag);
        }
        sbuf_append(out, "\r\n", 2);
    }
    for (int i = 0; e->with_record_route && i < nrr; i++)
        put_header(out, b, &rr[i], NULL, 0, rr[i].vstart, rr[i].vend);
    if (e->extra_headers)
        sbuf_puts(out, e->extra_headers);
    sbuf_puts(out, "Content-Length: 0\r\n\r\n");
    return out->failed ? -1 : 0;
}
