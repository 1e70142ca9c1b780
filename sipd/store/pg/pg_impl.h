/* pg_impl.h - the PostgreSQL store backend's insides, shared by the files of sipd/store/pg/.
 * Private to this folder; the rest of sipd sees only store.h (and store_pg_create()).
 *
 * A small pool of libpq connections (PG_CONNECTIONS), each driven by the event loop through
 * libpq's asynchronous API in pipeline mode: PQconnectStartParams/PQconnectPoll to connect,
 * PQsendPrepare/PQsendQueryPrepared/PQpipelineSync to send, PQconsumeInput/PQisBusy/PQgetResult
 * to read, PQflush (with EPOLLOUT) for what the kernel did not take at once. The loop never waits
 * for the database.
 *
 * The files, in the order a reader should open them:
 *     pg.c           the store interface (struct store_ops), create and destroy
 *     statements.c   the prepared statements: SQL text, parameter count, is it a write
 *     pipeline.c     operations: routing to a connection, queues, sending, one result path
 *     conn.c         one connection: connect, prepare, sync, read, drop and reconnect
 *     location.c     the location service: batched update transactions, lookups, expire
 *     query.c        IM and presence: one submit and one result path, driven by a row per operation
 *     im_presence.c  the rows of the IM and presence operations, and their entry points
 *     nodes.c        the node table (cluster): its rows and entry points, like im_presence.c
 *     subs.c         `im` subscription rows (topic takeover), like nodes.c
 *     users.c        digest users and the nonce secret (docs/auth.md), like nodes.c
 *     array.c        array literals for array parameters (text[], bigint[])
 *     listen.c       the LISTEN connection (sipd_im, sipd_pres, sipd_nodes)
 *     migrate.c      store_init_db (sipd --init-db; synchronous, never on the loop)
 *
 * Callbacks may re-enter the store (submit operations, even destroy it): `depth` counts the
 * entry points on the stack and the struct is freed only when the outermost one returns.
 * Why not base/ref.h: nothing holds the store across loop iterations but its one owner, and
 * store_destroy() must close the connections and fail the operations at once, whoever is on the
 * stack; only the memory waits, for stack frames, not holders. An operation (struct pg_op) has
 * one owner at a time, the list it is on (waiting, sent, to resend), and pg_op_finish() takes it
 * off, calls back and frees it.
 *
 * Note: a host name in the conninfo is resolved by libpq with blocking getaddrinfo() while
 * connecting; use hostaddr= (or a unix socket / numeric host) to keep that off the loop. */
#ifndef SIPD_STORE_PG_IMPL_H
#define SIPD_STORE_PG_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#ifndef LIBPQ_HAS_PIPELINING
#error "the PostgreSQL store needs libpq 14 or later (pipeline mode)"
#endif

#include "../../base/hmap.h"
#include "../../base/loop.h"
#include "../store_impl.h"

