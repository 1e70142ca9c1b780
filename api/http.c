/* http.c - the HTTP server: libmicrohttpd in thread-per-connection mode, the route table applied
 * to each request, authentication, the status page's static files, and answers as JSON.
 *
 * Thread per connection because a request that needs the loop waits for it (job.c) and an event
 * stream waits for events: a blocking wait per connection is the plainest way to write both, and
 * a control plane has few clients (the connection limits below bound the threads). The path is
 * taken raw (the unescape callback does nothing) and decoded per segment, so a %2F inside an AOR
 * cannot split a segment. */
#include "api_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/events.h"
#include "base/log.h"
#include "base/mailbox.h"
#include "transport/addr.h"

#define MAX_CONNECTIONS 64
#define MAX_CONNECTIONS_PER_IP 32
#define IDLE_TIMEOUT_S 60
#define MAX_STATIC_BYTES (4 * 1024 * 1024)

/* ---- answers ---- */

void api_reply_text(struct api_req *r, int status, const char *content_type, char *text, size_t len)
{
    free(r->text);
    r->status = status;
    r->content_type = content_type;
    r->text = text;
    r->text_len = len;
}

void api_reply_json(struct api_req *r, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (v && !s) {
        api_reply_text(r, 500, "application/json", strdup("{\"error\":\"out of memory\"}"), 25);
        return;
    }
    api_reply_text(r, status, "application/json", s, s ? strlen(s) : 0);
}

/* Replace every byte of s that is not part of a well-formed UTF-8 sequence by '?': a detail
 * quotes what the client sent (a decoded path segment may hold any byte, "%.200s" may cut a
 * character in two), and JSON strings must be UTF-8 (jansson refuses the rest). */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
                 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        size_t i = 1;
        while (i < n && (p[i] & 0xC0) == 0x80)
            i++;
        int ok = n && i == n;
        if (ok && n == 2 && *p < 0xC2)
            ok = 0; /* overlong */
        if (ok && n == 3 && ((*p == 0xE0 && p[1] < 0xA0) || (*p == 0xED && p[1] >= 0xA0)))
            ok = 0; /* overlong, or a surrogate */
        if (ok && n == 4 && ((*p == 0xF0 && p[1] < 0x90) || *p > 0xF4 || (*p == 0xF4 && p[1] >= 0x90)))
            ok = 0; /* overlong, or beyond U+10FFFF */
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

void api_reply_error(struct api_req *r, int status, const char *err, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    utf8_scrub(detail);
    api_reply_json(r, status, json_pack("{s:s, s:s}", "error", err, "detail", detail));
}

/* ---- input ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *api_decode(const char *s, size_t n, int plus_is_space)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) {
                free(out);
                return NULL;
            }
            c = h * 16 + l;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

char *api_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *w = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *w++ = (char)*p;
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return out;
}

char *api_query(struct api_req *r, const char *name, int *bad)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v)
        return NULL;
    char *d = api_decode(v, strlen(v), 1);
    if (!d)
        *bad = 1;
    return d;
}

int api_query_long(struct api_req *r, const char *name, long dflt, long lo, long hi, long *out)
{
    int bad = 0;
    char *v = api_query(r, name, &bad);
    *out = dflt;
    if (v) {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        bad = errno || end == v || *end || x < lo || x > hi;
        *out = x;
    }
    free(v);
    if (bad) {
        api_reply_error(r, 400, "bad query argument", "%s must be an integer from %ld to %ld", name,
                        lo, hi);
        return -1;
    }
    return 0;
}

json_t *api_body_object(struct api_req *r, const char *const *allowed)
{
    json_error_t e;
    json_t *v = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        api_reply_error(r, 400, "malformed JSON", "line %d column %d: %s", e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        api_reply_error(r, 400, "malformed JSON", "the body must be a JSON object");
        return NULL;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i]) {
            api_reply_error(r, 400, "unknown field", "field \"%.64s\" is not known here", key);
            json_decref(v);
            return NULL;
        }
    }
    return v;
}

char *api_sip_uri(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '<' || s[i] == '>' || s[i] == '"' || s[i] == 0x7f)
            return NULL;
    int has_scheme = strncasecmp(s, "sip:", 4) == 0 || strncasecmp(s, "sips:", 5) == 0;
    const char *rest = has_scheme ? strchr(s, ':') + 1 : s;
    if (!*rest || *rest == '@' || strchr(rest, ':') == rest)
        return NULL;
    if (!has_scheme && strchr(s, ':') && !strchr(s, '@'))
        return NULL; /* "tel:..." or "http://..." */
    char *out = malloc(n + 5);
    if (out)
        snprintf(out, n + 5, "%s%s", has_scheme ? "" : "sip:", s);
    return out;
}

