/* sse.c - the Server-Sent Events parser (see sse.h), following the WHATWG "event stream
 * interpretation": a blank line dispatches the event when it has data. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

void sse_init(struct sse_parser *p, sse_event_fn fn, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->fn = fn;
    p->arg = arg;
}

static void reset_event(struct sse_parser *p)
{
    free(p->event);
    free(p->data);
    p->event = p->data = NULL;
    p->data_len = 0;
    p->has_data = 0;
}

static int add_data(struct sse_parser *p, const char *v, size_t n)
{
    size_t extra = n + (p->has_data ? 1 : 0);
    char *d = realloc(p->data, p->data_len + extra + 1);
    if (!d)
        return -ENOMEM;
    if (p->has_data)
        d[p->data_len++] = '\n';
    memcpy(d + p->data_len, v, n);
    p->data_len += n;
    d[p->data_len] = '\0';
    p->data = d;
    p->has_data = 1;
    return 0;
}

/* One complete line (no terminator). */
static int take_line(struct sse_parser *p, const char *s, size_t n)
{
    if (n == 0) {
        if (p->has_data)
            p->fn(p->event ? p->event : "message", p->data, p->arg);
        reset_event(p);
        return 0;
    }
    if (s[0] == ':')
        return 0;
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vn = n - (size_t)(v - s);
    if (vn > 0 && *v == ' ') {
        v++;
        vn--;
    }
    if (name_len == 5 && memcmp(s, "event", 5) == 0) {
        free(p->event);
        p->event = strndup(v, vn);
        return p->event ? 0 : -ENOMEM;
    }
    if (name_len == 4 && memcmp(s, "data", 4) == 0)
        return add_data(p, v, vn);
    return 0; /* id:, retry:, anything else */
}

int sse_feed(struct sse_parser *p, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\n') {
            size_t n = p->line_len;
            if (n > 0 && p->line[n - 1] == '\r')
                n--;
            int rc = take_line(p, p->line ? p->line : "", n);
            p->line_len = 0;
            if (rc < 0)
                return rc;
            continue;
        }
        if (p->line_len + 1 >= p->line_cap) {
            size_t cap = p->line_cap ? p->line_cap * 2 : 256;
            char *l = realloc(p->line, cap);
            if (!l)
                return -ENOMEM;
            p->line = l;
            p->line_cap = cap;
        }
        p->line[p->line_len++] = c;
    }
    return 0;
}

void sse_free(struct sse_parser *p)
{
    reset_event(p);
    free(p->line);
    p->line = NULL;
    p->line_len = p->line_cap = 0;
}