#define PG_CONNECTIONS 4            /* connections per store */
#define PG_PIPELINE_OPS 32          /* operations (a batch counts as one) in flight on one conn */
#define PG_BATCH_MAX 64             /* updates (of distinct AORs) in one transaction */
#define PG_GROUP_MAX 16             /* ops queued on a conn before updates use the next conn */
#define PG_PENDING_SLOTS 8192       /* updates not finished, counted by AOR hash */
#define PG_RING_SIZE 256            /* results awaited on one connection (> 6 * PG_PIPELINE_OPS) */
#define PG_MAX_OPS 10000            /* queued + in flight; beyond: STORE_EUNAVAIL */
#define PG_MAX_BINDINGS 1000        /* per AOR, read or written */
#define PG_MAX_FIELD_BYTES 65536    /* one text column of a binding */
#define PG_MAX_URI_BYTES 4000       /* a topic or AOR of IM/presence (fits a NOTIFY payload) */
#define PG_MAX_BODY_BYTES (4u << 20) /* one message or presence body */
#define PG_MAX_READ_ROWS 1000       /* messages in one read */
#define PG_MAX_READ_BYTES (8u << 20) /* bodies in one read (the first message always comes) */
#define PG_MAX_MEMBERS 10000        /* members of a group, written or read */
#define PG_MAX_PARAM_BYTES (8u << 20) /* all array parameters of one replace */
#define PG_MAX_BEATS 10000          /* heartbeat results in one store_node_beats() */
#define PG_KNOWN_MAX 16384          /* AORs whose last write this node remembers (known.c) */
#define PG_SPEC_MAX_MEMBERS PG_GROUP_MAX /* larger batches always read first */
#define PG_GUESS_MAX 16             /* guess_credit bounds and the cost of a wrong guess */
#define PG_GUESS_MIN (-64)
#define PG_GUESS_MISS_COST 8
#define PG_XMIN_MAX 24              /* a transaction id as text, with its NUL */
#define PG_MAX_RETRIES 3            /* update retried on serialization failure / deadlock */
#define PG_BACKOFF_MIN_MS 250
#define PG_BACKOFF_MAX_MS 2000
#define PG_CONNECT_TIMEOUT_MS 5000
#define PG_STMT_TIMEOUT_MS 10000
#define PG_MIGRATION_MAX_BYTES (16u << 20)
#define PG_INIT_LOCK_KEY "7596475006052413440" /* advisory lock of store_init_db ("sipd" << 32) */

/* ---- statements (statements.c) ------------------------------------------------------------ */

#define LOC_NCOLS 14 /* the columns of a binding (LOC_COLS in statements.c) */

enum stmt_id {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_LOCK, S_SELECT, S_REPLACE, S_GET, S_EXPIRE, S_COUNT, S_ASYNC,
    /* IM and presence: one statement per operation (OP_QUERY), results in binary format */
    S_IM_TOPIC, S_IM_READ, S_IM_PUBLISH, S_IM_GROUP_CREATE, S_IM_GROUP_DELETE, S_IM_MEMBERS,
    S_IM_GROUPS_OF, S_IM_ACTIVE_TOPICS, S_IM_GROUP_MEMBERS,
    S_IM_POS_GET, S_IM_POS_ADVANCE, S_IM_EXPIRE, S_IM_TOPICS_LIST, S_IM_MEMBER_ADD,
    S_IM_MEMBER_REMOVE, S_PRES_PUBLISH, S_PRES_GET, S_PRES_EXPIRE,
    /* the location service's list of AORs (location.c), OP_QUERY too */
    S_LOC_LIST,
    /* the node table (nodes.c), OP_QUERY too */
    S_NODE_UPSERT, S_NODE_STATUS, S_NODE_DRAINING, S_NODES_LOAD, S_NODE_BEATS, S_NODE_PROMOTE,
    S_NODE_ADD, S_NODE_CHANGE, S_NODE_REMOVE, S_NODE_HEARTBEATS,
    /* im subscription rows (subs.c), OP_QUERY too */
    S_SUB_PUT, S_SUB_DELETE, S_SUB_RELEASE, S_SUB_ORPHANS, S_SUB_CLAIM, S_SUB_LIST,
    /* digest users and the nonce secret (users.c), OP_QUERY too */
    S_USER_GET, S_USER_CREATE, S_USER_UPDATE, S_USER_DELETE, S_USERS_LIST, S_AUTH_SECRET,
    /* presence authorization rules (rules.c), OP_QUERY too */
    S_RULES_GET, S_RULES_PUT,
    S_NUM
};
#define S_QUERY_FIRST S_IM_TOPIC
#define S_NODE_FIRST S_NODE_UPSERT
#define S_SUB_FIRST S_SUB_PUT
#define S_USER_FIRST S_USER_GET
#define S_RULES_FIRST S_RULES_GET

struct pg_stmt {
    const char *name;
    const char *sql;
    int nparams;
    int is_write; /* OP_QUERY: changes data, so runs alone between two syncs (see query.c) */
};
extern const struct pg_stmt pg_stmts[S_NUM];
extern const char pg_setup_sql[], pg_setup_sql_pre12[];

