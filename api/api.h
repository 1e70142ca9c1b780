/* api.h - the embedded HTTP control plane (docs/api.md): REST under /api/v1, /healthz, /readyz,
 * /metrics, the event stream and the status page, served by libmicrohttpd on its own threads.
 *
 * Those threads never touch the SIP loop's data. A request that needs it becomes a job posted
 * to the loop through a mailbox (base/mailbox.h); the job runs there (store calls are the
 * loop's usual asynchronous ones) and its answer goes back to the waiting HTTP thread. */
#ifndef SIPD_API_H
#define SIPD_API_H

#include <stddef.h>

struct api;
struct loop;
struct store;
struct cluster;
struct node_self;
struct broker;
struct presence;
struct txn_layer;

/* What the loop side of the API may use. Every pointer outlives the api (NULL = not on this
 * node). Only ever dereferenced on the loop thread. */
struct api_ctx {
    struct loop *loop;
    struct store *store;
    struct txn_layer *txns;
    struct cluster *cluster;   /* balancers */
    struct node_self *self;
    struct broker *broker;     /* brokers: publish, topics, subscriptions */
    struct presence *presence;
    /* readiness, asked on the loop thread: NULL when ready, else the reason ("starting",
     * "draining", "drained", "stopping", "store unreachable") */
    const char *(*not_ready)(void *arg);
    void *arg;
};

struct api_config {
    const char *listen;     /* "127.0.0.1:5080", "[::1]:5080" (api.listen) */
    const char *token;      /* api.token; "" = none (writes are refused) */
    const char *token_file; /* api.token_file: read at start when token is "" */
    int read_auth;          /* api.read_auth: reads need the token too */
    const char *webui_dir;  /* api.webui_dir: the status page's files */
    const char *node_name;  /* --name, for /api/v1/stats; may be "" */
    const char *notice_from; /* api.notice_from: sender of messages published through the API */
    const char *tls_cert_file; /* api.tls: HTTPS with these PEM files (tls.cert); NULL = HTTP */
    const char *tls_key_file;  /* tls.key */
    int allow_plain_remote;    /* api.allow_plain_remote: plain HTTP beyond loopback anyway */
};

/* Bind the listener (no thread yet: a daemon forks after this). On failure returns NULL with a
 * one-line cause in err ("--api 127.0.0.1:5080: Address already in use"). Loop thread. Free
 * with api_stop(). */
struct api *api_create(const struct api_config *cfg, const struct api_ctx *ctx, char *err,
                       size_t errlen);

/* Start serving (libmicrohttpd's threads), in the process that runs the loop. 0, or -1 with err. */
int api_serve(struct api *api, char *err, size_t errlen);

/* Stop serving: requests waiting for the loop are answered 503, event streams end, every HTTP
 * thread is joined. Loop thread, while the loop's objects in ctx still exist. NULL is a no-op. */
void api_stop(struct api *api);

/* An event for the /api/v1/events stream: type ("heartbeat", "node", "registration") and one
 * JSON object as text. Loop thread. Cheap when no client streams (see api_events_wanted). */
void api_event(struct api *api, const char *type, const char *json);
int api_events_wanted(const struct api *api);

#endif
