/* test_api.c - every route of the REST API's table (api/routes.c), driven over HTTP against a
 * whole node on the memory store in this process: the loop runs on this thread, a client thread
 * sends the requests (as sipctl or curl would), so each one makes the real trip HTTP thread ->
 * mailbox -> loop -> answer.
 *
 * For every route: a valid request is served (not "no such route", not 405, not 5xx) and every
 * error answer is JSON {"error","detail"}; every route with a {segment} refuses a bad %-escape
 * (400); every write refuses a missing token (401) and a wrong one (401); every write with a
 * body refuses malformed JSON and unknown fields (400). The contents of each resource are
 * checked by the integration tests (t_api*.sh); this suite makes sure no route is left out. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api_impl.h"
#include "base/loop.h"
#include "config.h"
#include "server.h"
#include "suites.h"

#define TOKEN "unit-token"

struct reply {
    int status;
    json_t *json; /* NULL when the body is not JSON */
    char body[2048];
};

static int api_port;

/* One HTTP/1.1 request with Connection: close; the whole answer read. 0 or -1. */
static int request(const char *method, const char *path, const char *token, const char *body,
                   struct reply *out)
{
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)api_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s"
                     "Content-Length: %zu\r\n%s\r\n%s",
                     method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", body ? strlen(body) : 0,
                     body ? "Content-Type: application/json\r\n" : "", body ? body : "");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char buf[65536];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1)
        return -1;
    const char *b = strstr(buf, "\r\n\r\n");
    if (b) {
        snprintf(out->body, sizeof out->body, "%s", b + 4);
        out->json = json_loads(b + 4, 0, NULL);
    }
    return 0;
}

/* A path for pattern with every {segment} replaced by `value` (already encoded). */
static void fill(const char *pattern, const char *value, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < n;) {
        if (*p == '{') {
            o += (size_t)snprintf(out + o, n - o, "%s", value);
            p = strchr(p, '}') + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o < n ? o : n - 1] = '\0';
}

static int is_error_json(const struct reply *r)
{
    return r->json && json_is_string(json_object_get(r->json, "error")) &&
           json_is_string(json_object_get(r->json, "detail"));
}

static int is_write(const char *m) { return strcmp(m, "GET") != 0; }

/* A body the route accepts the shape of (values may still be refused: that is a 4xx). */
static const char *valid_body(const struct api_route *rt)
{
    if (strcmp(rt->method, "POST") == 0 && strcmp(rt->pattern, "/api/v1/nodes") == 0)
        return "{\"name\":\"u1\",\"address\":\"udp:127.0.0.1:5999\",\"roles\":[\"proxy\"]}";
    if (strcmp(rt->method, "PATCH") == 0)
        return "{\"max_num\":10}";
    if (strcmp(rt->method, "POST") == 0 && strcmp(rt->pattern, "/api/v1/topics") == 0)
        return "{\"topic\":\"sip:unit-g@example.com\",\"members\":[\"sip:a@example.com\"]}";
    if (strstr(rt->pattern, "/members") && strcmp(rt->method, "POST") == 0)
        return "{\"member\":\"sip:b@example.com\"}";
    if (strstr(rt->pattern, "/messages") && strcmp(rt->method, "POST") == 0)
        return "{\"body\":\"hello\"}";
    return NULL;
}

struct client {
    int done_fd;
    int failures;
};

#define EXPECT(c, cond, ...)                                                                      \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "\n  test_api: " __VA_ARGS__);                                        \
            (c)->failures++;                                                                      \
        }                                                                                         \
    } while (0)