#define REPLACE_NARRAYS 14 /* aor + the 13 other columns */
/* The update statements' array parameters: S_REPLACE's (REPLACE_NARRAYS and four more), then
 * S_LOCK's and S_SELECT's two. */
#define PG_SCRATCH_ARRAYS (REPLACE_NARRAYS + 6)
#define PG_SCRATCH_KEEP_BYTES 65536 /* a larger buffer is freed when given back */

/* Ring entries that are not prepared statements: the result of PQpipelineSync, and of the
 * session setup below. */
#define E_SYNC S_NUM
#define E_SETUP (S_NUM + 1)

/* An array literal being built (array.c). */
struct pg_arr {
    char *p;
    size_t len, cap;
    int is_bad; /* allocation failed or too long (PG_MAX_PARAM_BYTES) */
};

/* ---- operations ------------------------------------------------------------------------------ */

/* OP_BATCH is one update transaction: it runs the updates (OP_UPDATE) of up to PG_BATCH_MAX
 * distinct AORs that were queued one after the other, so that under load a transaction, its
 * statements and its round trips serve many REGISTERs. */
enum op_kind { OP_UPDATE, OP_LOOKUP, OP_EXPIRE, OP_COUNT, OP_BATCH, OP_QUERY };
/* Where it is: a list of its connection, a batch's members, or nowhere (being finished). */
enum op_where { W_NONE, W_WAIT, W_SENT, W_RESEND, W_BATCH };

struct pg_conn;
struct pg_query;

struct pg_op {
    struct pg_op *prev, *next;
    struct pg_conn *conn;      /* the connection it was routed to */
    enum op_where where;
    enum op_kind kind;
    int is_internal;           /* not counted by pending(), no callback */
    char *aor;
    uint64_t aor_hash;
    int64_t now;
    store_update_fn update;
    store_bindings_cb done_bindings;
    store_status_cb done_status;
    void *arg;
    int has_error;             /* one of this attempt's statements failed */
    int is_skipped;            /* ... or was skipped after another operation's error */
    int status;                /* what to report when it ends */
    int want_retry;            /* batch: the database asked for the transaction to be retried */
    int is_begun;              /* batch: this attempt's BEGIN went through */
    PGresult *stored;          /* batch: the REPLACE's rows, reported once COMMIT is through */
    int retries;               /* update: transactions retried on conflict so far */
    int is_decided;            /* update: its update function ran in the current batch */
    int is_included;           /* ... and returned bindings, which the REPLACE writes */
    struct binding_list out;   /* ... those bindings: what the AOR holds once COMMIT is through */
    int is_solo;               /* update: runs alone (a batch it was in failed) */
    int is_spec;               /* batch: one flight on the AORs' known rows (location.c) */
    int no_spec;               /* update: read its rows first (not optimistic, or they were
                                * not what this node knew) */
    int is_guessed;            /* update: in a one-flight batch, its AOR taken to have no rows */
    struct pg_query *q;        /* query: its statement, parameters and callback */
    int nmembers;              /* batch: its updates, in queue order */
    struct pg_op *members[];   /* (allocated for batches only) */
};

struct op_list {
    struct pg_op *head, *tail;
    size_t n;
};

/* ---- connections and the store -------------------------------------------------------------- */

enum pg_state { PG_DOWN, PG_CONNECTING, PG_PREPARING, PG_READY };
enum link_log { LINK_UNKNOWN, LINK_UP, LINK_DOWN }; /* what we last told the operator */

/* A result the connection waits for, in the order the server will send them. */
struct pg_entry {
    struct pg_op *op;          /* NULL: the connection's own (setup, a prepare, a sync) */
    unsigned char what;        /* enum stmt_id, E_SYNC or E_SETUP */
    unsigned char is_prepare;  /* setup or a prepare: stmts[what] is being prepared */
    uint64_t sent_us;          /* when it was sent (metrics_clock_us), for the query duration */
};

