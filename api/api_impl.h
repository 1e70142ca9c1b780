/* api_impl.h - what the files of api/ share: the request being served, the route table, loop
 * jobs, JSON helpers. Not for use outside api/. */
#ifndef SIPD_API_IMPL_H
#define SIPD_API_IMPL_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

#define API_MAX_BODY_BYTES (64 * 1024)
#define API_JOB_TIMEOUT_MS 5000
#define API_MAX_PARAMS 3
#define API_DEFAULT_LIMIT 100
#define API_MAX_LIMIT 1000

struct mailbox;
struct api_events;
struct MHD_Connection;
struct MHD_Daemon;

struct api {
    struct api_ctx ctx;
    struct mailbox *mb;
    struct MHD_Daemon *mhd;
    struct api_events *events;
    int listen_fd;           /* bound by api_create, handed to libmicrohttpd by api_serve */
    char listen[128];
    char token[256];
    int read_auth;
    char webui_dir[512];
    char node_name[64];
    char notice_from[256];
    char *https_cert, *https_key; /* PEM text for libmicrohttpd (api.tls); NULL = plain HTTP */
    pthread_mutex_t mu;     /* stopping and the pending list */
    int stopping;            /* api_stop() began: no new jobs */
    int stopped;             /* api_stop() returned: the last loop job frees the api */
    int loop_jobs;           /* jobs posted whose loop side has not let go yet */
    struct api_job *pending; /* jobs posted and not yet answered (api_stop answers them 503) */
};

/* One HTTP request, owned by its connection's thread from the first byte to the answer. */
struct api_req {
    struct api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;                  /* raw (still percent-encoded), query removed */
    char *params[API_MAX_PARAMS];      /* the route's {...} segments, decoded; owned */
    char *body;                        /* owned; NUL-terminated */
    size_t body_len;
    int body_too_big;
    int has_token;                     /* a correct bearer token came with it */
    /* the answer */
    int status;
    char *text;                        /* owned */
    size_t text_len;
    const char *content_type;
    char allow[64];                    /* 405: the Allow header */
    int retry_after_s;
    int is_stream;                     /* /api/v1/events: answered by http.c as a stream */
};

typedef void (*api_handler)(struct api_req *r);