json_t *api_csv_array(const char *s)
{
    json_t *a = json_array();
    const char *p = s ? s : "";
    while (a && *p) {
        size_t n = strcspn(p, ",");
        if (n)
            json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return a;
}

void api_array_add_once(json_t *a, const char *s)
{
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        if (strcmp(json_string_value(x), s) == 0)
            return;
    }
    json_array_append_new(a, json_string(s));
}

struct api_job *api_list_job(struct api_req *r, api_job_fn fn)
{
    long limit;
    if (api_query_long(r, "limit", API_DEFAULT_LIMIT, 1, API_MAX_LIMIT, &limit) < 0)
        return NULL;
    int bad = 0;
    char *after = api_query(r, "after", &bad);
    if (bad || (after && strlen(after) > 256)) {
        free(after);
        api_reply_error(r, 400, "bad query argument", "after must be the cursor of a \"next\" link");
        return NULL;
    }
    struct api_job *j = api_job_new(r->api, fn);
    if (!j) {
        free(after);
        api_reply_error(r, 500, "out of memory", "the request could not be queued");
        return NULL;
    }
    j->s[0] = after;
    j->n[0] = limit;
    return j;
}

json_t *api_next_link(const char *route, size_t limit, const char *last)
{
    char *after = last ? api_encode(last) : NULL;
    json_t *next = after ? json_sprintf("%s?limit=%zu&after=%s", route, limit, after) : NULL;
    free(after);
    return next ? next : json_null();
}

/* ---- routing ---- */

/* Does path match pattern? On a match the {x} segments are decoded into r->params (returns 1);
 * -1 when it matched but a segment would not decode. */
static int route_match(const char *pattern, const char *path, struct api_req *r)
{
    char *got[API_MAX_PARAMS] = {NULL};
    int np = 0;
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (*p != '/' || *q != '/')
            goto no;
        p++, q++;
        const char *pe = strchrnul(p, '/'), *qe = strchrnul(q, '/');
        if (*p == '{') {
            if (qe == q || np == API_MAX_PARAMS)
                goto no;
            got[np] = api_decode(q, (size_t)(qe - q), 0); /* "+" is itself in a path */
            if (!got[np]) {
                for (int i = 0; i < np; i++)
                    free(got[i]);
                return -1;
            }
            np++;
        } else if (pe - p != qe - q || memcmp(p, q, (size_t)(pe - p)) != 0) {
            goto no;
        }
        p = pe, q = qe;
    }
    if (*p || *q)
        goto no;
    for (int i = 0; i < API_MAX_PARAMS; i++) {
        free(r->params[i]);
        r->params[i] = got[i];
    }
    return 1;
no:
    for (int i = 0; i < np; i++)
        free(got[i]);
    return 0;
}

static int is_write(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* Authorization: Bearer <token>, compared in time independent of where it differs. */
static int token_ok(const struct api *api, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!api->token[0] || !h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h), m = strlen(api->token);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)api->token[i] ^ (unsigned char)(i < n ? h[i] : 0);
    return diff == 0;
}

static int needs_token(const struct api *api, const char *method, const char *path)
{
    if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/metrics") != 0)
        return 0; /* probes and the page */
    return is_write(method) || api->read_auth;
}

static void static_file(struct api_req *r);