struct pg_conn {
    struct pg_store *ps;
    int idx;
    PGconn *conn;
    int fd;                    /* registered in the loop, -1 when none */
    uint32_t fd_events;
    enum pg_state state;
    struct op_list wait;       /* routed here, not sent yet, in order */
    struct op_list sent;       /* statements sent, results pending, in order */
    struct op_list resend;     /* skipped after an error: back to the front of wait at the sync */
    struct pg_entry ring[PG_RING_SIZE];
    unsigned ring_head, ring_len;
    PGresult *res;             /* result of the statement at the ring's head, collected so far */
    int nunsynced;             /* statements sent since the last sync */
    int last_sent;             /* the statement sent last in this segment, -1 right after a sync */
    struct pg_op *owner;       /* batch whose flight 1 was sent last: its transaction is open */
    struct pg_op *unsure;      /* batch whose flight 2 is out: it may leave the txn aborted */
    int is_unsure_synced;      /* ... and its segment is closed: start no new one behind it */
    uint64_t backoff_ms;
    uint64_t progress_ms;      /* last result, or when the ring stopped being empty */
    int is_progress_timer_on;
    struct timer retry_timer, connect_timer, progress_timer;
};

enum listen_state { LS_OFF, LS_DOWN, LS_CONNECTING, LS_SUBSCRIBING, LS_LISTENING };

/* The connection that LISTENs on sipd_im, sipd_pres and sipd_nodes while a listener (IM, presence
 * or nodes) is set (see listen.c). */
struct pg_listen {
    PGconn *conn;
    int fd;                    /* registered in the loop, -1 when none */
    uint32_t fd_events;
    enum listen_state state;
    size_t nsent;              /* SUBSCRIBING: LISTEN commands sent (listen_channels order) */
    store_im_notify_cb im_cb;  /* both NULL: OFF */
    void *im_arg;
    store_pres_notify_cb pres_cb;
    void *pres_arg;
    store_nodes_notify_cb nodes_cb;
    void *nodes_arg;
    int is_im_missed;          /* failed or lost since im_cb was set: (NULL, 0) when LISTENing */
    int is_pres_missed;        /* the same for pres_cb: (NULL) once LISTEN is back */
    int is_nodes_missed;       /* the same for nodes_cb: (-1) once LISTEN is back */
    int is_loss_logged;        /* the operator was told; cleared when listening again */
    unsigned session;          /* bumped on every close: a callback's caller sees it went */
    uint64_t backoff_ms;
    struct timer retry_timer, connect_timer;
};

struct metric;

struct pg_store {
    struct store base;
    char *conninfo;            /* may hold a password: never logged, wiped on free */
    struct pg_conn conns[PG_CONNECTIONS];
    struct pg_listen listen;
    enum link_log link_logged;
    size_t nops, nuser;        /* all operations / those of callers (pending()) */
    long count_aors, count_bindings;
    struct metric *query_duration; /* sipd_store_query_duration_seconds (pipeline.c) */
    struct hmap known;         /* aor -> struct pg_known: what this node last wrote (known.c) */
    int guess_credit;          /* >= 0: an AOR it does not know is taken to have no rows */
    int reg_sync_commit;       /* database.registrations_sync_commit (S_ASYNC in statements.c) */
    struct timer pump_timer;   /* zero delay: sends what this loop iteration queued */
    /* Buffers of the array parameters of the update statements, kept from one batch to the
     * next (pg_arr_borrow): libpq copies a statement's parameters when it is sent. */
    struct pg_arr scratch[PG_SCRATCH_ARRAYS];
    /* Updates submitted and not finished, counted by aor_hash % PG_PENDING_SLOTS, and the
     * connection they all went to (pg_route_location). */
    struct pg_slot {
        uint32_t n;
        int conn;
    } pending[PG_PENDING_SLOTS];
    int depth;                 /* entry points on the stack */
    int is_destroyed;
};


static inline struct pg_store *pg_of(const struct store *st) { return (struct pg_store *)st; }

