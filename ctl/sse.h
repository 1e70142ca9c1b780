/* sse.h - a Server-Sent Events parser (the text/event-stream format): bytes in as they arrive,
 * one callback per complete event ("event:" name, "data:" lines joined with '\n'). Comment lines
 * (": keep-alive") and unknown fields are ignored; CRLF and LF both end a line. Pure. */
#ifndef SIPCTL_SSE_H
#define SIPCTL_SSE_H

#include <stddef.h>

/* EVENT is "message" when the stream named none. Both strings live until the callback returns. */
typedef void (*sse_event_fn)(const char *event, const char *data, void *arg);

struct sse_parser {
    char *line;          /* the incomplete line so far */
    size_t line_len, line_cap;
    char *event, *data;  /* fields of the event being assembled */
    size_t data_len;
    int has_data;
    sse_event_fn fn;
    void *arg;
};

void sse_init(struct sse_parser *p, sse_event_fn fn, void *arg);
/* Feed LEN bytes; returns 0 or -ENOMEM. */
int sse_feed(struct sse_parser *p, const char *buf, size_t len);
void sse_free(struct sse_parser *p);

#endif