struct api_route {
    const char *method;
    const char *pattern; /* "/api/v1/nodes/{name}/drain": {x} matches one segment */
    api_handler fn;
    const char *summary; /* one line: what it does (the OpenAPI document says the same) */
};
extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/* ---- answers (http.c) ---- */
/* Answer with JSON (takes the reference to v). */
void api_reply_json(struct api_req *r, int status, json_t *v);
/* {"error": err, "detail": printf(fmt, ...)} */
void api_reply_error(struct api_req *r, int status, const char *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_reply_text(struct api_req *r, int status, const char *content_type, char *text, size_t len);
/* Percent-decode s (n bytes) into a new string; NULL on a bad escape or a NUL byte. "+" is a
 * space only where plus_is_space (a query string's form encoding); in a path it is itself. */
char *api_decode(const char *s, size_t n, int plus_is_space);
/* s percent-encoded for a path segment or a query value (everything but unreserved characters).
 * A new string, or NULL on out of memory. */
char *api_encode(const char *s);
/* A query argument, decoded (caller frees), or NULL when absent; *bad set on a bad escape. */
char *api_query(struct api_req *r, const char *name, int *bad);
/* ?limit= (default API_DEFAULT_LIMIT, 1..API_MAX_LIMIT) and other integer arguments: 0, or -1
 * after answering 400. */
int api_query_long(struct api_req *r, const char *name, long dflt, long lo, long hi, long *out);
/* The body as a JSON object whose keys are all in `allowed` (NULL-terminated): the object (new
 * reference), or NULL after answering 400. */
json_t *api_body_object(struct api_req *r, const char *const *allowed);
/* ["a", "b"] from "a,b" (roles, Path values): a new array. */
json_t *api_csv_array(const char *s);
/* Append the string s to the array a of strings unless a holds it already (a list's entries,
 * each once). */
void api_array_add_once(json_t *a, const char *s);
/* A paginated list's job: ?limit (n[0]) and ?after (s[0], the cursor, or NULL); NULL after
 * answering 400 (or 500). */
struct api_job;
typedef void (*api_job_fn)(struct api_job *j);
struct api_job *api_list_job(struct api_req *r, api_job_fn fn);
/* The "next" link of a list's page that ends with the key `last`:
 * "<route>?limit=<limit>&after=<last, percent-encoded>" as a JSON string; JSON null when last is
 * NULL (the last page) or on out of memory. */
json_t *api_next_link(const char *route, size_t limit, const char *last);
/* A SIP URI named in a path or body: "sip:alice@example.com", "alice@example.com" (sip: added).
 * Returns a new string, or NULL when it is not a plausible SIP/SIPS URI (bounded length). */
char *api_sip_uri(const char *s);

/* ---- loop jobs (job.c) ---- */
struct api_job {
    struct api *api;
    api_job_fn run;   /* on the loop thread; ends, now or later, in api_job_done() */
    /* inputs, owned by the job */
    char *s[4];
    long n[4];
    json_t *in;
    /* output: JSON, or text (api_job_text) */
    int status;
    json_t *out;
    char *text;
    size_t text_len;
    const char *ctype;
    /* private to job.c */
    pthread_cond_t cv;
    int refs, done;
    struct api_job *next_pending, **prev_pending;
};
/* A job that will run fn on the loop. NULL on out of memory. */
struct api_job *api_job_new(struct api *api, api_job_fn fn);
/* A job with the route's {...} segments copied into s[0..] (the loop never points into the
 * request). NULL on out of memory (api_job_call(r, NULL) then answers 500). */
struct api_job *api_job_for(struct api_req *r, api_job_fn fn);
/* Post j, wait for its answer (at most API_JOB_TIMEOUT_MS) and reply with it. Consumes j. */
void api_job_call(struct api_req *r, struct api_job *j);
/* Loop thread: the answer (takes the reference to out; NULL = no body, e.g. 204). Once. */
void api_job_done(struct api_job *j, int status, json_t *out);
/* Loop thread: a text answer instead (takes text, a malloc'ed buffer; content_type static). */
void api_job_text(struct api_job *j, int status, const char *content_type, char *text, size_t len);
/* Loop thread: an error answer. */
void api_job_error(struct api_job *j, int status, const char *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Free the api itself (http.c): after api_stop(), once no job holds it. */
void api_free(struct api *api);

/* https.c (docs/tls.md): read api.tls's PEM files and enforce "the token never travels over
 * plain HTTP beyond loopback". 0, or -1 with err. */
struct api_config;
struct MHD_OptionItem;
int api_https_setup(struct api *api, const struct api_config *cfg, char *err, size_t errlen);
/* The HTTPS options for MHD_OPTION_ARRAY (out[4]; just MHD_OPTION_END without api.tls). */
void api_https_options(const struct api *api, struct MHD_OptionItem *out);
void api_https_free(struct api *api);
/* api_stop(): every job still waiting is answered 503 at once. */
void api_job_stop_all(struct api *api);
/* A store status (0 / STORE_E*) as HTTP: 0 -> 0; unreachable -> 503; else 500. */
int api_store_http_status(int status);

/* ---- events (events.c) ---- */
struct api_events *api_events_create(void);
void api_events_destroy(struct api_events *ev);
void api_events_close(struct api_events *ev); /* wakes every stream; they end */
/* http.c: serve r as a stream */
struct MHD_Response *api_events_response(struct api *api);

/* ---- shared by handlers ---- */
struct node_row;
json_t *api_node_json(const struct node_row *n); /* h_nodes.c */
/* h_nodes.c: the roles of a node as a body gives them (an array of names or "a,b"), checked
 * against the role names --roles takes, into out as "a,b". 0, or -1 with a one-line why. */
int api_roles_parse(const json_t *v, char *out, size_t outlen, char *why, size_t whylen);
/* h_nodes.c: is s a node name (1..63 of [A-Za-z0-9._-])? */
int api_node_name_ok(const char *s);

/* ---- handlers, one file per resource ---- */
void api_h_healthz(struct api_req *r);
void api_h_readyz(struct api_req *r);
void api_h_metrics(struct api_req *r);
void api_h_stats(struct api_req *r);
void api_h_events(struct api_req *r);
void api_h_nodes_list(struct api_req *r);
void api_h_node_get(struct api_req *r);
void api_h_node_add(struct api_req *r);
void api_h_node_patch(struct api_req *r);
void api_h_node_drain(struct api_req *r);
void api_h_node_activate(struct api_req *r);
void api_h_node_delete(struct api_req *r);
void api_h_node_heartbeats(struct api_req *r);
void api_h_regs_list(struct api_req *r);
void api_h_reg_get(struct api_req *r);
void api_h_reg_delete(struct api_req *r);
void api_h_presence_get(struct api_req *r);
void api_h_presence_rules_get(struct api_req *r);
void api_h_presence_rules_put(struct api_req *r);

/* ---- AORs (aor.c) ---- */
/* The canonical AOR of a SIP URI given by a client (docs/im-event-package.md §2.1: "sip:user@host",
 * host lower-cased, no port or parameters); "alice@example.com" is taken as sip:. A new string,
 * or NULL when it is no SIP URI with a user and a host. */
char *api_aor(const char *s);
/* An AOR named in a path, as the registrar and the presence package key their data
 * ("sip:user@host": scheme kept, scheme and host lower case, no port, no parameters; unlike the
 * IM packages' AOR, sips is not folded to sip). "alice@example.com" means sip:. A new string,
 * or NULL when it is no SIP AOR. */
char *api_reg_aor(const char *s);
/* What a route's {...} segment names, and so how it is made canonical and refused. */
enum api_path_aor {
    API_PATH_TOPIC,   /* {topic}: api_aor; 400 "bad topic" */
    API_PATH_MEMBER,  /* a topic's {aor} member, the second segment: api_aor; 400 "bad member" */
    API_PATH_AOR,     /* a user's or a presentity's rules' {aor}: api_aor; 400 "bad AOR" */
    API_PATH_REG_AOR, /* a registration's or a presentity's {aor}: api_reg_aor; 400 "bad AOR" */
};
/* The segment of r that kind names, as a canonical AOR (a new string), or NULL after answering
 * 400. */
char *api_path_aor(struct api_req *r, enum api_path_aor kind);
/* The same into a new job for fn (s[0]), or NULL after answering 400 (or 500: out of memory). */
struct api_job *api_path_job(struct api_req *r, enum api_path_aor kind, api_job_fn fn);

/* ---- topics, messages, subscriptions (h_topics.c, h_messages.c, h_subs.c) ---- */
/* The topic of a job's loop side as JSON {"topic", "kind", "last_seq", "members": [..]} (read from
 * the store), answered with status; j->s[0] is the topic. */
void api_topic_answer(struct api_job *j, int status);
/* Store callback helper: 1 when the topic j->s[0] exists (a group, or messages stored); else 0
 * after answering the store error or 404. */
struct im_topic_info;
int api_topic_found(struct api_job *j, int status, const struct im_topic_info *info);
/* The broker's retention (none without a broker on this node), for store_im_* reads. */
struct im_retention;
const struct im_retention *api_retention(const struct api *api);
void api_h_topics_list(struct api_req *r);
void api_h_topic_create(struct api_req *r);
void api_h_topic_get(struct api_req *r);
void api_h_topic_delete(struct api_req *r);
void api_h_topic_member_add(struct api_req *r);
void api_h_topic_member_remove(struct api_req *r);
void api_h_messages_list(struct api_req *r);
void api_h_message_post(struct api_req *r);
void api_h_subscriptions_list(struct api_req *r);

/* ---- users (h_users.c, docs/auth.md) ---- */
void api_h_users_list(struct api_req *r);
void api_h_user_add(struct api_req *r);
void api_h_user_get(struct api_req *r);
void api_h_user_patch(struct api_req *r);
void api_h_user_delete(struct api_req *r);

#endif