/* ---- conn.c: one connection ------------------------------------------------------------------ */

void pg_enter(struct pg_store *ps);
void pg_leave(struct pg_store *ps); /* frees the store when it was destroyed and depth is 0 */
void pg_store_free(struct pg_store *ps);
int pg_any_ready(const struct pg_store *ps);
/* One line from a libpq message, into buf. */
const char *pg_one_line(char *buf, size_t size, const char *msg);
void pg_notice_quiet(void *arg, const char *message);
PGconn *pg_connect_start(const struct pg_store *ps);
void pg_conn_start(struct pg_conn *c);
void pg_conn_close(struct pg_conn *c);
void pg_conn_drop(struct pg_conn *c, const char *reason);
int pg_res_ok(const PGresult *res);
int pg_ring_push(struct pg_conn *c, struct pg_op *op, int what, int is_prepare);
int pg_send_stmt(struct pg_conn *c, struct pg_op *op, enum stmt_id id, const char *const *values);
int pg_end_segment(struct pg_conn *c);
int pg_end_segment_for(struct pg_conn *c, struct pg_op *op);
void pg_prepare_result(struct pg_conn *c, int idx, const PGresult *res);

/* ---- pipeline.c: operations ------------------------------------------------------------------ */

void pg_list_append(struct op_list *l, struct pg_op *op, enum op_where where);
void pg_list_unlink(struct op_list *l, struct pg_op *op);
void pg_list_prepend_all(struct op_list *dst, struct op_list *src, enum op_where where);
void pg_op_free(struct pg_op *op);
void pg_op_detach(struct pg_op *op);
void pg_op_finish(struct pg_op *op, int status, const struct binding *b, size_t n);
void pg_op_resend(struct pg_conn *c, struct pg_op *op);
void pg_conn_fail_ops(struct pg_conn *c, int status);
void pg_queue_count(struct pg_conn *c);
const char *pg_op_name(const struct pg_op *op);
int pg_needs_new_segment(const struct pg_conn *c, const struct pg_op *op);
int pg_is_retryable(const PGresult *res);
int pg_pump(struct pg_conn *c);
void pg_on_stmt_result(struct pg_conn *c, const struct pg_entry *e, PGresult *res);
void pg_on_sync(struct pg_conn *c);
uint64_t pg_hash_aor(const char *aor);
struct pg_conn *pg_route_aor(struct pg_store *ps, uint64_t h);
struct pg_conn *pg_route_any(struct pg_store *ps);
struct pg_conn *pg_route_location(struct pg_store *ps, const struct pg_op *op);
struct pg_op *pg_op_new(struct pg_store *ps, enum op_kind kind, const char *aor, int64_t now,
                        store_bindings_cb done_bindings, store_status_cb done_status, void *arg);
void pg_op_submit(struct pg_store *ps, struct pg_op *op);

/* ---- location.c: the location service -------------------------------------------------------- */

int pg_get_i64(const PGresult *res, int row, int col, int64_t min, int64_t max, int64_t *out);
int pg_is_aor_updating(const struct pg_conn *c, const struct pg_op *op);
struct pg_op *pg_batch_take(struct pg_conn *c);
int pg_batch_start(struct pg_conn *c, struct pg_op *b);
void pg_batch_decide(struct pg_conn *c, struct pg_op *b, const PGresult *res);
void pg_batch_abandon(struct pg_conn *c, struct pg_op *b);
void pg_batch_commit_result(struct pg_conn *c, struct pg_op *b, ExecStatusType rs);
void pg_lookup_result(struct pg_conn *c, struct pg_op *op, const PGresult *res);
void pg_count_result(struct pg_conn *c, struct pg_op *op, const PGresult *res);
/* ---- known.c: what this node last wrote per AOR (one-flight updates, see location.c) --------- */

