/* http.c - libcurl underneath sipctl (see http.h). One easy handle per request: sipctl sends a
 * handful of requests per run, so reusing connections is not worth the state. The event stream
 * uses the progress callback to notice the caller's stop flag (set by SIGINT), which libcurl
 * calls about once a second while the stream is idle; the handler also shuts the open sockets
 * down (http_events_interrupt), so that the stream, and a request made from one of its events
 * (up to its 10 s timeout), end at once. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "options.h"
#include "url.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

/* What a transfer's callbacks share. */
struct transfer {
    CURL *curl;
    struct ctl_reply *reply;
    struct sse_parser *sse;           /* NULL for a plain request */
    volatile sig_atomic_t *stop;
    bool is_stream;                   /* the answer is 200: feed SSE, not the reply buffer */
    bool is_decided;
};

/* The sockets of the transfers in progress (-1: a free slot): what http_events_interrupt() shuts
 * down. Two at most: the event stream and a request made from one of its events (watch fetches
 * the nodes again on a node event). sipctl has one thread, so the handler runs between two steps
 * of this one. */
static volatile sig_atomic_t open_fds[2] = {-1, -1};

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)arg, (void)purpose;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    for (size_t i = 0; fd >= 0 && i < sizeof(open_fds) / sizeof(open_fds[0]); i++)
        if (open_fds[i] < 0) {
            open_fds[i] = fd;
            break;
        }
    return fd;
}

static int close_socket(void *arg, curl_socket_t fd)
{
    (void)arg;
    for (size_t i = 0; i < sizeof(open_fds) / sizeof(open_fds[0]); i++)
        if (open_fds[i] == fd)
            open_fds[i] = -1;
    return close(fd);
}

void http_events_interrupt(void)
{
    for (size_t i = 0; i < sizeof(open_fds) / sizeof(open_fds[0]); i++) {
        int fd = open_fds[i];
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR); /* async-signal-safe; the transfer reads its end at once */
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    if (t->sse && !t->is_decided) {
        long status = 0;
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
        t->is_stream = status == 200;
        t->is_decided = true;
    }
    if (t->is_stream)
        return sse_feed(t->sse, data, n) == 0 ? n : 0;
    struct ctl_reply *r = t->reply;
    char *b = realloc(r->body, r->len + n + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, data, n);
    r->len += n;
    b[r->len] = '\0';
    r->body = b;
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct transfer *t = arg;
    return t->stop && *t->stop ? 1 : 0;
}

/* The exit status for a failed transfer, and why in ERR. */
static int transfer_failure(CURLcode rc, const char *url, const char *curl_err, char *err,
                            size_t errlen)
{
    const char *why = *curl_err ? curl_err : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(err, errlen, "bad URL %s: %s", url, why);
        return CTL_EXIT_USAGE;
    default:
        snprintf(err, errlen, "cannot reach %s: %s", url, why);
        return CTL_EXIT_UNREACHABLE;
    }
}

static struct curl_slist *request_headers(const struct ctl_http *h, bool has_body, bool is_stream)
{
    const char *accept = is_stream ? "Accept: text/event-stream" : "Accept: application/json";
    struct curl_slist *hd = curl_slist_append(NULL, accept);
    if (has_body)
        hd = curl_slist_append(hd, "Content-Type: application/json");
    if (h->token && *h->token) {
        char auth[1200];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h->token);
        hd = curl_slist_append(hd, auth);
    }
    hd = curl_slist_append(hd, "Expect:"); /* no 100-continue round trip for small bodies */
    return hd;
}

static int perform(const struct ctl_http *h, const char *method, const char *path,
                   const char *body, struct transfer *t, char *err, size_t errlen)
{
    char *url = ctl_url_join(h->base_url, path);
    CURL *curl = curl_easy_init();
    if (!url || !curl) {
        free(url);
        if (curl)
            curl_easy_cleanup(curl);
        snprintf(err, errlen, "out of memory");
        return CTL_EXIT_FAILED;
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *hd = request_headers(h, body != NULL, t->sse != NULL);
    t->curl = curl;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CTL_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "sipctl/" PACKAGE_VERSION);
    if (h->cacert)
        curl_easy_setopt(curl, CURLOPT_CAINFO, h->cacert);
    if (h->is_insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (t->sse) {
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, t);
    } else {
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, CTL_TOTAL_TIMEOUT_MS);
    }
    CURLcode rc = curl_easy_perform(curl);
    int ret = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t->reply->status);
    if (t->stop && *t->stop)
        ret = 0; /* the caller asked to stop: however the transfer ended (abort, shut socket) */
    else if (rc != CURLE_OK)
        ret = transfer_failure(rc, h->base_url, curl_err, err, errlen);
    curl_slist_free_all(hd);
    curl_easy_cleanup(curl);
    free(url);
    return ret;
}

int http_request(const struct ctl_http *h, const char *method, const char *path, const char *body,
                 struct ctl_reply *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    struct transfer t = {.reply = r};
    return perform(h, method, path, body, &t, err, errlen);
}

int http_events(const struct ctl_http *h, const char *path, sse_event_fn fn, void *arg,
                volatile sig_atomic_t *stop, struct ctl_reply *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    struct sse_parser sse;
    sse_init(&sse, fn, arg);
    struct transfer t = {.reply = r, .sse = &sse, .stop = stop};
    int rc = perform(h, "GET", path, NULL, &t, err, errlen);
    sse_free(&sse);
    if (rc == 0 && r->status == 200 && !*stop) {
        snprintf(err, errlen, "the event stream from %s ended", h->base_url);
        return CTL_EXIT_UNREACHABLE;
    }
    return rc;
}

void ctl_reply_free(struct ctl_reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
