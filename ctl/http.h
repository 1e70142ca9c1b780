/* http.h - sipctl's HTTP client (libcurl): one request with an optional JSON body and the
 * bearer token, bounded in time (5 s to connect, 10 s in all); and the event stream
 * (GET /api/v1/events) read until the caller's stop flag is set. */
#ifndef SIPCTL_HTTP_H
#define SIPCTL_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "sse.h"

#define CTL_CONNECT_TIMEOUT_MS 5000L
#define CTL_TOTAL_TIMEOUT_MS 10000L

/* Where to send requests; the strings are borrowed. */
struct ctl_http {
    const char *base_url;  /* http://host:port, no trailing '/' */
    const char *token;     /* NULL: no Authorization header */
    const char *cacert;    /* https: verify the server against this CA file (NULL: system store) */
    bool is_insecure;      /* https: do not verify the server at all (--insecure) */
};

/* An answer: the HTTP status and the body as received (NUL-terminated). */
struct ctl_reply {
    long status;
    char *body;
    size_t len;
};

/* METHOD ("GET", "POST", "PATCH", "DELETE") on PATH (starting with '/', already encoded), with
 * BODY (JSON text) or NULL. Returns 0 when the server answered, whatever the status (R holds
 * it; free with ctl_reply_free()); otherwise an exit status (CTL_EXIT_UNREACHABLE when the
 * server cannot be reached or does not answer in time, CTL_EXIT_USAGE for a malformed URL) with
 * a one-line reason in ERR. */
int http_request(const struct ctl_http *h, const char *method, const char *path, const char *body,
                 struct ctl_reply *r, char *err, size_t errlen);
void ctl_reply_free(struct ctl_reply *r);

/* GET PATH as an event stream, calling FN for every event, until *STOP becomes non-zero (then
 * returns 0) or the stream ends or fails (returns an exit status with ERR). When the server
 * answers something other than 200, R receives that answer and the return is 0 with
 * R->status != 200. Only the connect timeout applies: a stream may stay quiet for long. */
int http_events(const struct ctl_http *h, const char *path, sse_event_fn fn, void *arg,
                volatile sig_atomic_t *stop, struct ctl_reply *r, char *err, size_t errlen);

/* For a SIGINT handler that has just set the stop flag of http_events(): ends the stream's wait,
 * and that of a request made from one of its events, at once by shutting their sockets down.
 * Async-signal-safe; does nothing when no transfer is open. */
void http_events_interrupt(void);

#endif