void pg_known_free(struct pg_store *ps);
int pg_known_has(const struct pg_store *ps, const char *aor);
void pg_known_forget(struct pg_store *ps, const char *aor);
/* Remember rows (what the REPLACE wrote) written by transaction xmin for aor. The rows move
 * into the memory (*rows left empty) unless it has no room for them (*rows then untouched: the
 * caller frees them either way with binding_list_free). */
void pg_known_set(struct pg_store *ps, const char *aor, const char *xmin,
                  struct binding_list *rows);
/* What S_SELECT would give for aor at now if the table held what this node remembers: the live
 * rows in lookup order appended to cur, the number of all rows and their xmin. 0, 1 when nothing
 * is remembered (cur empty, *nrows 0, xmin ""), -1 out of memory. */
int pg_known_current(const struct pg_store *ps, const char *aor, int64_t now,
                     struct binding_list *cur, int64_t *nrows, char xmin[PG_XMIN_MAX]);
/* An AOR this node did not know had no rows (good_guess) or had some: keep score (guess_credit). */
void pg_guess_learn(struct pg_store *ps, int good_guess);

void pg_location_update(struct store *st, const char *aor, int64_t now, store_update_fn update,
                        store_bindings_cb done, void *arg);
void pg_location_update_optimistic(struct store *st, const char *aor, int64_t now,
                                   store_update_fn update, store_bindings_cb done, void *arg);
void pg_location_lookup(struct store *st, const char *aor, int64_t now, store_bindings_cb done,
                        void *arg);
void pg_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg);
long pg_location_count(const struct store *st, long *nbindings);

/* ---- array.c: array literals ----------------------------------------------------------------- */

void pg_arr_put(struct pg_arr *sb, const char *s, size_t n);
void pg_arr_text(struct pg_arr *sb, size_t i, const char *s); /* element i (0: opens the array) */
void pg_arr_int(struct pg_arr *sb, size_t i, int64_t v);
/* Scratch array i of the store, empty (its buffer kept from an earlier use); give it back with
 * pg_arr_return once the statement is sent. pg_arr_free_scratch frees them all. */
struct pg_arr pg_arr_borrow(struct pg_store *ps, int i);
void pg_arr_return(struct pg_store *ps, int i, struct pg_arr *a);
void pg_arr_free_scratch(struct pg_store *ps);

/* ---- query.c: one submit and one result path for the IM and presence statements -------------- */

/* The caller's callback of a query (its type is the row's: see struct query_row). */
union query_done {
    store_topic_cb topic;
    store_publish_cb publish;
    store_messages_cb messages;
    store_status_cb status;
    store_members_cb members; /* also the store_aors_cb of an expire: the same type */
    store_position_cb position;
    store_pres_cb pres;
    store_nodes_cb nodes;
    store_beats_cb beats;
    store_aor_counts_cb aor_counts;
    store_im_subs_cb subs;
    store_topic_rows_cb topic_rows;
    store_user_cb user;
    store_users_cb users;
    store_secret_cb secret;
    store_pres_rules_cb rules;
};

/* One parameter value; which member counts is said by the row's kind letter (query_row). */
struct qval {
    const char *s;         /* 'u', 'f': text, NULL is SQL NULL; 'b': the octets, NULL is SQL NULL */
    int64_t i;             /* 'i' */
    size_t n;              /* 'b': octets; 'a': elements */
    const char *const *v;  /* 'a': the elements (none NULL) */
};

/* A query's result as the generic path parsed it, for the row's reporter. */
struct qresult {
    int64_t v[4];          /* the leading columns of the first row (query_row.scalars) */
    void *items;           /* one per row that the row's parser took (item_size each) */
    size_t n;
};

struct pg_op;
/* Parse row r of res into item: 0 taken, QROW_SKIP not an item, -1 malformed, or a status > 0
 * (a SIP status) that is the operation's answer (the rows after it are not read). */
#define QROW_SKIP (-2)
typedef int (*query_row_parser)(const struct pg_op *op, const PGresult *res, int r, void *item);
/* Call the caller back: status 0 with r, or a failure / SIP status (r then holds nothing). */
typedef void (*query_reporter)(const struct pg_op *op, int status, const struct qresult *r);