static void check_route(struct client *c, const struct api_route *rt)
{
    char path[512];
    struct reply r;
    const char *body = valid_body(rt);
    /* the value each {segment} gets: a node name, a topic, an AOR all parse from this */
    fill(rt->pattern, "sip%3Aunit-g%40example.com", path, sizeof path);
    if (strstr(rt->pattern, "{name}"))
        fill(rt->pattern, "u1", path, sizeof path);
    if (strcmp(rt->pattern, "/api/v1/subscriptions") == 0)
        strcat(path, "?topic=sip%3Aunit-g%40example.com");
    if (strcmp(rt->pattern, "/api/v1/events") == 0)
        return; /* a stream: t_api.sh reads it */

    int rc = request(rt->method, path, is_write(rt->method) ? TOKEN : NULL, body, &r);
    EXPECT(c, rc == 0, "%s %s: no answer\n", rt->method, path);
    EXPECT(c, r.status != 405 && r.status < 500 && !(r.status == 404 && strstr(r.body, "no such route")),
           "%s %s (valid) -> %d %s\n", rt->method, path, r.status, r.body);
    EXPECT(c, r.status < 400 || is_error_json(&r), "%s %s -> %d without error/detail: %s\n",
           rt->method, path, r.status, r.body);
    json_decref(r.json);

    if (strchr(rt->pattern, '{')) {
        fill(rt->pattern, "a%zz", path, sizeof path);
        request(rt->method, path, is_write(rt->method) ? TOKEN : NULL, body, &r);
        EXPECT(c, r.status == 400 && is_error_json(&r), "%s %s (bad escape) -> %d %s\n", rt->method,
               path, r.status, r.body);
        json_decref(r.json);
        fill(rt->pattern, "u1", path, sizeof path);
    }
    if (is_write(rt->method)) {
        request(rt->method, path, NULL, body, &r);
        EXPECT(c, r.status == 401 && is_error_json(&r), "%s %s (no token) -> %d\n", rt->method, path,
               r.status);
        json_decref(r.json);
        request(rt->method, path, "not-" TOKEN, body, &r);
        EXPECT(c, r.status == 401 && is_error_json(&r), "%s %s (wrong token) -> %d\n", rt->method,
               path, r.status);
        json_decref(r.json);
    }
    if (body) {
        request(rt->method, path, TOKEN, "{\"name\": ", &r);
        EXPECT(c, r.status == 400 && is_error_json(&r), "%s %s (malformed JSON) -> %d %s\n",
               rt->method, path, r.status, r.body);
        json_decref(r.json);
        request(rt->method, path, TOKEN, "{\"no_such_field\": 1}", &r);
        EXPECT(c, r.status == 400 && is_error_json(&r), "%s %s (unknown field) -> %d %s\n",
               rt->method, path, r.status, r.body);
        json_decref(r.json);
    }
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    for (size_t i = 0; i < api_nroutes; i++)
        check_route(c, &api_routes[i]);
    uint64_t one = 1;
    if (write(c->done_fd, &one, sizeof one) < 0)
        c->failures++;
    return NULL;
}

static void on_done(struct loop *loop, int fd, uint32_t events, void *arg)
{
    (void)fd, (void)events, (void)arg;
    loop_stop(loop);
}

static int free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_api_every_route_answers_and_refuses_bad_input(void)
{
    struct sipd_config cfg;
    config_defaults(&cfg);
    char err[256];
    int sip_port = free_port(SOCK_DGRAM);
    api_port = free_port(SOCK_STREAM);
    CU_ASSERT_FATAL(sip_port > 0 && api_port > 0);
    snprintf(cfg.listen, sizeof cfg.listen, "udp:127.0.0.1:%d", sip_port);
    snprintf(cfg.api_listen, sizeof cfg.api_listen, "127.0.0.1:%d", api_port);
    snprintf(cfg.api_token, sizeof cfg.api_token, "%s", TOKEN);
    snprintf(cfg.domain, sizeof cfg.domain, "example.com");
    CU_ASSERT_EQUAL_FATAL(config_finish(&cfg, err, sizeof err), 0);

    struct loop *loop = loop_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(loop);
    struct server *srv = server_create(loop, &cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    CU_ASSERT_EQUAL_FATAL(server_start_api(srv), 0);

    struct client c = {.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    CU_ASSERT_FATAL(c.done_fd >= 0);
    loop_fd_add(loop, c.done_fd, EPOLLIN, on_done, NULL);
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, client_main, &c), 0);
    loop_run(loop); /* until the client is done: every request needs the loop */
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(c.failures, 0);
    CU_ASSERT(api_nroutes >= 20);

    loop_fd_del(loop, c.done_fd);
    close(c.done_fd);
    server_destroy(srv);
    loop_destroy(loop);
}

void register_api_suites(void)
{
    CU_pSuite s = CU_add_suite("api", NULL, NULL);
    CU_add_test(s, "every route: served, errors as JSON, bad escapes, tokens, bodies",
                test_api_every_route_answers_and_refuses_bad_input);
}