static void dispatch(struct api_req *r)
{
    struct api *api = r->api;
    const char *allow_sep = "";
    int path_known = 0;
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *rt = &api_routes[i];
        int m = route_match(rt->pattern, r->path, r);
        if (m < 0) {
            api_reply_error(r, 400, "bad path", "a path segment has a bad %%-escape");
            return;
        }
        if (!m)
            continue;
        if (strcmp(rt->method, r->method) != 0 &&
            !(strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            if (strlen(r->allow) + strlen(rt->method) + 3 < sizeof r->allow) {
                strcat(r->allow, allow_sep);
                strcat(r->allow, rt->method);
                allow_sep = ", ";
            }
            path_known = 1;
            continue;
        }
        if (needs_token(api, r->method, r->path) && !r->has_token) {
            if (!api->token[0])
                api_reply_error(r, 403, "writes disabled",
                                "no api.token is configured on this node");
            else
                api_reply_error(r, 401, "unauthorized",
                                "send Authorization: Bearer <api.token>");
            return;
        }
        if (r->body_too_big) {
            api_reply_error(r, 413, "body too big", "at most %d bytes", API_MAX_BODY_BYTES);
            return;
        }
        rt->fn(r);
        return;
    }
    if (path_known) {
        api_reply_error(r, 405, "method not allowed", "%s is not allowed on %.200s (allowed: %s)",
                        r->method, r->path, r->allow);
        return;
    }
    r->allow[0] = '\0';
    if (strncmp(r->path, "/api/", 5) != 0 && (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))) {
        static_file(r);
        return;
    }
    api_reply_error(r, 404, "not found", "no such route: %.200s", r->path);
}

/* ---- the status page ---- */