/* How one IM or presence operation is sent and read: the other half of its statement's row
 * (pg_stmts[stmt] has its SQL, parameter count and whether it writes). */
struct query_row {
    enum stmt_id stmt;
    /* Parameters, one letter each (as many as pg_stmts[stmt].nparams):
     *   u  a URI: text, at most PG_MAX_URI_BYTES   f  a text field, at most PG_MAX_FIELD_BYTES
     *   i  an integer (int64, as text)             b  a bytea (binary), at most PG_MAX_BODY_BYTES
     *   a  a text[] of URIs                        l  a long text (an array literal the caller
     *                                                 built), at most PG_MAX_PARAM_BYTES */
    const char *params;
    int is_keyed;          /* parameter 1 (a topic or AOR) routes it; else the least busy conn */
    /* The result (binary format): ncols columns, at least min_rows rows; `scalars` the kinds of
     * its leading columns read from the first row ('b' bool, 'i' int8); with a parser, every row
     * is offered to it, items of item_size bytes. ncols 0: the result is not read. */
    int ncols;
    int min_rows;
    const char *scalars;
    query_row_parser parse_row;
    size_t item_size;
    query_reporter report;
};

/* The reporter of statements whose caller only wants the status (store_status_cb, may be NULL). */
void pg_report_status(const struct pg_op *op, int status, const struct qresult *r);

void pg_query_run(struct pg_store *ps, const struct query_row *row, const struct qval *p,
                  int is_bad, union query_done done, void *arg);
const union query_done *pg_query_done(const struct pg_op *op);
enum stmt_id pg_query_stmt(const struct pg_op *op);
int pg_bin_i64(const PGresult *res, int row, int col, int64_t *out);
int pg_bin_i32(const PGresult *res, int row, int col, int64_t *out);
int pg_bin_bool(const PGresult *res, int row, int col, int *out);
int pg_bin_text(const PGresult *res, int row, int col, int is_nullable, const char **out);
int pg_bin_bytes(const PGresult *res, int row, int col, const char **out, size_t *len);

void pg_query_free(struct pg_query *q);
void pg_query_notify(struct pg_op *op, int status, const PGresult *res);
const char *pg_query_name(const struct pg_op *op);
int pg_query_is_write(const struct pg_op *op);
int pg_query_start(struct pg_conn *c, struct pg_op *op);
int pg_query_result(struct pg_conn *c, struct pg_op *op, PGresult *res);
struct pg_op *pg_query_synced(struct pg_conn *c, struct pg_op *op);
void pg_query_report(struct pg_op *op);

/* ---- im_presence.c: the rows of the IM and presence operations, and their entry points ------- */

void pg_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
                 const struct im_retention *ret, store_topic_cb done, void *arg);
void pg_im_publish(struct store *st, const struct im_publish *p, store_publish_cb done, void *arg);
void pg_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max, int64_t now,
                const struct im_retention *ret, store_messages_cb done, void *arg);
void pg_im_group_create(struct store *st, const char *topic, const char *const *members,
                        size_t nmembers, store_status_cb done, void *arg);
void pg_im_group_delete(struct store *st, const char *topic, store_status_cb done, void *arg);
void pg_im_members(struct store *st, const char *topic, store_members_cb done, void *arg);
void pg_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg);
void pg_im_active_topics(struct store *st, size_t max, store_members_cb done, void *arg);
void pg_im_group_members(struct store *st, size_t max, store_members_cb done, void *arg);
int pg_im_is_listening(const struct store *st);
void pg_im_position_get(struct store *st, const char *topic, const char *aor, const char *device,
                        int64_t initial, store_position_cb done, void *arg);
void pg_im_position_advance(struct store *st, const char *topic, const char *aor,
                            const char *device, int64_t seq, store_status_cb done, void *arg);
void pg_im_topics_list(struct store *st, const char *after, size_t max, store_topic_rows_cb done,
                       void *arg);