static const char *content_type_of(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".ico", "image/x-icon"},
        {".json", "application/json"},         {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* GET / and /NAME: files directly in api.webui_dir, names of [A-Za-z0-9._-] not starting with
 * '.', so nothing outside the directory can be named. */
static void static_file(struct api_req *r)
{
    const char *name = strcmp(r->path, "/") == 0 ? "index.html" : r->path + 1;
    size_t n = strlen(name);
    int ok = n > 0 && n < 128 && name[0] != '.';
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || strchr("._-", name[i]);
    char path[768];
    if (!ok || !r->api->webui_dir[0] ||
        snprintf(path, sizeof path, "%s/%s", r->api->webui_dir, name) >= (int)sizeof path) {
        api_reply_error(r, 404, "not found", "no such route: %.200s", r->path);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_STATIC_BYTES) {
        if (fd >= 0)
            close(fd);
        api_reply_error(r, 404, "not found", "no such file: %.200s", r->path);
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got != st.st_size) {
        free(buf);
        api_reply_error(r, 500, "read failed", "%.200s", r->path);
        return;
    }
    api_reply_text(r, 200, content_type_of(name), buf, (size_t)got);
}

/* ---- libmicrohttpd glue ---- */

/* The loop's event bus (base/events.h) feeds the stream; it formats nothing while no client
 * streams. */
static void on_loop_event(void *arg, const char *type, const char *json, size_t len)
{
    (void)len;
    api_event(arg, type, json);
}

static int loop_events_wanted(void *arg) { return api_events_wanted(arg); }

static void req_free(struct api_req *r)
{
    for (int i = 0; i < API_MAX_PARAMS; i++)
        free(r->params[i]);
    free(r->body);
    free(r->text);
    free(r);
}

static enum MHD_Result queue(struct api_req *r)
{
    struct MHD_Response *resp;
    if (r->is_stream) {
        resp = api_events_response(r->api);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        enum MHD_Result ok = MHD_queue_response(r->conn, 200, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    resp = MHD_create_response_from_buffer(r->text_len, r->text ? r->text : (char *)"",
                                           r->text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    r->text = NULL; /* libmicrohttpd frees it */
    if (r->text_len || r->status != 204)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : "application/json");
    if (r->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct api *api = cls;
    struct api_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->api = api;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->status = 500;
        r->has_token = token_ok(api, conn);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->body_too_big || r->body_len + n > API_MAX_BODY_BYTES) {
            r->body_too_big = 1;
            return MHD_YES; /* read and dropped: the answer is 413 */
        }
        char *b = realloc(r->body, r->body_len + n + 1);
        if (!b)
            return MHD_NO;
        memcpy(b + r->body_len, upload, n);
        r->body = b;
        r->body_len += n;
        b[r->body_len] = '\0';
        return MHD_YES;
    }
    dispatch(r);
    return queue(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    if (*con_cls)
        req_free(*con_cls);
    *con_cls = NULL;
}

static size_t unescape_nothing(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    LOG_DEBUG("api: %s", line);
}

/* The listening socket, bound here so that a busy address is reported with its cause. */
static int bind_listener(const char *listen_addr, char *err, size_t errlen)
{
    const char *colon = strrchr(listen_addr, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    struct sockaddr_storage sa;
    socklen_t salen;
    if (!colon || !end || *end || port < 0 || port > 65535 ||
        sockaddr_from_host_port(listen_addr, (size_t)(colon - listen_addr), (int)port, &sa, &salen) < 0) {
        snprintf(err, errlen, "--api %s: expected ADDRESS:PORT (numeric), e.g. 127.0.0.1:5080 or [::1]:5080",
                 listen_addr);
        return -1;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (sa.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errlen, "--api %s: %s", listen_addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int read_token_file(const char *path, char *out, size_t n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)n, f)) {
        snprintf(err, errlen, "api.token_file %s: %s", path, f ? "empty" : strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (!out[0]) {
        snprintf(err, errlen, "api.token_file %s: the first line is empty", path);
        return -1;
    }
    return 0;
}

struct api *api_create(const struct api_config *cfg, const struct api_ctx *ctx, char *err,
                       size_t errlen)
{
    struct api *api = calloc(1, sizeof *api);
    if (!api) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    api->ctx = *ctx;
    api->listen_fd = -1;
    pthread_mutex_init(&api->mu, NULL);
    snprintf(api->listen, sizeof api->listen, "%s", cfg->listen);
    snprintf(api->token, sizeof api->token, "%s", cfg->token ? cfg->token : "");
    if (!api->token[0] && cfg->token_file && cfg->token_file[0] &&
        read_token_file(cfg->token_file, api->token, sizeof api->token, err, errlen) < 0)
        goto fail;
    api->read_auth = cfg->read_auth;
    snprintf(api->webui_dir, sizeof api->webui_dir, "%s", cfg->webui_dir ? cfg->webui_dir : "");
    snprintf(api->node_name, sizeof api->node_name, "%s", cfg->node_name ? cfg->node_name : "");
    snprintf(api->notice_from, sizeof api->notice_from, "%s",
             cfg->notice_from && cfg->notice_from[0] ? cfg->notice_from : "sip:system@localhost");
    api->events = api_events_create();
    api->mb = api->events ? mailbox_create(ctx->loop) : NULL;
    if (!api->mb) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (api_https_setup(api, cfg, err, errlen) < 0)
        goto fail;
    api->listen_fd = bind_listener(cfg->listen, err, errlen);
    if (api->listen_fd < 0)
        goto fail;
    events_set_sink(on_loop_event, loop_events_wanted, api);
    return api;
fail:
    api_https_free(api);
    mailbox_destroy(api->mb);
    api_events_destroy(api->events);
    pthread_mutex_destroy(&api->mu);
    free(api);
    return NULL;
}

int api_serve(struct api *api, char *err, size_t errlen)
{
    struct MHD_OptionItem https[4];
    api_https_options(api, https);
    api->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
            (api->https_key ? MHD_USE_TLS : 0),
        0,
        NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, api->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_nothing, NULL, MHD_OPTION_ARRAY, https,
        MHD_OPTION_END);
    if (!api->mhd) {
        snprintf(err, errlen, "--api %s: the HTTP server did not start", api->listen);
        return -1;
    }
    api->listen_fd = -1; /* libmicrohttpd's now: closed by MHD_stop_daemon */
    LOG_INFO("api listening on %s://%s%s", api->https_key ? "https" : "http", api->listen,
             api->token[0] ? "" : " (no api.token: writes are refused)");
    return 0;
}

void api_stop(struct api *api)
{
    if (!api)
        return;
    events_set_sink(NULL, NULL, NULL);
    pthread_mutex_lock(&api->mu);
    api->stopping = 1;
    pthread_mutex_unlock(&api->mu);
    api_job_stop_all(api);
    api_events_close(api->events);
    if (api->mhd)
        MHD_stop_daemon(api->mhd); /* joins every connection thread */
    api->mhd = NULL;
    if (api->listen_fd >= 0)
        close(api->listen_fd);
    mailbox_destroy(api->mb);  /* jobs still queued are dropped (job.c) */
    api->mb = NULL;
    pthread_mutex_lock(&api->mu);
    api->stopped = 1;
    int free_now = api->loop_jobs == 0;
    pthread_mutex_unlock(&api->mu);
    if (free_now)
        api_free(api);
}

void api_free(struct api *api)
{
    api_https_free(api);
    api_events_destroy(api->events);
    pthread_mutex_destroy(&api->mu);
    free(api);
}