void pg_im_member_add(struct store *st, const char *topic, const char *aor, store_status_cb done,
                      void *arg);
void pg_im_member_remove(struct store *st, const char *topic, const char *aor,
                         store_status_cb done, void *arg);
void pg_im_subs_list(struct store *st, const char *topic, const char *aor, size_t max,
                     store_im_subs_cb done, void *arg);
void pg_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                  store_status_cb done, void *arg);
void pg_pres_publish(struct store *st, const char *aor, const char *if_match, const char *new_etag,
                     int64_t expires_at, const char *content_type, const char *body,
                     size_t body_len, int64_t now, store_pres_cb done, void *arg);
void pg_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done, void *arg);
void pg_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg);

/* ---- nodes.c: the node table ----------------------------------------------------------------- */

void pg_node_upsert(struct store *st, const struct node_row *self, store_nodes_cb done, void *arg);
void pg_node_set_status(struct store *st, const char *name, int status, store_status_cb done,
                        void *arg);
void pg_node_set_draining(struct store *st, const char *name, int draining, store_status_cb done,
                          void *arg);
void pg_nodes_load(struct store *st, store_nodes_cb done, void *arg);
void pg_node_beats(struct store *st, const struct node_beat *v, size_t n, store_status_cb done,
                   void *arg);
void pg_node_promote(struct store *st, int nid, store_status_cb done, void *arg);
void pg_node_add(struct store *st, const struct node_row *row, store_nodes_cb done, void *arg);
void pg_node_change(struct store *st, const char *name, int max_num, int waiting, int draining,
                    store_nodes_cb done, void *arg);
void pg_node_remove(struct store *st, const char *name, store_status_cb done, void *arg);
void pg_node_heartbeats(struct store *st, const char *name, size_t max, store_beats_cb done,
                        void *arg);
void pg_location_list(struct store *st, const char *after, size_t max, int64_t now,
                      store_aor_counts_cb done, void *arg);

/* ---- subs.c: im subscription rows (topic takeover) ------------------------------------------ */

void pg_im_sub_put(struct store *st, const struct im_sub_row *r, store_status_cb done, void *arg);
void pg_im_sub_delete(struct store *st, const struct im_sub_row *r, store_status_cb done,
                      void *arg);
void pg_im_sub_release(struct store *st, const char *node, store_status_cb done, void *arg);
void pg_im_sub_orphans(struct store *st, const char *const *live, size_t nlive,
                       store_members_cb done, void *arg);
void pg_im_sub_claim(struct store *st, const char *node, const char *const *topics, size_t n,
                     const char *const *live, size_t nlive, store_im_subs_cb done, void *arg);

/* ---- users.c: digest users and the nonce secret ------------------------------------------- */

void pg_user_get(struct store *st, const char *aor, store_user_cb done, void *arg);
void pg_user_put(struct store *st, const struct auth_user *u, int is_create, store_status_cb done,
                 void *arg);
void pg_user_delete(struct store *st, const char *aor, store_status_cb done, void *arg);
void pg_users_list(struct store *st, const char *after, size_t max, store_users_cb done,
                   void *arg);
void pg_auth_secret(struct store *st, const unsigned char *proposal, size_t len,
                    store_secret_cb done, void *arg);

/* ---- rules.c: presence authorization rules ------------------------------------------------- */

void pg_pres_rules_get(struct store *st, const char *aor, store_pres_rules_cb done, void *arg);
void pg_pres_rules_put(struct store *st, const struct pres_rules *r, store_status_cb done,
                       void *arg);

/* ---- listen.c: the LISTEN connection --------------------------------------------------------- */

void pg_listen_stop(struct pg_store *ps);
void pg_im_set_listener(struct store *st, store_im_notify_cb cb, void *arg);
void pg_pres_set_listener(struct store *st, store_pres_notify_cb cb, void *arg);
void pg_nodes_set_listener(struct store *st, store_nodes_notify_cb cb, void *arg);

#endif
