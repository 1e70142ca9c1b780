/* store_pg.c - the PostgreSQL store backend (a cluster of nodes shares one database).
 *
 * A small pool of libpq connections (PG_CONNECTIONS), each driven by the event loop through
 * libpq's asynchronous API in pipeline mode: PQconnectStartParams/PQconnectPoll to connect,
 * PQsendPrepare/PQsendQueryPrepared/PQpipelineSync to send, PQconsumeInput/PQisBusy/PQgetResult
 * to read, PQflush (with EPOLLOUT) for what the kernel did not take at once. The loop never waits
 * for the database.
 *
 * Routing. An operation on an AOR goes to connection hash(aor) % PG_CONNECTIONS, so that the
 * operations on one AOR stay in order on one connection; when that connection is down, to the
 * next one that is up (ordering across the switch is then only what the advisory lock gives).
 * Expire goes to the least busy connection. Each connection has its own queue and reconnects on
 * its own; the store is available while at least one connection is.
 *
 * Pipelining. A connection sends statements without waiting for earlier results and reads the
 * results in order; its `ring` lists the results still to come (statements and syncs). Location
 * updates run as transactions of two flights each:
 *     flight 1:  BEGIN; lock the AORs (advisory, so every node serialises on each); SELECT their
 *                bindings -- the callers' update functions run on the SELECT's rows --
 *     flight 2:  replace their bindings in one statement; COMMIT        (or ROLLBACK to abort)
 * One transaction (a "batch") takes the updates queued one after another on the connection, of
 * distinct AORs, up to PG_BATCH_MAX: alone when the load is light, many at a time under load, so
 * that statements, round trips and commits are shared. Nothing may follow flight 1 until flight 2
 * is sent (it would run inside that transaction), but whatever is queued goes out right behind
 * flight 2 in the same write. Lookups are one statement each and many can be in flight at once.
 * Two updates of one AOR are never in flight together on one connection (a retry of the first
 * must come before the second), so each AOR's operations keep their order.
 *
 * Errors inside a pipeline. After an error the server skips everything up to the next sync (libpq
 * reports PGRES_PIPELINE_ABORTED for each skipped statement). The operation that failed handles
 * its own error: a batch rolls back, then retries on serialization failure or deadlock, runs its
 * updates again one per transaction to find the one that failed, or (alone) reports STORE_EFAIL.
 * Operations that were merely skipped are sent again, in their order, once the sync is back. A
 * failed REPLACE leaves its transaction aborted until the ROLLBACK, so no new segment (statements
 * up to a sync) starts behind a flight 2 until its outcome is known.
 *
 * Connection states:  DOWN --timer--> CONNECTING --> PREPARING --> READY --(error)--> DOWN.
 * Only READY connections take operations; with none, operations fail at once with STORE_EUNAVAIL.
 * When a connection is lost, its operations (in flight and queued) fail with STORE_EUNAVAIL and a
 * timer reconnects it with backoff (250 ms doubling to 2 s). A connection that waits
 * PG_STMT_TIMEOUT_MS for a result counts as lost, so nothing waits forever.
 *
 * IM and presence (the broker). Each operation is one prepared statement (OP_QUERY), routed like
 * the location ops by the hash of its topic (positions too) or AOR (presence), the expires to the
 * least busy connection; rows come back in binary format and bodies go out as binary bytea
 * parameters, so they may hold any octet. A read is pipelined like a lookup. A write runs alone
 * between two syncs -- that segment is its (implicit, READ COMMITTED) transaction -- and its
 * caller hears of it at the second sync, after the commit; it is retried on serialization failure
 * or deadlock. A publish is one call of sipd_im_publish() (schema/002_im.sql): the topic rows
 * locked in ascending URI order, the duplicate check under the lock, last_seq + 1 and the insert,
 * the retention, and NOTIFY sipd_im "<topic> <seq>" (delivered at commit), in one transaction.
 *
 * Listening (store_im_set_listener, store_pres_set_listener). A dedicated connection besides the
 * pool, opened only while a listener (IM, presence, or both) is set, sends LISTEN sipd_pres and
 * LISTEN sipd_im (one command after the other) and then nothing else: its socket stays in the loop
 * and every readable event ends in PQconsumeInput + PQnotifies, each notification routed by its
 * channel -- a sipd_im payload "<topic> <seq>" becomes one call of the IM listener, a sipd_pres
 * payload "<aor>" one call of the presence listener; one for a listener not set is dropped. It
 * LISTENs on both channels whichever listeners are set, so setting or clearing the second one
 * changes nothing on the wire. Not one of the pool's: a pool connection is busy with pipelines and
 * is dropped (taking its LISTEN along) for reasons of its own -- a statement timeout, a pipeline
 * out of step -- while a session that only listens keeps notifications flowing whatever the pool
 * does, needs no pipeline mode, no prepared statements and no routing exception, and costs one
 * idle backend per process. Its states:  OFF --set--> CONNECTING --> SUBSCRIBING (LISTENs sent)
 * --> LISTENING. When it fails or is lost it is DOWN and reconnects like a pool connection (250 ms
 * doubling to 2 s, the same connect timeout); once LISTEN is in effect again each listener hears
 * (NULL, 0) resp. (NULL), since what was published meanwhile is not announced again. That happens
 * after any failed attempt since that listener was set (a server down at startup too), not after
 * a first attempt that went through. Clearing the last listener, or destroying the store, closes
 * the connection (the server forgets its LISTENs with the session) and goes OFF.
 *
 * Callbacks may re-enter the store (submit operations, even destroy it): `depth` counts the
 * entry points on the stack and the struct is freed only when the outermost one returns.
 *
 * Note: a host name in the conninfo is resolved by libpq with blocking getaddrinfo() while
 * connecting; use hostaddr= (or a unix socket / numeric host) to keep that off the loop. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#ifndef LIBPQ_HAS_PIPELINING
#error "the PostgreSQL store needs libpq 14 or later (pipeline mode)"
#endif

#include "../base/log.h"
#include "../base/loop.h"
#include "store_impl.h"

#define PG_CONNECTIONS 4            /* connections per store */
#define PG_PIPELINE_OPS 32          /* operations (a batch counts as one) in flight on one conn */
#define PG_BATCH_MAX 64             /* updates (of distinct AORs) in one transaction */
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
#define PG_MAX_RETRIES 3            /* update retried on serialization failure / deadlock */
#define PG_BACKOFF_MIN_MS 250
#define PG_BACKOFF_MAX_MS 2000
#define PG_CONNECT_TIMEOUT_MS 5000
#define PG_STMT_TIMEOUT_MS 10000
#define PG_MIGRATION_MAX_BYTES (16u << 20)
#define PG_INIT_LOCK_KEY "7596475006052413440" /* advisory lock of store_init_db ("sipd" << 32) */

/* ---- statements ------------------------------------------------------------------------------ */

/* The columns of a binding, in the order parse_binding() reads them. */
#define LOC_COLS                                                                                   \
    "aor, contact, call_id, cseq, floor(extract(epoch FROM expires_at))::bigint, q, path, "      \
    "instance, reg_id, user_agent, received, conn_id, node, "                                    \
    "floor(extract(epoch FROM updated_at))::bigint"
#define LOC_NCOLS 14

enum stmt_id {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_LOCK, S_SELECT, S_REPLACE, S_GET, S_EXPIRE, S_COUNT,
    /* IM and presence: one statement per operation (OP_QUERY), results in binary format */
    S_IM_TOPIC, S_IM_READ, S_IM_PUBLISH, S_IM_GROUP_CREATE, S_IM_GROUP_DELETE, S_IM_MEMBERS,
    S_IM_GROUPS_OF,
    S_IM_POS_GET, S_IM_POS_ADVANCE, S_IM_EXPIRE, S_PRES_PUBLISH, S_PRES_GET, S_PRES_EXPIRE,
    S_NUM
};
#define S_QUERY_FIRST S_IM_TOPIC

/* Lookup order of one AOR's bindings. */
#define LOC_ORDER "ORDER BY CASE WHEN q < 0 THEN 1000 ELSE q END DESC, updated_at DESC, contact"

/* The window of topic $1 at time $NOW with retention $COUNT, $AGE (0 = no limit), as columns
 * last_seq and first_seq (§2.5): the lowest seq that both limits keep, whether or not the rows
 * outside are deleted yet; last_seq + 1 when none is kept. created_at never decreases with seq
 * (schema/002_im.sql), so what is kept is the range first_seq..last_seq. */
#define IM_WINDOW(TOPIC, NOW, COUNT, AGE)                                                          \
    "SELECT coalesce(t.last_seq, 0)::bigint AS last_seq,"                                          \
    " coalesce((SELECT min(m.seq) FROM messages m WHERE m.topic = " TOPIC                          \
    " AND m.seq > CASE WHEN " COUNT " > 0 THEN t.last_seq - " COUNT " ELSE 0 END"               \
    " AND (" AGE " = 0 OR m.created_at > to_timestamp(" NOW " - " AGE "))),"                     \
    " coalesce(t.last_seq, 0) + 1)::bigint AS first_seq,"                                          \
    " t.kind AS kind FROM (SELECT 1) AS one LEFT JOIN topics t ON t.uri = " TOPIC

/* A presence publication as callers see it (the columns after the status; see handle_pres). */
#define PRES_COLS                                                                                  \
    "etag, floor(extract(epoch FROM expires_at))::bigint, content_type, body,"                    \
    " floor(extract(epoch FROM updated_at))::bigint"

static const struct pg_stmt {
    const char *name;
    const char *sql;
    int nparams;
    int is_write; /* OP_QUERY: changes data, so runs alone between two syncs (see query_start) */
} stmts[S_NUM] = {
    /* READ COMMITTED whatever the server's default: the SELECT after the lock must see what
     * the previous holder of the lock committed (a snapshot taken before it would not). */
    [S_BEGIN] = {"sipd_begin", "BEGIN ISOLATION LEVEL READ COMMITTED", 0, 0},
    [S_COMMIT] = {"sipd_commit", "COMMIT", 0, 0},
    [S_ROLLBACK] = {"sipd_rollback", "ROLLBACK", 0, 0},
    /* The statements of an update transaction take the AORs of all its updates (distinct).
     * $1 aors. Serialises every writer of each AOR, on every node, until COMMIT/ROLLBACK. The
     * locks are taken in key order (the subquery's ORDER BY keeps it from being flattened), so
     * two transactions that lock several AORs cannot deadlock on each other. The key is the
     * same as a single-AOR lock's: hashtextextended(aor, 0). */
    [S_LOCK] = {"sipd_loc_lock",
                "SELECT pg_advisory_xact_lock(k) FROM (SELECT hashtextextended(a, 0) AS k"
                " FROM unnest($1::text[]) AS a ORDER BY 1) AS s",
                1, 0},
    /* $1 aors, $2 their `now`s: the live bindings of each, in lookup order, at most 1000 each. */
    [S_SELECT] = {"sipd_loc_select",
                  "SELECT l.* FROM unnest($1::text[], $2::bigint[]) AS a(aor, t)"
                  " CROSS JOIN LATERAL (SELECT " LOC_COLS " FROM locations"
                  " WHERE aor = a.aor AND expires_at > to_timestamp(a.t) " LOC_ORDER
                  " LIMIT 1000) AS l",
                  2, 0},
    /* $1 the aors replaced, $2.. one array per column (aor first), one element per binding.
     * The DELETE must run before the INSERT (else the unique index sees the old row of a
     * contact that is registered again): an unreferenced data-modifying CTE would run last, so
     * the INSERT's WHERE reads it first. */
    [S_REPLACE] = {"sipd_loc_replace",
                   "WITH d AS (DELETE FROM locations WHERE aor = ANY($1::text[]) RETURNING 1)"
                   " INSERT INTO locations (aor, contact, call_id, cseq, expires_at, q, path,"
                   " instance, reg_id, user_agent, received, conn_id, node, updated_at)"
                   " SELECT u.aor, u.contact, u.call_id, u.cseq, to_timestamp(u.expires_at),"
                   " u.q, u.path, u.instance, u.reg_id, u.user_agent, u.received, u.conn_id,"
                   " u.node, to_timestamp(u.updated_at)"
                   " FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],"
                   " $7::smallint[], $8::text[], $9::text[], $10::integer[], $11::text[],"
                   " $12::text[], $13::bigint[], $14::text[], $15::bigint[])"
                   " AS u(aor, contact, call_id, cseq, expires_at, q, path, instance, reg_id,"
                   " user_agent, received, conn_id, node, updated_at)"
                   " WHERE (SELECT count(*) FROM d) >= 0"
                   " RETURNING " LOC_COLS,
                   15, 0},
    /* $1 aor, $2 now: a lookup. */
    [S_GET] = {"sipd_loc_get",
               "SELECT " LOC_COLS " FROM locations"
               " WHERE aor = $1::text AND expires_at > to_timestamp($2::bigint) " LOC_ORDER
               " LIMIT 1000",
               2, 0},
    /* $1 now */
    [S_EXPIRE] = {"sipd_loc_expire",
                  "DELETE FROM locations WHERE expires_at <= to_timestamp($1::bigint)", 1, 0},
    [S_COUNT] = {"sipd_loc_count", "SELECT count(DISTINCT aor), count(*) FROM locations", 0, 0},

    /* $1 topic, $2 identity (NULL: none), $3 now, $4 count, $5 age_s */
    [S_IM_TOPIC] = {"sipd_im_topic",
                    "SELECT coalesce(w.kind = 'group', false),"
                    " coalesce(w.kind = 'group' AND $2::text IS NOT NULL AND EXISTS (SELECT 1"
                    " FROM topic_members tm WHERE tm.topic = $1::text AND tm.member = $2::text),"
                    " false), w.last_seq, w.first_seq"
                    " FROM (" IM_WINDOW("$1::text", "$3::bigint", "$4::bigint", "$5::bigint")
                    ") AS w",
                    5, 0},
    /* $1 topic, $2 after_seq, $3 max rows, $4 now, $5 count, $6 age_s, $7 max body bytes:
     * the window, then the retained messages after $2 in order, as many as fit in $7 bytes
     * (the first always); one row with NULL message columns when there are none. */
    [S_IM_READ] = {"sipd_im_read",
                   "SELECT w.first_seq, w.last_seq, r.seq, r.sender, r.sender_device, r.recipient,"
                   " r.is_copy, r.content_type, r.body, r.created_at"
                   " FROM (" IM_WINDOW("$1::text", "$4::bigint", "$5::bigint", "$6::bigint")
                   ") AS w LEFT JOIN LATERAL (SELECT x.* FROM (SELECT m.seq, m.sender,"
                   " m.sender_device, coalesce(m.recipient, m.topic) AS recipient, m.is_copy,"
                   " m.content_type, m.body, floor(extract(epoch FROM m.created_at))::bigint"
                   " AS created_at, sum(octet_length(m.body)) OVER (ORDER BY m.seq)"
                   " - octet_length(m.body) AS before FROM messages m WHERE m.topic = $1::text"
                   " AND m.seq > greatest($2::bigint, w.first_seq - 1) AND m.seq <= w.last_seq"
                   " ORDER BY m.seq LIMIT $3::bigint) AS x WHERE x.before < $7::bigint) AS r"
                   " ON true ORDER BY r.seq",
                   7, 0},
    /* $1 topic, $2 sender, $3 device, $4 copy topic, $5 call_id, $6 from_tag, $7 cseq,
     * $8 content type, $9 body (binary), $10 now, $11 count, $12 age_s (schema/002_im.sql) */
    [S_IM_PUBLISH] = {"sipd_im_publish",
                      "SELECT seq, copy_seq, duplicate FROM sipd_im_publish($1::text, $2::text,"
                      " $3::text, $4::text, $5::text, $6::text, $7::bigint, $8::text, $9::bytea,"
                      " $10::bigint, $11::bigint, $12::bigint)",
                      12, 1},
    /* $1 topic, $2 members (text[]). A user topic that never had a message becomes the group;
     * any other topic under that URI stays (first column 0: 409). */
    [S_IM_GROUP_CREATE] = {"sipd_im_group_create",
                           "WITH t AS (INSERT INTO topics AS o (uri, kind, owner)"
                           " VALUES ($1::text, 'group', NULL) ON CONFLICT (uri) DO UPDATE"
                           " SET kind = 'group', owner = NULL, last_at = NULL, created_at = now()"
                           " WHERE o.kind = 'user' AND o.last_seq = 0 RETURNING uri),"
                           " m AS (INSERT INTO topic_members (topic, member)"
                           " SELECT t.uri, u.member FROM t, (SELECT DISTINCT unnest($2::text[])"
                           " AS member) AS u WHERE u.member IS NOT NULL RETURNING 1)"
                           " SELECT (SELECT count(*) FROM t)::bigint,"
                           " (SELECT count(*) FROM m)::bigint",
                           2, 1},
    /* $1 topic: the group, its members and messages (cascade), and its device positions */
    [S_IM_GROUP_DELETE] = {"sipd_im_group_delete",
                           "WITH d AS (DELETE FROM topics WHERE uri = $1::text AND kind = 'group'"
                           " RETURNING uri), p AS (DELETE FROM im_positions WHERE topic = $1::text"
                           " AND EXISTS (SELECT 1 FROM d) RETURNING 1)"
                           " SELECT (SELECT count(*) FROM d)::bigint,"
                           " (SELECT count(*) FROM p)::bigint",
                           1, 1},
    /* $1 topic, $2 at most */
    [S_IM_MEMBERS] = {"sipd_im_members",
                      "SELECT tm.member FROM topic_members tm WHERE tm.topic = $1::text"
                      " AND EXISTS (SELECT 1 FROM topics t WHERE t.uri = $1::text"
                      " AND t.kind = 'group') LIMIT $2::bigint",
                      2, 0},
    /* $1 aor, $2 at most: the group topics it is a member of */
    [S_IM_GROUPS_OF] = {"sipd_im_groups_of",
                        "SELECT tm.topic FROM topic_members tm WHERE tm.member = $1::text"
                        " LIMIT $2::bigint",
                        2, 0},
    /* $1 topic, $2 aor, $3 device, $4 initial: the position, created when missing as the
     * greatest of the AOR's other devices, else $4. The no-op update makes the row come back
     * (locked) when it exists, also when another node inserted it a moment ago. */
    [S_IM_POS_GET] = {"sipd_im_pos_get",
                      "INSERT INTO im_positions AS p (topic, aor, device, pos)"
                      " SELECT $1::text, $2::text, $3::text, coalesce((SELECT max(q.pos)"
                      " FROM im_positions q WHERE q.topic = $1::text AND q.aor = $2::text),"
                      " greatest($4::bigint, 0))"
                      " ON CONFLICT (topic, aor, device) DO UPDATE SET pos = p.pos"
                      " RETURNING p.pos",
                      4, 1},
    /* $1 topic, $2 aor, $3 device, $4 seq: D := max(D, seq) */
    [S_IM_POS_ADVANCE] = {"sipd_im_pos_advance",
                          "INSERT INTO im_positions AS p (topic, aor, device, pos)"
                          " VALUES ($1::text, $2::text, $3::text, greatest($4::bigint, 0))"
                          " ON CONFLICT (topic, aor, device) DO UPDATE"
                          " SET pos = greatest(p.pos, excluded.pos), updated_at = now()"
                          " WHERE excluded.pos > p.pos",
                          4, 1},
    /* $1 now, $2 count, $3 age_s: every message outside its topic's window. Two deletes, so
     * that each finds its rows through an index (per topic by seq; by created_at) and a limit
     * of 0 skips its scan; a row both delete is deleted once. */
    [S_IM_EXPIRE] = {"sipd_im_expire",
                     "WITH c AS (DELETE FROM messages m USING topics t WHERE $2::bigint > 0"
                     " AND m.topic = t.uri AND m.seq <= t.last_seq - $2::bigint RETURNING 1),"
                     " a AS (DELETE FROM messages m WHERE $3::bigint > 0"
                     " AND m.created_at <= to_timestamp($1::bigint - $3::bigint) RETURNING 1)"
                     " SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM a)",
                     3, 1},
    /* $1 aor, $2 if_match, $3 new etag, $4 expires_at, $5 content type, $6 body (binary),
     * $7 now (schema/002_im.sql) */
    [S_PRES_PUBLISH] = {"sipd_pres_publish",
                        "SELECT status, etag, expires_at, content_type, body, updated_at"
                        " FROM sipd_pres_publish($1::text, $2::text,"
                        " $3::text, $4::bigint, $5::text, $6::bytea, $7::bigint)",
                        7, 1},
    /* $1 aor, $2 now: the same columns as S_PRES_PUBLISH */
    [S_PRES_GET] = {"sipd_pres_get",
                    "SELECT 0::integer, " PRES_COLS " FROM presentities"
                    " WHERE aor = $1::text AND event = 'presence'"
                    " AND expires_at > to_timestamp($2::bigint)"
                    " ORDER BY updated_at, etag LIMIT 1000",
                    2, 0},
    /* $1 now (schema/002_im.sql: also announces each AOR on sipd_pres) */
    [S_PRES_EXPIRE] = {"sipd_pres_expire", "SELECT a FROM sipd_pres_expire($1::bigint) AS a", 1,
                       1},
};

#define REPLACE_NARRAYS 14 /* aor + the 13 other columns */

/* Ring entries that are not prepared statements: the result of PQpipelineSync, and of the
 * session setup below. */
#define E_SYNC S_NUM
#define E_SETUP (S_NUM + 1)

/* Run once per connection, before anything else. Every statement above finds its rows through
 * an index, and its plan is made once per connection: a plan made while the table was small
 * (a sequential scan, say) must not stay in use as it grows, and planning each execution anew
 * (a "custom plan", which PostgreSQL picks for statements with array parameters) costs more
 * than the statement. (plan_cache_mode is PostgreSQL 12 and later.) The IM and presence
 * statements run in implicit transactions (OP_QUERY): READ COMMITTED whatever the server's
 * default, like the updates' BEGIN, so that a publish waiting for a topic row goes on with the
 * committed row instead of failing (and being retried) as under SERIALIZABLE. */
static const char setup_sql[] =
    "SELECT set_config('enable_seqscan', 'off', false),"
    " set_config('default_transaction_isolation', 'read committed', false),"
    " set_config('plan_cache_mode', 'force_generic_plan', false)";
static const char setup_sql_pre12[] =
    "SELECT set_config('enable_seqscan', 'off', false),"
    " set_config('default_transaction_isolation', 'read committed', false)";

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
    int is_solo;               /* update: runs alone (a batch it was in failed) */
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

/* The channels the listening connection LISTENs on, one command each, in this order (sipd_im
 * last: once `LISTEN sipd_im` is in effect, so are all). */
static const char *const listen_channels[] = {"sipd_pres", "sipd_im"};
#define LISTEN_NCHANNELS (sizeof listen_channels / sizeof listen_channels[0])

/* The connection that LISTENs on sipd_im and sipd_pres while a listener (IM or presence) is set
 * (see the file header). */
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
    int is_im_missed;          /* failed or lost since im_cb was set: (NULL, 0) when LISTENing */
    int is_pres_missed;        /* the same for pres_cb: (NULL) once LISTEN is back */
    int is_loss_logged;        /* the operator was told; cleared when listening again */
    unsigned session;          /* bumped on every close: a callback's caller sees it went */
    uint64_t backoff_ms;
    struct timer retry_timer, connect_timer;
};

struct pg_store {
    struct store base;
    char *conninfo;            /* may hold a password: never logged, wiped on free */
    struct pg_conn conns[PG_CONNECTIONS];
    struct pg_listen listen;
    enum link_log link_logged;
    size_t nops, nuser;        /* all operations / those of callers (pending()) */
    long count_aors, count_bindings;
    int depth;                 /* entry points on the stack */
    int is_destroyed;
};

static void conn_drop(struct pg_conn *c, const char *reason);
static int pump(struct pg_conn *c);

static void ps_enter(struct pg_store *ps) { ps->depth++; }

static void ps_free(struct pg_store *ps)
{
    if (ps->conninfo) {
        explicit_bzero(ps->conninfo, strlen(ps->conninfo));
        free(ps->conninfo);
    }
    free(ps);
}

static void ps_leave(struct pg_store *ps)
{
    if (--ps->depth == 0 && ps->is_destroyed)
        ps_free(ps);
}

static int any_ready(const struct pg_store *ps)
{
    for (int i = 0; i < PG_CONNECTIONS; i++)
        if (ps->conns[i].state == PG_READY)
            return 1;
    return 0;
}

/* One line from a libpq message: newlines and tabs become spaces, trailing space trimmed. */
static const char *one_line(char *buf, size_t size, const char *msg)
{
    size_t n = 0;
    for (const char *p = msg ? msg : ""; *p && n + 1 < size; p++)
        buf[n++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
    if (n == 0)
        snprintf(buf, size, "unknown error");
    return buf;
}

/* libpq prints notices (e.g. "there is no transaction in progress") to stderr by default. */
static void notice_quiet(void *arg, const char *message)
{
    (void)arg;
    char line[256];
    LOG_DEBUG("postgres notice: %s", one_line(line, sizeof line, message));
}

/* ---- operation lists ------------------------------------------------------------------------- */

static void list_append(struct op_list *l, struct pg_op *op, enum op_where where)
{
    op->next = NULL;
    op->prev = l->tail;
    if (l->tail)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
    l->n++;
    op->where = where;
}

static void list_unlink(struct op_list *l, struct pg_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->prev = op->next = NULL;
    l->n--;
    op->where = W_NONE;
}

/* Move every operation of src, in order, in front of dst's. */
static void list_prepend_all(struct op_list *dst, struct op_list *src, enum op_where where)
{
    if (!src->head)
        return;
    for (struct pg_op *op = src->head; op; op = op->next)
        op->where = where;
    src->tail->next = dst->head;
    if (dst->head)
        dst->head->prev = src->tail;
    else
        dst->tail = src->tail;
    dst->head = src->head;
    dst->n += src->n;
    src->head = src->tail = NULL;
    src->n = 0;
}

/* ---- operation lifetime ---------------------------------------------------------------------- */

static void query_free(struct pg_query *q);
static void query_notify(struct pg_op *op, int status, const PGresult *res);

static void op_free(struct pg_op *op)
{
    if (op->stored)
        PQclear(op->stored);
    if (op->q)
        query_free(op->q);
    free(op->aor);
    free(op);
}

/* Tell the caller; the op must already be off every list. The store may be destroyed after. */
static void op_notify(struct pg_op *op, int status, const struct binding *b, size_t n)
{
    if (op->is_internal)
        return;
    if (op->kind == OP_QUERY) {
        query_notify(op, status ? status : STORE_EFAIL, NULL);
    } else if (op->kind == OP_EXPIRE) {
        if (op->done_status)
            op->done_status(op->arg, status);
    } else {
        op->done_bindings(op->arg, status, status == 0 ? b : NULL, status == 0 ? n : 0);
    }
}

/* Take op off its list and out of the store's counts (a batch is not counted: its members are). */
static void op_detach(struct pg_op *op)
{
    struct pg_conn *c = op->conn;
    struct pg_store *ps = c->ps;
    if (op->where == W_WAIT)
        list_unlink(&c->wait, op);
    else if (op->where == W_SENT)
        list_unlink(&c->sent, op);
    else if (op->where == W_RESEND)
        list_unlink(&c->resend, op);
    op->where = W_NONE;
    if (op->kind == OP_BATCH)
        return;
    ps->nops--;
    if (!op->is_internal)
        ps->nuser--;
}

/* The operation is finished: take it off its list, call back, free it. The callback may submit
 * operations, drop this connection (through pump) or destroy the store. */
static void op_finish(struct pg_op *op, int status, const struct binding *b, size_t n)
{
    op_detach(op);
    op_notify(op, status, b, n);
    op_free(op);
}

/* op (in flight with all its results in, or a batch's member) goes back to the front of the
 * queue, after any other operation already waiting to be sent again; the move to the queue
 * happens at the next sync. */
static void op_resend(struct pg_conn *c, struct pg_op *op)
{
    if (op->where == W_SENT)
        list_unlink(&c->sent, op);
    list_append(&c->resend, op, W_RESEND);
}

/* Fail every operation of the connection: in flight first, then the rest, in order. Callbacks may
 * submit new ones: those go elsewhere or fail at once, since the caller made sure this connection
 * is not READY. */
static void conn_fail_ops(struct pg_conn *c, int status)
{
    struct op_list all = c->sent;
    c->sent = (struct op_list){0};
    list_prepend_all(&c->wait, &c->resend, W_WAIT);
    if (all.tail) {
        all.tail->next = c->wait.head;
        if (c->wait.head)
            c->wait.head->prev = all.tail;
    } else {
        all.head = c->wait.head;
    }
    c->wait = (struct op_list){0};
    for (struct pg_op *op = all.head, *next; op; op = next) {
        next = op->next;
        op->where = W_NONE;
        if (op->kind == OP_BATCH) {
            for (int i = 0; i < op->nmembers; i++)
                op_finish(op->members[i], status, NULL, 0);
            op_free(op);
        } else {
            op_finish(op, status, NULL, 0);
        }
    }
}

/* ---- connection ------------------------------------------------------------------------------ */

static void conn_close(struct pg_conn *c)
{
    struct loop *loop = c->ps->base.loop;
    loop_timer_stop(loop, &c->connect_timer);
    loop_timer_stop(loop, &c->progress_timer);
    c->is_progress_timer_on = 0;
    if (c->fd >= 0)
        loop_fd_del(loop, c->fd); /* before PQfinish closes the socket */
    c->fd = -1;
    c->fd_events = 0;
    if (c->res)
        PQclear(c->res);
    c->res = NULL;
    c->ring_head = c->ring_len = 0;
    c->nunsynced = 0;
    c->last_sent = -1;
    c->owner = c->unsure = NULL;
    c->is_unsure_synced = 0;
    if (c->conn)
        PQfinish(c->conn);
    c->conn = NULL;
    c->state = PG_DOWN;
}

static void on_retry_timer(struct timer *t, void *arg);
static void on_progress_timer(struct timer *t, void *arg);
static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg);

static void schedule_retry(struct pg_conn *c)
{
    if (c->ps->is_destroyed)
        return;
    if (loop_timer_start(c->ps->base.loop, &c->retry_timer, c->backoff_ms, on_retry_timer, c))
        LOG_ERROR("postgres: cannot arm reconnect timer (out of memory)");
    c->backoff_ms *= 2;
    if (c->backoff_ms > PG_BACKOFF_MAX_MS)
        c->backoff_ms = PG_BACKOFF_MAX_MS;
}

static size_t conn_nuser(const struct pg_conn *c)
{
    size_t n = 0;
    const struct op_list *lists[] = {&c->sent, &c->resend, &c->wait};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        for (const struct pg_op *op = lists[i]->head; op; op = op->next)
            n += op->kind == OP_BATCH ? (size_t)op->nmembers : !op->is_internal;
    return n;
}

/* The connection failed or was lost: say so (once per outage), fail its operations, reconnect
 * later. The other connections carry on. */
static void conn_drop(struct pg_conn *c, const char *reason)
{
    struct pg_store *ps = c->ps;
    char line[384];
    one_line(line, sizeof line, reason);
    const char *host = c->conn ? PQhost(c->conn) : NULL;
    const char *port = c->conn ? PQport(c->conn) : NULL;
    char where[160];
    snprintf(where, sizeof where, "host=%s port=%s", host && *host ? host : "default",
             port && *port ? port : "default");
    int was_up = c->state == PG_READY;
    size_t nfailed = conn_nuser(c);
    conn_close(c);
    if (was_up) {
        LOG_WARN("postgres connection lost %s conn=%d reason=\"%s\" failed_ops=%zu; reconnecting",
                 where, c->idx, line, nfailed);
        if (!any_ready(ps))
            ps->link_logged = LINK_DOWN;
        c->backoff_ms = PG_BACKOFF_MIN_MS;
    } else if (ps->link_logged == LINK_UNKNOWN) {
        LOG_WARN("postgres connection failed %s reason=\"%s\"; retrying in the background", where,
                 line);
        ps->link_logged = LINK_DOWN;
    } else {
        LOG_DEBUG("postgres connection attempt failed %s conn=%d reason=\"%s\"", where, c->idx,
                  line);
    }
    schedule_retry(c);
    conn_fail_ops(c, STORE_EUNAVAIL);
}

/* (Re-)register the socket. While connecting, libpq may close the socket and open another
 * (next host, SSL fallback) and the number may even be reused, so always delete and add. */
static int watch_socket(struct pg_conn *c, uint32_t events)
{
    int fd = PQsocket(c->conn);
    if (fd < 0)
        return -1;
    if (c->fd >= 0)
        loop_fd_del(c->ps->base.loop, c->fd);
    c->fd = -1;
    if (loop_fd_add(c->ps->base.loop, fd, events, on_fd, c))
        return -1;
    c->fd = fd;
    c->fd_events = events;
    return 0;
}

static int set_events(struct pg_conn *c, uint32_t events)
{
    if (c->fd_events == events)
        return 0;
    if (loop_fd_mod(c->ps->base.loop, c->fd, events))
        return -1;
    c->fd_events = events;
    return 0;
}

/* Push out what libpq buffered; wait for writability while some remains. 0, or -1 when the
 * connection was dropped. */
static int flush_out(struct pg_conn *c)
{
    int r = PQflush(c->conn);
    if (r < 0) {
        conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    if (set_events(c, r ? EPOLLIN | EPOLLOUT : EPOLLIN)) {
        conn_drop(c, "cannot watch socket");
        return -1;
    }
    return 0;
}

/* ---- sending --------------------------------------------------------------------------------- */

/* Note a result to come. 0, or -1 when the ring is full (cannot happen within the limits). */
static int ring_push(struct pg_conn *c, struct pg_op *op, int what, int is_prepare)
{
    if (c->ring_len == PG_RING_SIZE)
        return -1;
    if (c->ring_len == 0)
        c->progress_ms = loop_now_ms(c->ps->base.loop);
    struct pg_entry *e = &c->ring[(c->ring_head + c->ring_len) % PG_RING_SIZE];
    e->op = op;
    e->what = (unsigned char)what;
    e->is_prepare = (unsigned char)is_prepare;
    c->ring_len++;
    return 0;
}

static struct pg_entry ring_pop(struct pg_conn *c)
{
    struct pg_entry e = c->ring[c->ring_head];
    c->ring_head = (c->ring_head + 1) % PG_RING_SIZE;
    c->ring_len--;
    return e;
}

/* Queue a prepared statement for op (NULL: the connection's own). 0, or -1 when the connection
 * was dropped (and every operation on it, op included, failed). */
static int send_stmt(struct pg_conn *c, struct pg_op *op, enum stmt_id id,
                     const char *const *values)
{
    if (ring_push(c, op, id, 0)) {
        conn_drop(c, "pipeline overflow");
        return -1;
    }
    if (!PQsendQueryPrepared(c->conn, stmts[id].name, stmts[id].nparams, values, NULL, NULL, 0)) {
        conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    c->nunsynced++;
    c->last_sent = id;
    return 0;
}

/* Close the segment with a sync (which makes the server answer, and libpq write). 0, or -1 when
 * the connection was dropped. */
static int end_segment_for(struct pg_conn *c, struct pg_op *op);

static int end_segment(struct pg_conn *c) { return end_segment_for(c, NULL); }

/* ... with the sync's result going to op (a query that changes data: see query_start). */
static int end_segment_for(struct pg_conn *c, struct pg_op *op)
{
    if (c->nunsynced == 0)
        return 0;
    if (ring_push(c, op, E_SYNC, 0)) {
        conn_drop(c, "pipeline overflow");
        return -1;
    }
    if (!PQpipelineSync(c->conn)) {
        conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    c->nunsynced = 0;
    c->last_sent = -1;
    if (c->unsure)
        c->is_unsure_synced = 1;
    if (!c->is_progress_timer_on) {
        if (loop_timer_start(c->ps->base.loop, &c->progress_timer, PG_STMT_TIMEOUT_MS,
                             on_progress_timer, c)) {
            conn_drop(c, "out of memory");
            return -1;
        }
        c->is_progress_timer_on = 1;
    }
    return flush_out(c);
}

/* No result for PG_STMT_TIMEOUT_MS while some are awaited: the connection is as good as lost.
 * The timer is not moved on every result; it checks the time of the last one when it fires. */
static void on_progress_timer(struct timer *t, void *arg)
{
    (void)t;
    struct pg_conn *c = arg;
    struct pg_store *ps = c->ps;
    ps_enter(ps);
    c->is_progress_timer_on = 0;
    if (c->conn && c->ring_len > 0) {
        uint64_t idle_ms = loop_now_ms(ps->base.loop) - c->progress_ms;
        if (idle_ms >= PG_STMT_TIMEOUT_MS) {
            char msg[96];
            snprintf(msg, sizeof msg, "no answer within %d ms", PG_STMT_TIMEOUT_MS);
            conn_drop(c, msg);
        } else if (loop_timer_start(ps->base.loop, &c->progress_timer,
                                    PG_STMT_TIMEOUT_MS - idle_ms, on_progress_timer, c)) {
            conn_drop(c, "out of memory");
        } else {
            c->is_progress_timer_on = 1;
        }
    }
    ps_leave(ps);
}

/* Start connecting (a pool connection or the listening one); NULL when out of memory. */
static PGconn *connect_start(const struct pg_store *ps)
{
    /* dbname (the caller's conninfo, expanded) comes last so that it overrides our defaults. */
    static const char *const keys[] = {"fallback_application_name", "client_encoding",
                                       "keepalives_idle", "keepalives_interval",
                                       "keepalives_count", "dbname", NULL};
    const char *vals[] = {"sipd", "UTF8", "30", "10", "3", ps->conninfo, NULL};
    return PQconnectStartParams(keys, vals, 1);
}

static void conn_start(struct pg_conn *c)
{
    c->conn = connect_start(c->ps);
    if (!c->conn) {
        conn_drop(c, "out of memory");
        return;
    }
    PQsetNoticeProcessor(c->conn, notice_quiet, c);
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        conn_drop(c, PQerrorMessage(c->conn));
        return;
    }
    c->state = PG_CONNECTING;
    /* libpq: after PQconnectStart, behave as if PQconnectPoll had returned POLLING_WRITING. */
    if (watch_socket(c, EPOLLOUT)) {
        conn_drop(c, "no socket to watch");
        return;
    }
    if (loop_timer_start(c->ps->base.loop, &c->connect_timer, PG_CONNECT_TIMEOUT_MS,
                         on_retry_timer, c))
        conn_drop(c, "out of memory");
}

/* Retry timer (DOWN: connect again) and connect timer (CONNECTING/PREPARING: give up). */
static void on_retry_timer(struct timer *t, void *arg)
{
    struct pg_conn *c = arg;
    struct pg_store *ps = c->ps;
    ps_enter(ps);
    if (t == &c->connect_timer) {
        char msg[96];
        snprintf(msg, sizeof msg, "connect timeout after %d ms", PG_CONNECT_TIMEOUT_MS);
        conn_drop(c, msg);
    } else if (c->state == PG_DOWN && !ps->is_destroyed) {
        conn_start(c);
    }
    ps_leave(ps);
}

/* Connected: switch to pipeline mode and prepare every statement in one flight. */
static void conn_poll(struct pg_conn *c)
{
    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING:
        if (watch_socket(c, EPOLLIN))
            conn_drop(c, "no socket to watch");
        return;
    case PGRES_POLLING_WRITING:
        if (watch_socket(c, EPOLLOUT))
            conn_drop(c, "no socket to watch");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        conn_drop(c, PQerrorMessage(c->conn));
        return;
    }
    if (PQsetnonblocking(c->conn, 1) || !PQenterPipelineMode(c->conn) ||
        watch_socket(c, EPOLLIN)) {
        conn_drop(c, "cannot switch connection to non-blocking pipeline mode");
        return;
    }
    c->state = PG_PREPARING;
    const char *setup = PQserverVersion(c->conn) >= 120000 ? setup_sql : setup_sql_pre12;
    if (ring_push(c, NULL, E_SETUP, 1) ||
        !PQsendQueryParams(c->conn, setup, 0, NULL, NULL, NULL, NULL, 0)) {
        conn_drop(c, PQerrorMessage(c->conn));
        return;
    }
    c->nunsynced++;
    for (int i = 0; i < S_NUM; i++) {
        if (ring_push(c, NULL, i, 1) ||
            !PQsendPrepare(c->conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL)) {
            conn_drop(c, PQerrorMessage(c->conn));
            return;
        }
        c->nunsynced++;
    }
    end_segment(c);
}

static int res_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Refresh the last-known counts (when the store becomes available). */
static void queue_count(struct pg_conn *c)
{
    struct pg_store *ps = c->ps;
    if (ps->nops >= PG_MAX_OPS)
        return;
    struct pg_op *op = calloc(1, sizeof *op);
    if (!op)
        return;
    op->kind = OP_COUNT;
    op->is_internal = 1;
    op->conn = c;
    ps->nops++;
    list_append(&c->wait, op, W_WAIT);
}

/* The result of the session setup (idx E_SETUP) or of preparing stmts[idx]. */
static void prepare_result(struct pg_conn *c, int idx, const PGresult *res)
{
    if (res_ok(res))
        return;
    char msg[512];
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(msg, sizeof msg, "%s%s failed: %s%s", idx == E_SETUP ? "session setup" : "preparing ",
             idx == E_SETUP ? "" : stmts[idx].name,
             PQresultErrorMessage(res),
             state && (strcmp(state, "42P01") == 0 || strcmp(state, "42883") == 0 ||
                       strcmp(state, "42703") == 0)
                 ? " (schema missing or old? run sipd --init-db)"
                 : "");
    conn_drop(c, msg);
}

static void conn_ready(struct pg_conn *c)
{
    struct pg_store *ps = c->ps;
    loop_timer_stop(ps->base.loop, &c->connect_timer);
    int was_available = any_ready(ps);
    c->state = PG_READY;
    c->backoff_ms = PG_BACKOFF_MIN_MS;
    if (ps->link_logged != LINK_UP) {
        const char *host = PQhost(c->conn), *port = PQport(c->conn), *db = PQdb(c->conn);
        LOG_INFO("postgres connected host=%s port=%s db=%s", host && *host ? host : "default",
                 port && *port ? port : "default", db ? db : "");
    }
    ps->link_logged = LINK_UP;
    if (!was_available)
        queue_count(c);
}

/* ---- result parsing -------------------------------------------------------------------------- */

/* Column text: 0 (NULL column -> *out NULL when nullable), -1 invalid, -ENOMEM. */
static int get_text(const PGresult *res, int row, int col, int is_nullable, char **out)
{
    *out = NULL;
    if (PQgetisnull(res, row, col))
        return is_nullable ? 0 : -1;
    int len = PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (len < 0 || len > PG_MAX_FIELD_BYTES || !v || memchr(v, '\0', (size_t)len))
        return -1;
    *out = strndup(v, (size_t)len);
    return *out ? 0 : -ENOMEM;
}

static int get_i64(const PGresult *res, int row, int col, int64_t min, int64_t max, int64_t *out)
{
    if (PQgetisnull(res, row, col))
        return -1;
    int len = PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (!v || len <= 0 || len > 24 || (int)strlen(v) != len)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

/* One row of LOC_COLS into b (zeroed first). 0, -1 invalid row, -ENOMEM. */
static int parse_binding(const PGresult *res, int row, struct binding *b)
{
    memset(b, 0, sizeof *b);
    int64_t cseq, expires_at, q, reg_id, conn_id, updated_at;
    int rc = 0;
    if (!rc) rc = get_text(res, row, 0, 0, &b->aor);
    if (!rc) rc = get_text(res, row, 1, 0, &b->contact);
    if (!rc) rc = get_text(res, row, 2, 1, &b->call_id);
    if (!rc) rc = get_i64(res, row, 3, 0, UINT32_MAX, &cseq);
    if (!rc) rc = get_i64(res, row, 4, INT64_MIN, INT64_MAX, &expires_at);
    if (!rc) rc = get_i64(res, row, 5, -1, 1000, &q);
    if (!rc) rc = get_text(res, row, 6, 1, &b->path);
    if (!rc) rc = get_text(res, row, 7, 1, &b->instance);
    if (!rc) rc = get_i64(res, row, 8, INT_MIN, INT_MAX, &reg_id);
    if (!rc) rc = get_text(res, row, 9, 1, &b->user_agent);
    if (!rc) rc = get_text(res, row, 10, 1, &b->received);
    if (!rc) rc = get_i64(res, row, 11, INT64_MIN, INT64_MAX, &conn_id);
    if (!rc) rc = get_text(res, row, 12, 1, &b->node);
    if (!rc) rc = get_i64(res, row, 13, INT64_MIN, INT64_MAX, &updated_at);
    if (rc) {
        binding_clear(b);
        return rc;
    }
    b->cseq = (uint32_t)cseq;
    b->expires_at = expires_at;
    b->q = (int)q;
    b->reg_id = (int)reg_id;
    b->conn_id = (uint64_t)conn_id; /* stored as the same 64 bits */
    b->updated_at = updated_at;
    return 0;
}

/* Rows of a LOC_COLS result into l, at most max. Invalid rows (which only a foreign writer could
 * have put there) are skipped with a warning. 0, -1 wrong result shape, -ENOMEM. */
static int parse_bindings(const PGresult *res, struct binding_list *l, int max)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != LOC_NCOLS)
        return -1;
    int n = PQntuples(res);
    if (n > max)
        n = max;
    int nbad = 0;
    for (int i = 0; i < n; i++) {
        struct binding b;
        int rc = parse_binding(res, i, &b);
        if (rc == -ENOMEM)
            return -ENOMEM;
        if (rc) {
            nbad++;
            continue;
        }
        if (binding_list_push_move(l, &b)) {
            binding_clear(&b);
            return -ENOMEM;
        }
    }
    if (nbad)
        LOG_WARN("postgres: skipped %d invalid rows of table locations", nbad);
    return 0;
}

/* ---- array parameters ------------------------------------------------------------------------ */

struct sbuf {
    char *p;
    size_t len, cap;
    int is_bad; /* allocation failed or too long */
};

static void sb_put(struct sbuf *sb, const char *s, size_t n)
{
    if (sb->is_bad)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        if (cap > PG_MAX_PARAM_BYTES) {
            sb->is_bad = 1;
            return;
        }
        char *p = realloc(sb->p, cap);
        if (!p) {
            sb->is_bad = 1;
            return;
        }
        sb->p = p;
        sb->cap = cap;
    }
    memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

static void sb_sep(struct sbuf *sb, size_t i) { sb_put(sb, i ? "," : "{", 1); }

/* An array element: always quoted (so "" and "NULL" stay strings), NULL unquoted. */
static void sb_text(struct sbuf *sb, size_t i, const char *s)
{
    sb_sep(sb, i);
    if (!s) {
        sb_put(sb, "NULL", 4);
        return;
    }
    sb_put(sb, "\"", 1);
    for (const char *run = s;;) {
        size_t n = strcspn(run, "\"\\");
        sb_put(sb, run, n);
        if (!run[n])
            break;
        sb_put(sb, "\\", 1);
        sb_put(sb, run + n, 1);
        run += n + 1;
    }
    sb_put(sb, "\"", 1);
}

static void sb_int(struct sbuf *sb, size_t i, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    sb_sep(sb, i);
    sb_put(sb, num, (size_t)n);
}

/* Are the update function's bindings fit to store? 0, or -1 (cause logged). */
static int check_bindings(const struct pg_op *op, const struct binding_list *out)
{
    if (out->len > PG_MAX_BINDINGS) {
        LOG_WARN("postgres: update of aor=%s has %zu bindings (max %d)", op->aor, out->len,
                 PG_MAX_BINDINGS);
        return -1;
    }
    for (size_t i = 0; i < out->len; i++) {
        const struct binding *b = &out->v[i];
        if (!b->contact) {
            LOG_ERROR("postgres: update of aor=%s gave a binding without contact", op->aor);
            return -1;
        }
        const char *const fields[] = {b->contact, b->call_id, b->path, b->instance,
                                      b->user_agent, b->received, b->node};
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
            if (fields[k] && strlen(fields[k]) > PG_MAX_FIELD_BYTES) {
                LOG_WARN("postgres: update of aor=%s has a field longer than %d bytes", op->aor,
                         PG_MAX_FIELD_BYTES);
                return -1;
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out->v[j].contact, b->contact) == 0) {
                LOG_ERROR("postgres: update of aor=%s gave contact %s twice", op->aor, b->contact);
                return -1;
            }
        }
    }
    return 0;
}

/* The parameters of one S_REPLACE, built update by update. */
struct replace_params {
    struct sbuf aors;                 /* $1: the AORs replaced */
    struct sbuf col[REPLACE_NARRAYS]; /* $2..: one array per column, one element per binding */
    size_t naors, nrows;
};

static void rp_add(struct replace_params *rp, const char *aor, const struct binding_list *out)
{
    sb_text(&rp->aors, rp->naors++, aor);
    for (size_t i = 0; i < out->len; i++, rp->nrows++) {
        const struct binding *b = &out->v[i];
        size_t r = rp->nrows;
        sb_text(&rp->col[0], r, aor);
        sb_text(&rp->col[1], r, b->contact);
        sb_text(&rp->col[2], r, b->call_id);
        sb_int(&rp->col[3], r, b->cseq);
        sb_int(&rp->col[4], r, b->expires_at);
        sb_int(&rp->col[5], r, b->q);
        sb_text(&rp->col[6], r, b->path);
        sb_text(&rp->col[7], r, b->instance);
        sb_int(&rp->col[8], r, b->reg_id);
        sb_text(&rp->col[9], r, b->user_agent);
        sb_text(&rp->col[10], r, b->received);
        sb_int(&rp->col[11], r, (int64_t)b->conn_id);
        sb_text(&rp->col[12], r, b->node);
        sb_int(&rp->col[13], r, b->updated_at);
    }
}

/* Close the arrays; values[] then points into rp. 0, or -1 when too large or out of memory. */
static int rp_finish(struct replace_params *rp, const char *values[1 + REPLACE_NARRAYS])
{
    sb_put(&rp->aors, "}", 1);
    int is_bad = rp->aors.is_bad;
    size_t total = rp->aors.len;
    for (int k = 0; k < REPLACE_NARRAYS; k++) {
        sb_put(&rp->col[k], rp->nrows ? "}" : "{}", rp->nrows ? 1 : 2);
        is_bad |= rp->col[k].is_bad;
        total += rp->col[k].len;
    }
    if (is_bad || total > PG_MAX_PARAM_BYTES)
        return -1;
    values[0] = rp->aors.p;
    for (int k = 0; k < REPLACE_NARRAYS; k++)
        values[1 + k] = rp->col[k].p;
    return 0;
}

static void rp_free(struct replace_params *rp)
{
    free(rp->aors.p);
    for (int k = 0; k < REPLACE_NARRAYS; k++)
        free(rp->col[k].p);
}

/* ---- operation state machines ---------------------------------------------------------------- */

static const char *query_name(const struct pg_op *op);

static const char *op_name(const struct pg_op *op)
{
    static const char *const names[] = {"update", "lookup", "expire", "count", "update"};
    return op->kind == OP_QUERY ? query_name(op) : names[op->kind];
}

static void log_sql_error(const struct pg_op *op, const PGresult *res)
{
    char line[384];
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!msg)
        msg = PQresultErrorMessage(res);
    const char *aor = op->kind == OP_BATCH ? op->members[0]->aor : op->aor;
    LOG_WARN("postgres %s failed aor=%s%s sqlstate=%s reason=\"%s\"", op_name(op),
             aor ? aor : "-", op->kind == OP_BATCH && op->nmembers > 1 ? ",..." : "",
             state ? state : "-", one_line(line, sizeof line, msg));
}

static int is_same_aor(const struct pg_op *a, const struct pg_op *b)
{
    return a->aor_hash == b->aor_hash && strcmp(a->aor, b->aor) == 0;
}

/* Does op's AOR have an update in flight on c? Then op (an update) must wait: if the first had
 * to be retried, the second would overtake it. */
static int is_aor_updating(const struct pg_conn *c, const struct pg_op *op)
{
    for (const struct pg_op *s = c->sent.head; s; s = s->next)
        if (s->kind == OP_BATCH)
            for (int i = 0; i < s->nmembers; i++)
                if (is_same_aor(s->members[i], op))
                    return 1;
    return 0;
}

/* Would op's first flight have to start a new segment? An update's BEGIN must open a transaction
 * of its own: a statement before it in the same segment (other than COMMIT/ROLLBACK) would run in
 * a transaction that BEGIN merely extends. An expire commits its DELETE before counting. */
static int query_is_write(const struct pg_op *op);

static int needs_new_segment(const struct pg_conn *c, const struct pg_op *op)
{
    if (op->kind == OP_EXPIRE || (op->kind == OP_QUERY && query_is_write(op)))
        return 1;
    return op->kind == OP_UPDATE && c->nunsynced && c->last_sent != S_COMMIT &&
           c->last_sent != S_ROLLBACK;
}

/* May op (the head of the queue) be sent now? */
static int may_start(const struct pg_conn *c, const struct pg_op *op)
{
    /* A new segment behind a flight 2 whose outcome is unknown could run in its aborted
     * transaction. */
    if (c->unsure && needs_new_segment(c, op))
        return 0;
    return op->kind != OP_UPDATE || !is_aor_updating(c, op);
}

/* A batch of the updates at the head of the queue (the head may start): consecutive ones, of
 * distinct AORs that are not being updated already, at most PG_BATCH_MAX; an update that failed
 * in a batch before (is_solo) goes alone. They leave the queue. NULL when out of memory. */
static struct pg_op *batch_take(struct pg_conn *c)
{
    struct pg_op *b = calloc(1, sizeof *b + PG_BATCH_MAX * sizeof b->members[0]);
    if (!b)
        return NULL;
    b->kind = OP_BATCH;
    b->is_internal = 1;
    b->conn = c;
    for (struct pg_op *op = c->wait.head, *next; op && b->nmembers < PG_BATCH_MAX; op = next) {
        next = op->next;
        if (op->kind != OP_UPDATE || (b->nmembers && (op->is_solo || is_aor_updating(c, op))))
            break;
        int is_dup = 0;
        for (int i = 0; i < b->nmembers && !is_dup; i++)
            is_dup = is_same_aor(b->members[i], op);
        if (is_dup)
            break;
        list_unlink(&c->wait, op);
        op->where = W_BATCH;
        b->members[b->nmembers++] = op;
        if (op->is_solo)
            break;
    }
    return b;
}

/* Send flight 1 of batch b: BEGIN; lock its AORs; SELECT their bindings. 0, or -1 when the
 * connection was dropped (b and its members are gone). */
static int batch_start(struct pg_conn *c, struct pg_op *b)
{
    struct sbuf aors = {0}, nows = {0};
    for (int i = 0; i < b->nmembers; i++) {
        struct pg_op *m = b->members[i];
        m->is_decided = m->is_included = 0;
        m->status = 0;
        sb_text(&aors, (size_t)i, m->aor);
        sb_int(&nows, (size_t)i, m->now);
    }
    sb_put(&aors, "}", 1);
    sb_put(&nows, "}", 1);
    const char *values[2] = {aors.p, nows.p};
    int rc = 0;
    if (aors.is_bad || nows.is_bad) {
        /* out of memory: give up on these, keep the connection */
        list_unlink(&c->sent, b);
        for (int i = 0; i < b->nmembers; i++)
            op_finish(b->members[i], STORE_EFAIL, NULL, 0);
        op_free(b);
    } else if (needs_new_segment(c, b->members[0]) && end_segment(c)) {
        rc = -1;
    } else {
        c->owner = b;
        if (send_stmt(c, b, S_BEGIN, NULL) || send_stmt(c, b, S_LOCK, values))
            rc = -1;
        else
            rc = send_stmt(c, b, S_SELECT, values);
    }
    free(aors.p);
    free(nows.p);
    return rc;
}

static int query_start(struct pg_conn *c, struct pg_op *op);

/* Send op's first flight. 0, or -1 when the connection was dropped (op is gone). */
static int op_start(struct pg_conn *c, struct pg_op *op)
{
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, op->now);
    const char *aor_now[2] = {op->aor, now};
    op->is_begun = op->has_error = op->is_skipped = op->want_retry = 0;
    op->status = 0;
    switch (op->kind) {
    case OP_BATCH:
        return batch_start(c, op);
    case OP_LOOKUP:
        return send_stmt(c, op, S_GET, aor_now);
    case OP_EXPIRE: {
        /* The DELETE commits (sync) before the count, which may take a while on a big table:
         * the rows it deleted stay locked until then. */
        const char *v[1] = {now};
        if (send_stmt(c, op, S_EXPIRE, v) || end_segment(c))
            return -1;
        return send_stmt(c, op, S_COUNT, NULL);
    }
    case OP_COUNT:
        return send_stmt(c, op, S_COUNT, NULL);
    case OP_QUERY:
        return query_start(c, op);
    case OP_UPDATE: /* always in a batch */
        break;
    }
    return -1;
}

/* Send what the queue allows, then close the segment with a sync. 0, or -1 when the connection
 * was dropped. */
static int pump(struct pg_conn *c)
{
    while (c->state == PG_READY && !c->ps->is_destroyed && c->wait.head && !c->owner &&
           !c->resend.head &&
           !(c->unsure && c->is_unsure_synced) && c->sent.n < PG_PIPELINE_OPS &&
           c->ring_len + 8 <= PG_RING_SIZE) {
        struct pg_op *op = c->wait.head;
        if (!may_start(c, op))
            break;
        if (op->kind == OP_UPDATE) {
            op = batch_take(c);
            if (!op) {
                op_finish(c->wait.head, STORE_EFAIL, NULL, 0); /* out of memory */
                continue;
            }
        } else {
            list_unlink(&c->wait, op);
        }
        list_append(&c->sent, op, W_SENT);
        if (op_start(c, op))
            return -1;
    }
    return end_segment(c);
}

/* Rows of a LOC_COLS result, split by member: per[i] gets the rows of b->members[i] (each list
 * initialised here; the caller frees them). 0, -1 wrong result shape, -ENOMEM. */
static int batch_parse(const struct pg_op *b, const PGresult *res, struct binding_list *per)
{
    for (int i = 0; i < b->nmembers; i++)
        binding_list_init(&per[i]);
    struct binding_list all;
    binding_list_init(&all);
    int rc = parse_bindings(res, &all, PG_MAX_BINDINGS * b->nmembers);
    for (size_t r = 0; rc == 0 && r < all.len; r++) {
        for (int i = 0; i < b->nmembers; i++) {
            if (strcmp(all.v[r].aor, b->members[i]->aor) == 0) {
                if (binding_list_push_move(&per[i], &all.v[r]))
                    rc = -ENOMEM;
                break;
            }
        }
    }
    binding_list_free(&all);
    return rc;
}

/* Flight 1 of batch b is back (res: the SELECT's result): run each update function on its AOR's
 * bindings, then send flight 2: the REPLACE of every AOR whose update went ahead, and COMMIT; or
 * ROLLBACK when none did (or flight 1 failed). */
static void batch_decide(struct pg_conn *c, struct pg_op *b, const PGresult *res)
{
    if (c->owner == b)
        c->owner = NULL;
    if (b->is_skipped && !b->is_begun) { /* never started: send its updates again */
        list_unlink(&c->sent, b);
        for (int i = 0; i < b->nmembers; i++)
            op_resend(c, b->members[i]);
        op_free(b);
        return;
    }
    struct replace_params rp;
    memset(&rp, 0, sizeof rp);
    struct binding_list *per = NULL;
    if (!b->has_error && !b->is_skipped) {
        per = calloc((size_t)b->nmembers, sizeof *per);
        int rc = per ? batch_parse(b, res, per) : -ENOMEM;
        if (rc) {
            LOG_WARN("postgres update failed aor=%s reason=\"%s\"", b->members[0]->aor,
                     rc == -ENOMEM ? "out of memory" : "unexpected result shape");
            b->has_error = 1;
        }
        for (int i = 0; per && i < b->nmembers; i++) {
            struct pg_op *m = b->members[i];
            struct binding_list out;
            binding_list_init(&out);
            int status = b->has_error ? STORE_EFAIL
                                      : m->update(m->arg, per[i].v, per[i].len, &out);
            if (status == 0 && check_bindings(m, &out))
                status = STORE_EFAIL;
            if (!b->has_error) {
                m->is_decided = 1;
                m->status = status > 0 ? status : status ? STORE_EFAIL : 0;
                if (status == 0) {
                    m->is_included = 1;
                    rp_add(&rp, m->aor, &out);
                }
            }
            binding_list_free(&out);
            binding_list_free(&per[i]);
        }
        free(per);
    }
    const char *values[1 + REPLACE_NARRAYS];
    if (rp.naors && rp_finish(&rp, values)) {
        /* too large for one statement (or out of memory): as if the REPLACE had failed */
        LOG_WARN("postgres: update of aor=%s too large or out of memory", b->members[0]->aor);
        for (int i = 0; i < b->nmembers; i++)
            if (b->members[i]->is_included)
                b->members[i]->is_decided = b->members[i]->is_included = 0;
        b->has_error = 1;
        rp.naors = 0;
    }
    if (rp.naors == 0) {
        rp_free(&rp);
        send_stmt(c, b, S_ROLLBACK, NULL);
        return;
    }
    c->unsure = b;
    c->is_unsure_synced = 0;
    int rc = send_stmt(c, b, S_REPLACE, values);
    rp_free(&rp); /* libpq copied the values */
    if (rc == 0)
        send_stmt(c, b, S_COMMIT, NULL);
}

/* Batch b's transaction is over without a commit (rolled back, or ended by a failed COMMIT).
 * Each member whose update function decided not to write reports that; the others are retried
 * if the database asked for it (up to PG_MAX_RETRIES), else sent again one per transaction to
 * find the one that failed, or (alone already) fail with STORE_EFAIL. */
static void batch_abandon(struct pg_conn *c, struct pg_op *b)
{
    list_unlink(&c->sent, b);
    int nfailed = 0;
    for (int i = 0; i < b->nmembers; i++)
        nfailed += !b->members[i]->is_decided || b->members[i]->is_included;
    /* Resend first, report after: the callbacks may drop the connection or destroy the store. */
    struct pg_op *report = NULL, **tail = &report;
    for (int i = 0; i < b->nmembers; i++) {
        struct pg_op *m = b->members[i];
        int is_failed = !m->is_decided || m->is_included;
        if (is_failed && b->want_retry && m->retries < PG_MAX_RETRIES) {
            m->retries++;
            LOG_DEBUG("postgres update retry aor=%s attempt=%d", m->aor, m->retries + 1);
            op_resend(c, m);
            continue;
        }
        if (is_failed && !b->want_retry && nfailed > 1) {
            m->is_solo = 1;
            op_resend(c, m);
            continue;
        }
        if (is_failed)
            m->status = STORE_EFAIL;
        m->where = W_NONE;
        m->next = NULL;
        *tail = m;
        tail = &m->next;
    }
    op_free(b);
    for (struct pg_op *m = report, *next; m; m = next) {
        next = m->next;
        op_finish(m, m->status, NULL, 0);
    }
}

/* Batch b committed: report to each member the bindings as stored (or its own decision). */
static void batch_committed(struct pg_conn *c, struct pg_op *b)
{
    list_unlink(&c->sent, b);
    struct binding_list *per = calloc((size_t)b->nmembers, sizeof *per);
    int rc = per && b->stored ? batch_parse(b, b->stored, per) : -1;
    if (rc) /* committed, but we cannot show it: the callers answer 500 and the UAs retry */
        LOG_WARN("postgres update aor=%s: stored rows unreadable", b->members[0]->aor);
    for (int i = 0; i < b->nmembers; i++) {
        struct pg_op *m = b->members[i];
        if (m->is_included) {
            if (rc == 0)
                store_sort_bindings(per[i].v, per[i].len);
            op_finish(m, rc ? STORE_EFAIL : 0, rc ? NULL : per[i].v, rc ? 0 : per[i].len);
        } else {
            op_finish(m, m->status, NULL, 0);
        }
    }
    for (int i = 0; per && i < b->nmembers; i++)
        binding_list_free(&per[i]);
    free(per);
    op_free(b);
}

static void batch_commit_result(struct pg_conn *c, struct pg_op *b, ExecStatusType rs)
{
    if (c->unsure == b) {
        c->unsure = NULL;
        c->is_unsure_synced = 0;
    }
    if (rs == PGRES_COMMAND_OK) {
        batch_committed(c, b);
    } else if (rs == PGRES_PIPELINE_ABORTED) {
        /* The REPLACE failed: the transaction stays aborted until ROLLBACK. Nothing was sent
         * behind this segment meanwhile, so the ROLLBACK is next. */
        send_stmt(c, b, S_ROLLBACK, NULL);
    } else {
        batch_abandon(c, b); /* a failed COMMIT ends the transaction */
    }
}

static void lookup_result(struct pg_conn *c, struct pg_op *op, const PGresult *res)
{
    if (op->is_skipped) {
        op_resend(c, op);
        return;
    }
    if (op->has_error) {
        op_finish(op, STORE_EFAIL, NULL, 0);
        return;
    }
    struct binding_list l;
    binding_list_init(&l);
    int rc = parse_bindings(res, &l, PG_MAX_BINDINGS);
    if (rc)
        LOG_WARN("postgres lookup failed aor=%s reason=\"%s\"", op->aor,
                 rc == -ENOMEM ? "out of memory" : "unexpected result shape");
    else
        store_sort_bindings(l.v, l.len);
    op_finish(op, rc ? STORE_EFAIL : 0, l.v, l.len);
    binding_list_free(&l);
}

/* The count ends an expire (after its DELETE committed) or is the internal refresh. */
static void count_result(struct pg_conn *c, struct pg_op *op, const PGresult *res)
{
    struct pg_store *ps = c->ps;
    int64_t aors, nb;
    if (res_ok(res) && PQntuples(res) == 1 && PQnfields(res) == 2 &&
        get_i64(res, 0, 0, 0, LONG_MAX, &aors) == 0 && get_i64(res, 0, 1, 0, LONG_MAX, &nb) == 0) {
        ps->count_aors = (long)aors;
        ps->count_bindings = (long)nb;
    }
    if (op->is_skipped) { /* the DELETE (or this) was skipped after another's error */
        op_resend(c, op);
        return;
    }
    op_finish(op, op->status, NULL, 0);
}

static int is_retryable(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

static int query_result(struct pg_conn *c, struct pg_op *op, PGresult *res);
static struct pg_op *query_synced(struct pg_conn *c, struct pg_op *op);
static void query_report(struct pg_op *op);

/* The result of the statement e stands for (res is freed here). Advances e's operation. */
static void on_stmt_result(struct pg_conn *c, const struct pg_entry *e, PGresult *res)
{
    if (e->is_prepare) {
        prepare_result(c, e->what, res);
        PQclear(res);
        return;
    }
    struct pg_op *op = e->op;
    ExecStatusType rs = PQresultStatus(res);
    int ok = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK;
    if (rs == PGRES_PIPELINE_ABORTED) {
        if (!op->has_error)
            op->is_skipped = 1;
    } else if (!ok && !op->has_error) {
        op->has_error = 1;
        log_sql_error(op, res);
        op->want_retry = (op->kind == OP_BATCH || op->kind == OP_QUERY) && is_retryable(res);
    }
    switch (e->what) {
    case S_BEGIN:
        op->is_begun = ok;
        break;
    case S_LOCK:
        break;
    case S_SELECT:
        batch_decide(c, op, res);
        break;
    case S_REPLACE:
        if (ok) {
            op->stored = res;
            res = NULL;
        }
        break;
    case S_COMMIT:
        batch_commit_result(c, op, rs);
        break;
    case S_ROLLBACK:
        if (!ok)
            conn_drop(c, "ROLLBACK failed");
        else
            batch_abandon(c, op);
        break;
    case S_GET:
        lookup_result(c, op, res);
        break;
    case S_EXPIRE:
        if (!ok && rs != PGRES_PIPELINE_ABORTED)
            op->status = STORE_EFAIL;
        break;
    case S_COUNT:
        count_result(c, op, res);
        break;
    default:
        if (e->what >= S_QUERY_FIRST && e->what < S_NUM && query_result(c, op, res))
            res = NULL; /* kept until the sync */
        break;
    }
    PQclear(res);
}

/* A sync is back: the segment before it is complete on the server. */
static void on_sync(struct pg_conn *c)
{
    if (c->state == PG_PREPARING) {
        conn_ready(c);
        return;
    }
    list_prepend_all(&c->wait, &c->resend, W_WAIT);
    /* Nothing awaited: the server must be outside any transaction (libpq knows it exactly now).
     * If not, the connection is in a state we do not understand, and a fresh one is the safe
     * way out. */
    if (c->ring_len == 0) {
        PGTransactionStatusType ts = PQtransactionStatus(c->conn);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
            conn_drop(c, "transaction left open");
    }
}

/* ---- IM and presence: one statement per operation -------------------------------------------- */

/* An OP_QUERY is one prepared statement (stmts[S_QUERY_FIRST..]) with its own parameters, and a
 * handler that turns the rows (binary format) into the caller's callback. A query that only reads
 * is pipelined like a lookup. A query that changes data (is_write) runs alone in its segment,
 * between two syncs: the segment is its transaction (implicit, committed at the sync), so that
 * a statement of another operation cannot share it, and its caller hears of it only once the
 * sync is back, that is after the commit. Such a query is retried on serialization failure or
 * deadlock like an update. */

#define Q_MAX_PARAMS 12

typedef void (*query_handler)(struct pg_op *op, int status, const PGresult *res);

union query_done {
    store_topic_cb topic;
    store_publish_cb publish;
    store_messages_cb messages;
    store_status_cb status;
    store_members_cb members;
    store_position_cb position;
    store_pres_cb pres;
    store_aors_cb aors;
};

struct pg_query {
    enum stmt_id stmt;
    query_handler handle;      /* status 0: parse res and report; else report the failure */
    union query_done done;
    int is_bad;                /* a parameter was too long, or out of memory */
    int nparams;
    char *values[Q_MAX_PARAMS]; /* owned; NULL is SQL NULL */
    int lengths[Q_MAX_PARAMS];
    int formats[Q_MAX_PARAMS]; /* 1 (binary) for bodies, else 0 (text) */
};

static void query_free(struct pg_query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->values[i]);
    free(q);
}

static const char *query_name(const struct pg_op *op) { return stmts[op->q->stmt].name; }

static int query_is_write(const struct pg_op *op) { return stmts[op->q->stmt].is_write; }

/* Tell the caller: status 0 with res (parsed by the handler), or a failure. */
static void query_notify(struct pg_op *op, int status, const PGresult *res)
{
    op->q->handle(op, status, status == 0 ? res : NULL);
}

/* Send the statement (with the syncs around it when it writes). 0, or -1 when the connection
 * was dropped (op is gone). */
static int query_start(struct pg_conn *c, struct pg_op *op)
{
    struct pg_query *q = op->q;
    int is_write = stmts[q->stmt].is_write;
    if (op->stored) {
        PQclear(op->stored);
        op->stored = NULL;
    }
    if (is_write && end_segment(c))
        return -1;
    if (ring_push(c, op, q->stmt, 0)) {
        conn_drop(c, "pipeline overflow");
        return -1;
    }
    if (!PQsendQueryPrepared(c->conn, stmts[q->stmt].name, q->nparams,
                             (const char *const *)q->values, q->lengths, q->formats, 1)) {
        conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    c->nunsynced++;
    c->last_sent = q->stmt;
    return is_write ? end_segment_for(c, op) : 0;
}

/* The statement's result. A read ends here; a write keeps its rows (returns 1: res is taken)
 * until the sync says whether the transaction committed. */
static int query_result(struct pg_conn *c, struct pg_op *op, PGresult *res)
{
    if (query_is_write(op)) {
        if (!op->has_error && !op->is_skipped) {
            op->stored = res;
            return 1;
        }
        return 0;
    }
    if (op->is_skipped) {
        op_resend(c, op);
    } else if (op->has_error) {
        op_finish(op, STORE_EFAIL, NULL, 0);
    } else {
        op_detach(op);
        query_notify(op, 0, res);
        op_free(op);
    }
    return 0;
}

/* A write's sync is back: its transaction is over. Returns op, detached, to report with
 * query_report(); or NULL when it goes out again (skipped after another's error, or the
 * database asked for a retry). */
static struct pg_op *query_synced(struct pg_conn *c, struct pg_op *op)
{
    if (op->where != W_SENT)
        return NULL;
    if (op->is_skipped && !op->has_error) {
        op_resend(c, op);
        return NULL;
    }
    if (op->has_error && op->want_retry && op->retries < PG_MAX_RETRIES) {
        op->retries++;
        LOG_DEBUG("postgres %s retry key=%s attempt=%d", query_name(op), op->aor ? op->aor : "-",
                  op->retries + 1);
        op_resend(c, op);
        return NULL;
    }
    op->status = op->has_error || !op->stored ? STORE_EFAIL : 0;
    op_detach(op);
    return op;
}

static void query_report(struct pg_op *op)
{
    query_notify(op, op->status, op->stored);
    op_free(op);
}

/* ---- parameters ---- */

static void q_put(struct pg_query *q, char *value, size_t len, int format)
{
    if (q->nparams == Q_MAX_PARAMS || len > INT_MAX) {
        q->is_bad = 1;
        free(value);
        return;
    }
    q->values[q->nparams] = value;
    q->lengths[q->nparams] = (int)len;
    q->formats[q->nparams] = format;
    q->nparams++;
}

/* A text parameter (NULL: SQL NULL), at most max bytes. */
static void q_text(struct pg_query *q, const char *s, size_t max)
{
    char *v = NULL;
    if (s && (strlen(s) > max || !(v = strdup(s)))) {
        q->is_bad = 1;
        return;
    }
    q_put(q, v, v ? strlen(v) : 0, 0);
}

static void q_int(struct pg_query *q, int64_t x)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, x);
    q_text(q, num, sizeof num);
}

/* A bytea parameter in binary format (NULL: SQL NULL), at most PG_MAX_BODY_BYTES. */
static void q_bytes(struct pg_query *q, const char *p, size_t len)
{
    char *v = NULL;
    if (p && (len > PG_MAX_BODY_BYTES || !(v = malloc(len ? len : 1)))) {
        q->is_bad = 1;
        return;
    }
    if (p)
        memcpy(v, p, len);
    q_put(q, v, p ? len : 0, 1);
}

/* A text[] parameter (an array literal, built as S_REPLACE's are). */
static void q_text_array(struct pg_query *q, const char *const *v, size_t n, size_t max_each)
{
    struct sbuf sb = {0};
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || strlen(v[i]) > max_each)
            sb.is_bad = 1;
        sb_text(&sb, i, v[i]);
    }
    sb_put(&sb, n ? "}" : "{}", n ? 1 : 2);
    if (sb.is_bad) {
        free(sb.p);
        q->is_bad = 1;
        return;
    }
    q_put(q, sb.p, sb.len, 0);
}

/* ---- binary results ---- */

static int bin_i64(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8)
        return -1;
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    *out = (int64_t)v;
    return 0;
}

static int bin_i32(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 4)
        return -1;
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *out = (int32_t)v;
    return 0;
}

static int bin_bool(const PGresult *res, int row, int col, int *out)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 1)
        return -1;
    *out = PQgetvalue(res, row, col)[0] != 0;
    return 0;
}

/* A text column as a string inside res (libpq ends every value with a NUL, binary ones too):
 * NULL column -> *out NULL when nullable; no NUL inside, at most PG_MAX_FIELD_BYTES. */
static int bin_text(const PGresult *res, int row, int col, int is_nullable, const char **out)
{
    *out = NULL;
    if (PQgetisnull(res, row, col))
        return is_nullable ? 0 : -1;
    int len = PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (len < 0 || len > PG_MAX_FIELD_BYTES || memchr(v, '\0', (size_t)len))
        return -1;
    *out = v;
    return 0;
}

/* A bytea column (binary): its octets inside res, NUL-terminated by libpq. */
static int bin_bytes(const PGresult *res, int row, int col, const char **out, size_t *len)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) < 0)
        return -1;
    *out = PQgetvalue(res, row, col);
    *len = (size_t)PQgetlength(res, row, col);
    return 0;
}

/* Is res a result of nfields binary columns (and at least min_rows rows)? */
static int is_shape(const PGresult *res, int nfields, int min_rows)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != nfields ||
        PQntuples(res) < min_rows)
        return 0;
    for (int i = 0; i < nfields; i++)
        if (PQfformat(res, i) != 1)
            return 0;
    return 1;
}

static void log_bad_result(const struct pg_op *op)
{
    LOG_WARN("postgres %s failed key=%s reason=\"unexpected result\"", query_name(op),
             op->aor ? op->aor : "-");
}

/* ---- handlers: rows -> the caller's callback ---- */

static void handle_topic(struct pg_op *op, int status, const PGresult *res)
{
    struct im_topic_info info = {0};
    if (status == 0 && (!is_shape(res, 4, 1) || bin_bool(res, 0, 0, &info.is_group) ||
                        bin_bool(res, 0, 1, &info.is_member) ||
                        bin_i64(res, 0, 2, &info.last_seq) ||
                        bin_i64(res, 0, 3, &info.first_seq))) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    op->q->done.topic(op->arg, status, status ? NULL : &info);
}

static void handle_publish(struct pg_op *op, int status, const PGresult *res)
{
    int64_t seq = 0, copy_seq = 0;
    int dup = 0;
    if (status == 0 && (!is_shape(res, 3, 1) || bin_i64(res, 0, 0, &seq) ||
                        bin_i64(res, 0, 1, &copy_seq) || bin_bool(res, 0, 2, &dup))) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    if (status)
        seq = copy_seq = dup = 0;
    op->q->done.publish(op->arg, status, seq, copy_seq, dup);
}

static void handle_read(struct pg_op *op, int status, const PGresult *res)
{
    int64_t first = 0, last = 0;
    struct im_message *v = NULL;
    size_t n = 0;
    if (status == 0) {
        int nrows = PQntuples(res);
        if (!is_shape(res, 10, 1) || bin_i64(res, 0, 0, &first) || bin_i64(res, 0, 1, &last) ||
            !(v = calloc((size_t)nrows, sizeof *v)))
            status = STORE_EFAIL;
        for (int r = 0; status == 0 && r < nrows; r++) {
            if (PQgetisnull(res, r, 2))
                continue; /* no message (the window alone) */
            struct im_message *m = &v[n];
            m->topic = op->aor;
            if (bin_i64(res, r, 2, &m->seq) || bin_text(res, r, 3, 0, &m->sender) ||
                bin_text(res, r, 4, 1, &m->sender_device) ||
                bin_text(res, r, 5, 0, &m->recipient) || bin_bool(res, r, 6, &m->is_copy) ||
                bin_text(res, r, 7, 0, &m->content_type) ||
                bin_bytes(res, r, 8, &m->body, &m->body_len) ||
                bin_i64(res, r, 9, &m->created_at))
                status = STORE_EFAIL;
            n++;
        }
        if (status)
            log_bad_result(op);
    }
    if (status)
        op->q->done.messages(op->arg, status, NULL, 0, 0, 0);
    else
        op->q->done.messages(op->arg, 0, v, n, first, last);
    free(v);
}

/* Group create / delete: the first column counts the group rows made / deleted. */
static void handle_group(struct pg_op *op, int status, const PGresult *res)
{
    int64_t ntopics = 0;
    if (status == 0 && (!is_shape(res, 2, 1) || bin_i64(res, 0, 0, &ntopics))) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    if (status == 0 && ntopics == 0)
        status = op->q->stmt == S_IM_GROUP_CREATE ? 409 : 404;
    if (op->q->done.status)
        op->q->done.status(op->arg, status);
}

static void handle_status(struct pg_op *op, int status, const PGresult *res)
{
    (void)res;
    if (op->q->done.status)
        op->q->done.status(op->arg, status);
}

/* One text column per row -> an array of strings (members, AORs). */
static int parse_strings(const PGresult *res, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!is_shape(res, 1, 0))
        return -1;
    int nrows = PQntuples(res);
    const char **v = calloc((size_t)nrows + 1, sizeof *v);
    if (!v)
        return -1;
    for (int r = 0; r < nrows; r++) {
        if (bin_text(res, r, 0, 0, &v[r])) {
            free(v);
            return -1;
        }
    }
    *out = v;
    *n = (size_t)nrows;
    return 0;
}

static void handle_members(struct pg_op *op, int status, const PGresult *res)
{
    const char **v = NULL;
    size_t n = 0;
    if (status == 0 && parse_strings(res, &v, &n)) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    op->q->done.members(op->arg, status, status ? NULL : v, status ? 0 : n);
    free(v);
}

static void handle_aors(struct pg_op *op, int status, const PGresult *res)
{
    const char **v = NULL;
    size_t n = 0;
    if (status == 0 && parse_strings(res, &v, &n)) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    if (op->q->done.aors)
        op->q->done.aors(op->arg, status, status ? NULL : v, status ? 0 : n);
    free(v);
}

static void handle_position(struct pg_op *op, int status, const PGresult *res)
{
    int64_t pos = 0;
    if (status == 0 && (!is_shape(res, 1, 1) || bin_i64(res, 0, 0, &pos))) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    op->q->done.position(op->arg, status, status ? 0 : pos);
}

/* Rows (status, etag, expires_at, content_type, body, updated_at): a row with status > 0 is the
 * answer (412); rows with a NULL etag stand for "none". */
static void handle_pres(struct pg_op *op, int status, const PGresult *res)
{
    struct pres_publication *v = NULL;
    size_t n = 0;
    if (status == 0) {
        int nrows = PQntuples(res);
        if (!is_shape(res, 6, 0) || !(v = calloc((size_t)nrows + 1, sizeof *v)))
            status = STORE_EFAIL;
        for (int r = 0; status == 0 && r < nrows; r++) {
            int64_t st;
            if (bin_i32(res, r, 0, &st)) {
                status = STORE_EFAIL;
                break;
            }
            if (st != 0) {
                status = st > 0 && st < 700 ? (int)st : STORE_EFAIL;
                break;
            }
            if (PQgetisnull(res, r, 1))
                continue;
            struct pres_publication *p = &v[n++];
            p->aor = op->aor;
            if (bin_text(res, r, 1, 0, &p->etag) || bin_i64(res, r, 2, &p->expires_at) ||
                bin_text(res, r, 3, 0, &p->content_type) ||
                bin_bytes(res, r, 4, &p->body, &p->body_len) ||
                bin_i64(res, r, 5, &p->updated_at))
                status = STORE_EFAIL;
        }
        if (status == STORE_EFAIL)
            log_bad_result(op);
    }
    op->q->done.pres(op->arg, status, status ? NULL : v, status ? 0 : n);
    free(v);
}

/* ---- reading --------------------------------------------------------------------------------- */

/* Did the statement fail because the connection is going away? SQLSTATE class 08 (connection
 * exception) and 57P (server shutting down, backend terminated) end the session even when libpq
 * has not yet seen the end of the stream. */
static int is_conn_error(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) == CONNECTION_BAD)
        return 1;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0);
}

/* A complete result (res, owned here) for the ring's head entry. */
static void deliver(struct pg_conn *c, PGresult *res, int is_sync)
{
    if (!is_sync && is_conn_error(c->conn, res)) {
        char reason[384];
        one_line(reason, sizeof reason, PQresultErrorMessage(res));
        if (!strcmp(reason, "unknown error"))
            one_line(reason, sizeof reason, PQerrorMessage(c->conn));
        PQclear(res);
        conn_drop(c, reason);
        return;
    }
    if (c->ring_len == 0 || (c->ring[c->ring_head].what == E_SYNC) != is_sync) {
        PQclear(res);
        conn_drop(c, "results out of step with the pipeline");
        return;
    }
    struct pg_entry e = ring_pop(c);
    c->progress_ms = loop_now_ms(c->ps->base.loop);
    if (is_sync) {
        PQclear(res);
        /* A query that changed data is through (or failed) at its sync; it reports after
         * the connection is back in step, since the callback may submit or destroy. */
        struct pg_op *done = e.op ? query_synced(c, e.op) : NULL;
        on_sync(c);
        if (done)
            query_report(done);
        return;
    }
    on_stmt_result(c, &e, res);
}

/* Read every complete result; then send what may go now. In pipeline mode each statement gives
 * one result then NULL; a sync gives one PGRES_PIPELINE_SYNC result and no NULL; with nothing
 * awaited PQgetResult keeps returning NULL. */
static void process_results(struct pg_conn *c)
{
    struct pg_store *ps = c->ps;
    int nnull = 0;
    while (c->conn && !ps->is_destroyed && !PQisBusy(c->conn)) {
        PGresult *r = PQgetResult(c->conn);
        if (!r) {
            if (c->res) {
                PGresult *res = c->res;
                c->res = NULL;
                nnull = 0;
                deliver(c, res, 0);
            } else if (++nnull >= 2) {
                break;
            }
            continue;
        }
        nnull = 0;
        ExecStatusType rs = PQresultStatus(r);
        if (rs == PGRES_PIPELINE_SYNC) {
            if (c->res) { /* cannot happen: a statement's results end with NULL */
                PQclear(c->res);
                c->res = NULL;
            }
            deliver(c, r, 1);
            continue;
        }
        if (rs == PGRES_COPY_IN || rs == PGRES_COPY_OUT || rs == PGRES_COPY_BOTH) {
            /* none of our statements copies; libpq would return this result forever */
            PQclear(r);
            conn_drop(c, "unexpected COPY state");
            return;
        }
        /* Keep the first result, or the first error. */
        if (!c->res) {
            c->res = r;
        } else if (rs == PGRES_FATAL_ERROR && PQresultStatus(c->res) != PGRES_FATAL_ERROR) {
            PQclear(c->res);
            c->res = r;
        } else {
            PQclear(r);
        }
    }
    if (c->conn && !ps->is_destroyed)
        pump(c);
}

static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct pg_conn *c = arg;
    struct pg_store *ps = c->ps;
    ps_enter(ps);
    if (c->state == PG_CONNECTING) {
        conn_poll(c);
    } else if (c->conn) {
        if (!PQconsumeInput(c->conn) || PQstatus(c->conn) == CONNECTION_BAD) {
            conn_drop(c, PQerrorMessage(c->conn));
        } else {
            PGnotify *nf;
            while ((nf = PQnotifies(c->conn)) != NULL)
                PQfreemem(nf);
            if ((events & EPOLLOUT) || (c->fd_events & EPOLLOUT))
                flush_out(c);
            if (c->conn)
                process_results(c);
        }
    }
    ps_leave(ps);
}

/* ---- listening on sipd_im and sipd_pres (store_im/pres_set_listener) ------------------------ */

static void on_listen_fd(struct loop *loop, int fd, uint32_t events, void *arg);
static void on_listen_timer(struct timer *t, void *arg);

/* Close the listening connection, if any (the server forgets its LISTEN with the session). The
 * state becomes DOWN; the caller retries or goes OFF. */
static void listen_close(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    loop_timer_stop(ps->base.loop, &ls->connect_timer);
    if (ls->fd >= 0)
        loop_fd_del(ps->base.loop, ls->fd); /* before PQfinish closes the socket */
    ls->fd = -1;
    ls->fd_events = 0;
    if (ls->conn)
        PQfinish(ls->conn);
    ls->conn = NULL;
    ls->state = LS_DOWN;
    ls->session++;
}

/* No listener any more (set NULL, or the store is destroyed): no connection, no retry. */
static void listen_stop(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    loop_timer_stop(ps->base.loop, &ls->retry_timer);
    listen_close(ps);
    ls->state = LS_OFF;
    ls->im_cb = NULL;
    ls->im_arg = NULL;
    ls->pres_cb = NULL;
    ls->pres_arg = NULL;
    ls->is_im_missed = 0;
    ls->is_pres_missed = 0;
    ls->is_loss_logged = 0;
}

/* The listening connection failed or was lost: say so (once per outage), remember that
 * notifications may have been missed, reconnect later with the pool's backoff. */
static void listen_drop(struct pg_store *ps, const char *reason)
{
    struct pg_listen *ls = &ps->listen;
    char line[384];
    one_line(line, sizeof line, reason);
    const char *host = ls->conn ? PQhost(ls->conn) : NULL;
    const char *port = ls->conn ? PQport(ls->conn) : NULL;
    char where[160];
    snprintf(where, sizeof where, "host=%s port=%s", host && *host ? host : "default",
             port && *port ? port : "default");
    int was_listening = ls->state == LS_LISTENING;
    listen_close(ps);
    ls->is_im_missed = ls->im_cb != NULL;
    ls->is_pres_missed = ls->pres_cb != NULL;
    if (!ls->is_loss_logged) {
        LOG_WARN("postgres listen connection %s %s channels=sipd_im,sipd_pres reason=\"%s\";"
                 " reconnecting",
                 was_listening ? "lost" : "failed", where, line);
        ls->is_loss_logged = 1;
    } else {
        LOG_DEBUG("postgres listen connection attempt failed %s reason=\"%s\"", where, line);
    }
    if (was_listening)
        ls->backoff_ms = PG_BACKOFF_MIN_MS;
    if (ps->is_destroyed)
        return;
    if (loop_timer_start(ps->base.loop, &ls->retry_timer, ls->backoff_ms, on_listen_timer, ps))
        LOG_ERROR("postgres: cannot arm listen reconnect timer (out of memory)");
    ls->backoff_ms *= 2;
    if (ls->backoff_ms > PG_BACKOFF_MAX_MS)
        ls->backoff_ms = PG_BACKOFF_MAX_MS;
}

/* (Re-)register the socket; see watch_socket. */
static int listen_watch(struct pg_store *ps, uint32_t events)
{
    struct pg_listen *ls = &ps->listen;
    int fd = PQsocket(ls->conn);
    if (fd < 0)
        return -1;
    if (ls->fd >= 0)
        loop_fd_del(ps->base.loop, ls->fd);
    ls->fd = -1;
    if (loop_fd_add(ps->base.loop, fd, events, on_listen_fd, ps))
        return -1;
    ls->fd = fd;
    ls->fd_events = events;
    return 0;
}

/* Push out what libpq buffered (the LISTEN); wait for writability while some remains. 0, or -1
 * when the connection was dropped. */
static int listen_flush(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    int r = PQflush(ls->conn);
    if (r < 0) {
        listen_drop(ps, PQerrorMessage(ls->conn));
        return -1;
    }
    uint32_t events = r ? EPOLLIN | EPOLLOUT : EPOLLIN;
    if (events != ls->fd_events) {
        if (loop_fd_mod(ps->base.loop, ls->fd, events)) {
            listen_drop(ps, "cannot watch socket");
            return -1;
        }
        ls->fd_events = events;
    }
    return 0;
}

static void listen_start(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    ls->conn = connect_start(ps);
    if (!ls->conn) {
        listen_drop(ps, "out of memory");
        return;
    }
    PQsetNoticeProcessor(ls->conn, notice_quiet, NULL);
    if (PQstatus(ls->conn) == CONNECTION_BAD) {
        listen_drop(ps, PQerrorMessage(ls->conn));
        return;
    }
    ls->state = LS_CONNECTING;
    /* libpq: after PQconnectStart, behave as if PQconnectPoll had returned POLLING_WRITING. */
    if (listen_watch(ps, EPOLLOUT)) {
        listen_drop(ps, "no socket to watch");
        return;
    }
    /* covers the LISTEN too: the timer stops once it is in effect */
    if (loop_timer_start(ps->base.loop, &ls->connect_timer, PG_CONNECT_TIMEOUT_MS,
                         on_listen_timer, ps))
        listen_drop(ps, "out of memory");
}

/* Send the next channel's LISTEN (plain asynchronous mode, no pipeline: one command at a time,
 * the next once the previous is done). 0, or -1 when the connection was dropped. */
static int listen_send_next(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "LISTEN %s", listen_channels[ls->nsent]);
    if (!PQsendQuery(ls->conn, cmd)) {
        listen_drop(ps, PQerrorMessage(ls->conn));
        return -1;
    }
    ls->nsent++;
    return listen_flush(ps);
}

/* Connected: send the first LISTEN. */
static void listen_poll(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    switch (PQconnectPoll(ls->conn)) {
    case PGRES_POLLING_READING:
        if (listen_watch(ps, EPOLLIN))
            listen_drop(ps, "no socket to watch");
        return;
    case PGRES_POLLING_WRITING:
        if (listen_watch(ps, EPOLLOUT))
            listen_drop(ps, "no socket to watch");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        listen_drop(ps, PQerrorMessage(ls->conn));
        return;
    }
    if (PQsetnonblocking(ls->conn, 1) || listen_watch(ps, EPOLLIN)) {
        listen_drop(ps, "cannot switch connection to non-blocking mode");
        return;
    }
    ls->state = LS_SUBSCRIBING;
    ls->nsent = 0;
    listen_send_next(ps);
}

/* Collect the LISTENs' results; the NULL after one means that LISTEN is in effect (committed):
 * the next is sent, and after the last the state becomes LISTENING. 0, or -1 when the connection
 * was dropped. */
static int listen_results(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    while (!PQisBusy(ls->conn)) {
        PGresult *r = PQgetResult(ls->conn);
        if (!r && ls->nsent < LISTEN_NCHANNELS)
            return listen_send_next(ps);
        if (!r) {
            loop_timer_stop(ps->base.loop, &ls->connect_timer);
            ls->state = LS_LISTENING;
            ls->backoff_ms = PG_BACKOFF_MIN_MS;
            if (ls->is_loss_logged)
                LOG_INFO("postgres listening again channels=sipd_im,sipd_pres");
            ls->is_loss_logged = 0;
            return 0;
        }
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "LISTEN failed: %s", PQresultErrorMessage(r));
            PQclear(r);
            listen_drop(ps, msg);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

/* "<topic> <seq>" (sipd_im_publish in schema/002_im.sql), split in place at the last space: the
 * seq is whatever follows it, even if a topic held a space (the payload is ours until PQfreemem).
 * 0 with *topic (1..PG_MAX_URI_BYTES bytes) and *seq (> 0, never the (NULL, 0) call's), or -1. */
static int parse_notify_payload(char *payload, const char **topic, int64_t *seq)
{
    char *sp = strrchr(payload, ' ');
    if (!sp || sp == payload || (size_t)(sp - payload) > PG_MAX_URI_BYTES)
        return -1;
    const char *digits = sp + 1;
    size_t nd = strspn(digits, "0123456789");
    if (nd == 0 || nd > 19 || digits[nd] != '\0')
        return -1;
    errno = 0;
    long long v = strtoll(digits, NULL, 10);
    if (errno || v <= 0)
        return -1;
    *sp = '\0';
    *topic = payload;
    *seq = (int64_t)v;
    return 0;
}

/* Hand one sipd_im notification to the IM listener, if there is one. */
static void listen_deliver_im(struct pg_listen *ls, char *payload)
{
    const char *topic;
    int64_t seq;
    if (parse_notify_payload(payload, &topic, &seq))
        LOG_DEBUG("postgres notification ignored channel=sipd_im reason=\"malformed payload\""
                  " bytes=%zu", strlen(payload));
    else if (ls->im_cb)
        ls->im_cb(ls->im_arg, topic, seq);
}

/* Hand one sipd_pres notification (the AOR, 1..PG_MAX_URI_BYTES bytes) to the presence
 * listener, if there is one. */
static void listen_deliver_pres(struct pg_listen *ls, const char *payload)
{
    size_t n = strlen(payload);
    if (n == 0 || n > PG_MAX_URI_BYTES)
        LOG_DEBUG("postgres notification ignored channel=sipd_pres reason=\"malformed payload\""
                  " bytes=%zu", n);
    else if (ls->pres_cb)
        ls->pres_cb(ls->pres_arg, payload);
}

/* Hand every notification libpq has read to its channel's listener, in order. Stops when a
 * callback closed the connection (set both listeners NULL, maybe a new listener after it, or
 * destroyed the store): what that session still had is dropped. */
static void listen_deliver(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    unsigned session = ls->session;
    PGnotify *nf;
    while (ls->session == session && (nf = PQnotifies(ls->conn)) != NULL) {
        if (strcmp(nf->relname, "sipd_im") == 0)
            listen_deliver_im(ls, nf->extra);
        else if (strcmp(nf->relname, "sipd_pres") == 0)
            listen_deliver_pres(ls, nf->extra);
        else
            LOG_DEBUG("postgres notification ignored channel=%.64s reason=\"unknown channel\"",
                      nf->relname);
        PQfreemem(nf);
    }
}

/* LISTEN is in effect again after a failure or loss: tell each listener that was set meanwhile
 * that it may have missed notifications. 0, or -1 when a callback closed the connection. */
static int listen_say_missed(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    unsigned session = ls->session;
    if (ls->is_im_missed) {
        ls->is_im_missed = 0;
        if (ls->im_cb)
            ls->im_cb(ls->im_arg, NULL, 0);
    }
    if (ls->session != session)
        return -1;
    if (ls->is_pres_missed) {
        ls->is_pres_missed = 0;
        if (ls->pres_cb)
            ls->pres_cb(ls->pres_arg, NULL);
    }
    return ls->session == session ? 0 : -1;
}

static void on_listen_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct pg_store *ps = arg;
    struct pg_listen *ls = &ps->listen;
    ps_enter(ps);
    if (ls->state == LS_CONNECTING) {
        listen_poll(ps);
    } else if (ls->conn) {
        if (!PQconsumeInput(ls->conn) || PQstatus(ls->conn) == CONNECTION_BAD) {
            listen_drop(ps, PQerrorMessage(ls->conn));
        } else if (((events & EPOLLOUT) || (ls->fd_events & EPOLLOUT)) && listen_flush(ps)) {
            /* dropped */
        } else if (ls->state == LS_SUBSCRIBING) {
            if (listen_results(ps) == 0 && ls->state == LS_LISTENING && listen_say_missed(ps) == 0)
                listen_deliver(ps);
        } else if (ls->state == LS_LISTENING) {
            listen_deliver(ps);
        }
    }
    ps_leave(ps);
}

/* Retry timer (DOWN: connect again) and connect timer (CONNECTING/SUBSCRIBING: give up). */
static void on_listen_timer(struct timer *t, void *arg)
{
    struct pg_store *ps = arg;
    struct pg_listen *ls = &ps->listen;
    ps_enter(ps);
    if (t == &ls->connect_timer) {
        char msg[96];
        snprintf(msg, sizeof msg, "connect timeout after %d ms", PG_CONNECT_TIMEOUT_MS);
        listen_drop(ps, msg);
    } else if (ls->state == LS_DOWN && (ls->im_cb || ls->pres_cb) && !ps->is_destroyed) {
        listen_start(ps);
    }
    ps_leave(ps);
}

/* ---- the store interface --------------------------------------------------------------------- */

static struct pg_store *as_pg(const struct store *st) { return (struct pg_store *)st; }

static int pg_is_available(const struct store *st)
{
    const struct pg_store *ps = as_pg(st);
    return !ps->is_destroyed && any_ready(ps);
}

static size_t pg_pending(const struct store *st) { return as_pg(st)->nuser; }

static long pg_location_count(const struct store *st, long *nbindings)
{
    const struct pg_store *ps = as_pg(st);
    if (nbindings)
        *nbindings = ps->count_bindings;
    return ps->count_aors;
}

/* FNV-1a, with a final mix so that the low bits (the connection index) depend on every byte. */
static uint64_t hash_aor(const char *aor)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)aor; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

/* The AOR's own connection, or the next one that is up; NULL when none is. */
static struct pg_conn *route_aor(struct pg_store *ps, uint64_t h)
{
    for (unsigned k = 0; k < PG_CONNECTIONS; k++) {
        struct pg_conn *c = &ps->conns[(h + k) % PG_CONNECTIONS];
        if (c->state == PG_READY)
            return c;
    }
    return NULL;
}

/* The least busy connection that is up; NULL when none is. */
static struct pg_conn *route_any(struct pg_store *ps)
{
    struct pg_conn *best = NULL;
    for (int i = 0; i < PG_CONNECTIONS; i++) {
        struct pg_conn *c = &ps->conns[i];
        if (c->state == PG_READY &&
            (!best || c->wait.n + c->sent.n < best->wait.n + best->sent.n))
            best = c;
    }
    return best;
}

/* A new operation routed to a connection, or NULL after reporting why not (through done). */
static struct pg_op *op_new(struct pg_store *ps, enum op_kind kind, const char *aor, int64_t now,
                            store_bindings_cb done_bindings, store_status_cb done_status,
                            void *arg)
{
    int status = 0;
    struct pg_op *op = NULL;
    struct pg_conn *c = NULL;
    uint64_t h = 0;
    if (ps->is_destroyed || !any_ready(ps) || ps->nops >= PG_MAX_OPS) {
        status = STORE_EUNAVAIL;
    } else if (kind != OP_EXPIRE && (!aor || strlen(aor) > PG_MAX_FIELD_BYTES)) {
        status = STORE_EFAIL;
    } else if (!(op = calloc(1, sizeof *op)) || (aor && !(op->aor = strdup(aor)))) {
        status = STORE_EFAIL;
        free(op);
        op = NULL;
    } else {
        h = aor ? hash_aor(aor) : 0;
        c = aor ? route_aor(ps, h) : route_any(ps);
    }
    if (status) {
        if (done_bindings)
            done_bindings(arg, status, NULL, 0);
        else if (done_status)
            done_status(arg, status);
        return NULL;
    }
    op->conn = c;
    op->kind = kind;
    op->aor_hash = h;
    op->now = now;
    op->done_bindings = done_bindings;
    op->done_status = done_status;
    op->arg = arg;
    return op;
}

static void op_submit(struct pg_store *ps, struct pg_op *op)
{
    struct pg_conn *c = op->conn;
    ps_enter(ps);
    ps->nops++;
    ps->nuser++;
    list_append(&c->wait, op, W_WAIT);
    pump(c);
    ps_leave(ps);
}

static void pg_location_update(struct store *st, const char *aor, int64_t now,
                               store_update_fn update, store_bindings_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = op_new(ps, OP_UPDATE, aor, now, done, NULL, arg);
    if (!op)
        return;
    op->update = update;
    op_submit(ps, op);
}

static void pg_location_lookup(struct store *st, const char *aor, int64_t now,
                               store_bindings_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = op_new(ps, OP_LOOKUP, aor, now, done, NULL, arg);
    if (!op)
        return;
    op_submit(ps, op);
}

static void pg_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = op_new(ps, OP_EXPIRE, NULL, now, NULL, done, arg);
    if (!op)
        return;
    op_submit(ps, op);
}

/* ---- IM and presence ------------------------------------------------------------------------- */

/* A query routed by key (a topic or an AOR: its operations stay in order on one connection), or
 * with key NULL and !is_keyed to the least busy connection. NULL after reporting why not. */
static struct pg_op *query_new(struct pg_store *ps, enum stmt_id stmt, int is_keyed,
                               const char *key, query_handler handle, union query_done done,
                               void *arg)
{
    struct pg_query qtmp = {.stmt = stmt, .handle = handle, .done = done};
    struct pg_op tmp = {.kind = OP_QUERY, .q = &qtmp, .arg = arg};
    int status = 0;
    if (ps->is_destroyed || !any_ready(ps) || ps->nops >= PG_MAX_OPS)
        status = STORE_EUNAVAIL;
    else if (is_keyed && (!key || strlen(key) > PG_MAX_URI_BYTES))
        status = STORE_EFAIL;
    struct pg_op *op = status ? NULL : calloc(1, sizeof *op);
    if (op && (!(op->q = calloc(1, sizeof *op->q)) || (key && !(op->aor = strdup(key))))) {
        free(op->q);
        free(op);
        op = NULL;
    }
    if (!op) {
        handle(&tmp, status ? status : STORE_EFAIL, NULL); /* out of memory unless status */
        return NULL;
    }
    *op->q = qtmp;
    op->kind = OP_QUERY;
    op->arg = arg;
    op->aor_hash = key ? hash_aor(key) : 0;
    op->conn = key ? route_aor(ps, op->aor_hash) : route_any(ps);
    return op;
}

/* Send the query, or (a parameter was unfit) fail it with STORE_EFAIL. */
static void query_submit(struct pg_store *ps, struct pg_op *op)
{
    if (op->q->is_bad) {
        LOG_WARN("postgres %s refused key=%s reason=\"parameter too long\"", query_name(op),
                 op->aor ? op->aor : "-");
        op->q->handle(op, STORE_EFAIL, NULL);
        op_free(op);
        return;
    }
    op_submit(ps, op);
}

static const struct im_retention no_retention;

static void pg_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
                        const struct im_retention *ret, store_topic_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_TOPIC, 1, topic, handle_topic,
                                 (union query_done){.topic = done}, arg);
    if (!op)
        return;
    if (!ret)
        ret = &no_retention;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_text(op->q, identity, PG_MAX_URI_BYTES);
    q_int(op->q, now);
    q_int(op->q, ret->count > 0 ? ret->count : 0);
    q_int(op->q, ret->age_s > 0 ? ret->age_s : 0);
    query_submit(ps, op);
}

static void pg_im_publish(struct store *st, const struct im_publish *p, store_publish_cb done,
                          void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_PUBLISH, 1, p->topic, handle_publish,
                                 (union query_done){.publish = done}, arg);
    if (!op)
        return;
    struct pg_query *q = op->q;
    if (!p->sender || !p->content_type || (!p->body && p->body_len))
        q->is_bad = 1;
    q_text(q, p->topic, PG_MAX_URI_BYTES);
    q_text(q, p->sender, PG_MAX_URI_BYTES);
    q_text(q, p->sender_device, PG_MAX_FIELD_BYTES);
    q_text(q, p->copy_topic, PG_MAX_URI_BYTES);
    q_text(q, p->call_id, PG_MAX_FIELD_BYTES);
    q_text(q, p->from_tag, PG_MAX_FIELD_BYTES);
    q_int(q, p->cseq);
    q_text(q, p->content_type, PG_MAX_FIELD_BYTES);
    q_bytes(q, p->body ? p->body : "", p->body ? p->body_len : 0);
    q_int(q, p->now);
    q_int(q, p->ret.count > 0 ? p->ret.count : 0);
    q_int(q, p->ret.age_s > 0 ? p->ret.age_s : 0);
    query_submit(ps, op);
}

static void pg_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max,
                       int64_t now, const struct im_retention *ret, store_messages_cb done,
                       void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_READ, 1, topic, handle_read,
                                 (union query_done){.messages = done}, arg);
    if (!op)
        return;
    if (!ret)
        ret = &no_retention;
    if (max < 1)
        max = 1;
    if (max > PG_MAX_READ_ROWS)
        max = PG_MAX_READ_ROWS;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_int(op->q, after_seq > 0 ? after_seq : 0);
    q_int(op->q, (int64_t)max);
    q_int(op->q, now);
    q_int(op->q, ret->count > 0 ? ret->count : 0);
    q_int(op->q, ret->age_s > 0 ? ret->age_s : 0);
    q_int(op->q, PG_MAX_READ_BYTES);
    query_submit(ps, op);
}

static void pg_im_group_create(struct store *st, const char *topic, const char *const *members,
                               size_t nmembers, store_status_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_GROUP_CREATE, 1, topic, handle_group,
                                 (union query_done){.status = done}, arg);
    if (!op)
        return;
    if (nmembers > PG_MAX_MEMBERS || (nmembers && !members))
        op->q->is_bad = 1;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    if (!op->q->is_bad)
        q_text_array(op->q, members, nmembers, PG_MAX_URI_BYTES);
    query_submit(ps, op);
}

static void pg_im_group_delete(struct store *st, const char *topic, store_status_cb done,
                               void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_GROUP_DELETE, 1, topic, handle_group,
                                 (union query_done){.status = done}, arg);
    if (!op)
        return;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    query_submit(ps, op);
}

static void pg_im_members(struct store *st, const char *topic, store_members_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_MEMBERS, 1, topic, handle_members,
                                 (union query_done){.members = done}, arg);
    if (!op)
        return;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_int(op->q, PG_MAX_MEMBERS);
    query_submit(ps, op);
}

static void pg_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_GROUPS_OF, 1, aor, handle_members,
                                 (union query_done){.members = done}, arg);
    if (!op)
        return;
    q_text(op->q, aor, PG_MAX_URI_BYTES);
    q_int(op->q, PG_MAX_MEMBERS);
    query_submit(ps, op);
}

/* Positions go by topic, so that a device's get and advances in one topic stay in order. */
static void pg_im_position_get(struct store *st, const char *topic, const char *aor,
                               const char *device, int64_t initial, store_position_cb done,
                               void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_POS_GET, 1, topic, handle_position,
                                 (union query_done){.position = done}, arg);
    if (!op)
        return;
    if (!aor || !device)
        op->q->is_bad = 1;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_text(op->q, aor, PG_MAX_URI_BYTES);
    q_text(op->q, device, PG_MAX_FIELD_BYTES);
    q_int(op->q, initial);
    query_submit(ps, op);
}

static void pg_im_position_advance(struct store *st, const char *topic, const char *aor,
                                   const char *device, int64_t seq, store_status_cb done,
                                   void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_POS_ADVANCE, 1, topic, handle_status,
                                 (union query_done){.status = done}, arg);
    if (!op)
        return;
    if (!aor || !device)
        op->q->is_bad = 1;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_text(op->q, aor, PG_MAX_URI_BYTES);
    q_text(op->q, device, PG_MAX_FIELD_BYTES);
    q_int(op->q, seq);
    query_submit(ps, op);
}

static void pg_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                         store_status_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_IM_EXPIRE, 0, NULL, handle_status,
                                 (union query_done){.status = done}, arg);
    if (!op)
        return;
    if (!ret)
        ret = &no_retention;
    q_int(op->q, now);
    q_int(op->q, ret->count > 0 ? ret->count : 0);
    q_int(op->q, ret->age_s > 0 ? ret->age_s : 0);
    query_submit(ps, op);
}

static void pg_pres_publish(struct store *st, const char *aor, const char *if_match,
                            const char *new_etag, int64_t expires_at, const char *content_type,
                            const char *body, size_t body_len, int64_t now, store_pres_cb done,
                            void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_PRES_PUBLISH, 1, aor, handle_pres,
                                 (union query_done){.pres = done}, arg);
    if (!op)
        return;
    struct pg_query *q = op->q;
    /* initial: a body; a change of etag (refresh, modify): the new one */
    if ((!if_match && (!body || !content_type || !new_etag)) ||
        (if_match && expires_at != 0 && !new_etag) || (body && !content_type))
        q->is_bad = 1;
    q_text(q, aor, PG_MAX_URI_BYTES);
    q_text(q, if_match, PG_MAX_FIELD_BYTES);
    q_text(q, new_etag, PG_MAX_FIELD_BYTES);
    q_int(q, expires_at);
    q_text(q, body ? content_type : NULL, PG_MAX_FIELD_BYTES);
    q_bytes(q, body, body_len);
    q_int(q, now);
    query_submit(ps, op);
}

static void pg_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done,
                        void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_PRES_GET, 1, aor, handle_pres,
                                 (union query_done){.pres = done}, arg);
    if (!op)
        return;
    q_text(op->q, aor, PG_MAX_URI_BYTES);
    q_int(op->q, now);
    query_submit(ps, op);
}

static void pg_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = query_new(ps, S_PRES_EXPIRE, 0, NULL, handle_aors,
                                 (union query_done){.aors = done}, arg);
    if (!op)
        return;
    q_int(op->q, now);
    query_submit(ps, op);
}

/* After a listener was set or cleared: the first one (from OFF) starts connecting, clearing the
 * last one closes the connection (see the file header); otherwise the connection stays as it is
 * (it LISTENs on both channels whichever listeners are set). */
static void listen_apply(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    if (!ls->im_cb && !ls->pres_cb) {
        listen_stop(ps);
    } else if (ls->state == LS_OFF) {
        ls->backoff_ms = PG_BACKOFF_MIN_MS;
        listen_start(ps);
    }
}

/* A listener replaces the previous one of its kind on the same connection. One set anew (not a
 * replacement) hears (NULL) only after a failure that comes after it was set. */
static void pg_im_set_listener(struct store *st, store_im_notify_cb cb, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_listen *ls = &ps->listen;
    if (ps->is_destroyed)
        return;
    ps_enter(ps);
    if (!cb || !ls->im_cb)
        ls->is_im_missed = 0;
    ls->im_cb = cb;
    ls->im_arg = cb ? arg : NULL;
    listen_apply(ps);
    ps_leave(ps);
}

static void pg_pres_set_listener(struct store *st, store_pres_notify_cb cb, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_listen *ls = &ps->listen;
    if (ps->is_destroyed)
        return;
    ps_enter(ps);
    if (!cb || !ls->pres_cb)
        ls->is_pres_missed = 0;
    ls->pres_cb = cb;
    ls->pres_arg = cb ? arg : NULL;
    listen_apply(ps);
    ps_leave(ps);
}

static void pg_destroy(struct store *st)
{
    struct pg_store *ps = as_pg(st);
    ps_enter(ps);
    ps->is_destroyed = 1;
    listen_stop(ps);
    for (int i = 0; i < PG_CONNECTIONS; i++) {
        loop_timer_stop(ps->base.loop, &ps->conns[i].retry_timer);
        conn_close(&ps->conns[i]);
    }
    for (int i = 0; i < PG_CONNECTIONS; i++)
        conn_fail_ops(&ps->conns[i], STORE_EUNAVAIL);
    ps_leave(ps);
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .destroy = pg_destroy,
    .is_available = pg_is_available,
    .pending = pg_pending,
    .location_update = pg_location_update,
    .location_lookup = pg_location_lookup,
    .location_expire = pg_location_expire,
    .location_count = pg_location_count,
    .im_topic = pg_im_topic,
    .im_publish = pg_im_publish,
    .im_read = pg_im_read,
    .im_group_create = pg_im_group_create,
    .im_group_delete = pg_im_group_delete,
    .im_members = pg_im_members,
    .im_groups_of = pg_im_groups_of,
    .im_position_get = pg_im_position_get,
    .im_position_advance = pg_im_position_advance,
    .im_expire = pg_im_expire,
    .im_set_listener = pg_im_set_listener,
    .pres_publish = pg_pres_publish,
    .pres_get = pg_pres_get,
    .pres_expire = pg_pres_expire,
    .pres_set_listener = pg_pres_set_listener,
};

struct store *store_pg_create(struct loop *loop, const char *conninfo)
{
    /* Refuse a conninfo libpq cannot parse: retrying it forever would help nobody. libpq's
     * message may quote a piece of the string (a password, say), so it is not logged. */
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
    if (!opts) {
        LOG_ERROR("postgres conninfo is not valid (syntax error or unknown option)");
        PQfreemem(err);
        return NULL;
    }
    PQconninfoFree(opts);

    struct pg_store *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->conninfo = strdup(conninfo ? conninfo : "");
    if (!ps->conninfo) {
        free(ps);
        return NULL;
    }
    ps->base.ops = &pg_ops;
    ps->base.loop = loop;
    ps->count_aors = ps->count_bindings = -1;
    ps->listen.fd = -1;
    ps->listen.state = LS_OFF;
    ps->listen.backoff_ms = PG_BACKOFF_MIN_MS;
    for (int i = 0; i < PG_CONNECTIONS; i++) {
        struct pg_conn *c = &ps->conns[i];
        c->ps = ps;
        c->idx = i;
        c->fd = -1;
        c->state = PG_DOWN;
        c->last_sent = -1;
        c->backoff_ms = PG_BACKOFF_MIN_MS;
    }
    ps_enter(ps);
    for (int i = 0; i < PG_CONNECTIONS; i++)
        conn_start(&ps->conns[i]);
    ps_leave(ps);
    return &ps->base;
}

/* ---- schema migrations (sipd --init-db; synchronous) ----------------------------------------- */

struct migration {
    long version;
    char *name;
};

static int cmp_migration(const void *pa, const void *pb)
{
    const struct migration *a = pa, *b = pb;
    return (a->version > b->version) - (a->version < b->version);
}

/* "NNN_words.sql" -> NNN, or -1. */
static long migration_version(const char *name)
{
    size_t nd = strspn(name, "0123456789");
    size_t len = strlen(name);
    if (nd == 0 || nd > 9 || name[nd] != '_' || len < nd + 5 || strcmp(name + len - 4, ".sql"))
        return -1;
    return strtol(name, NULL, 10);
}

static void free_migrations(struct migration *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static int list_migrations(const char *dir, struct migration **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "sipd: cannot open schema directory %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct migration *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        long version = migration_version(e->d_name);
        if (version < 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct migration *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = -1;
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n].version = version;
        v[n].name = strdup(e->d_name);
        if (!v[n].name) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        fprintf(stderr, "sipd: out of memory listing %s\n", dir);
        free_migrations(v, n);
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "sipd: no migrations (NNN_*.sql) in schema directory %s\n", dir);
        free(v);
        return -1;
    }
    qsort(v, n, sizeof *v, cmp_migration);
    for (size_t i = 1; i < n; i++) {
        if (v[i].version == v[i - 1].version) {
            fprintf(stderr, "sipd: schema directory %s: %s and %s have the same number\n", dir,
                    v[i - 1].name, v[i].name);
            free_migrations(v, n);
            return -1;
        }
    }
    *out = v;
    *nout = n;
    return 0;
}

/* The whole file as a string, or NULL after printing why. */
static char *read_migration(const char *dir, const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "sipd: path too long: %s/%s\n", dir, name);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sipd: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    char *text = NULL;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        (uintmax_t)sb.st_size > PG_MIGRATION_MAX_BYTES) {
        fprintf(stderr, "sipd: %s: not a regular file of at most %u bytes\n", path,
                PG_MIGRATION_MAX_BYTES);
    } else if (!(text = malloc((size_t)sb.st_size + 1))) {
        fprintf(stderr, "sipd: out of memory reading %s\n", path);
    } else if (fread(text, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        fprintf(stderr, "sipd: cannot read %s\n", path);
        free(text);
        text = NULL;
    } else {
        text[sb.st_size] = '\0';
        if (strlen(text) != (size_t)sb.st_size) {
            fprintf(stderr, "sipd: %s contains a NUL byte\n", path);
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

/* Run one command; 0 if it succeeded, else print "what: error" and return -1. */
static int init_exec(PGconn *c, const char *sql, int nparams, const char *const *values,
                     const char *what, PGresult **out)
{
    PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, values, NULL, NULL, 0)
                          : PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
        fprintf(stderr, "sipd: %s failed: %s", what, r ? PQresultErrorMessage(r)
                                                        : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int is_applied(const PGresult *applied, long version)
{
    int n = PQntuples(applied);
    for (int i = 0; i < n; i++) {
        int64_t v;
        if (get_i64(applied, i, 0, 0, INT32_MAX, &v) == 0 && v == version)
            return 1;
    }
    return 0;
}

static int apply_migration(PGconn *c, const char *dir, const struct migration *m)
{
    char *text = read_migration(dir, m->name);
    if (!text)
        return -1;
    char version[24], what[512];
    snprintf(version, sizeof version, "%ld", m->version);
    snprintf(what, sizeof what, "migration %s/%s", dir, m->name);
    const char *values[2] = {version, m->name};
    int rc = init_exec(c, "BEGIN", 0, NULL, "BEGIN", NULL);
    if (rc == 0)
        rc = init_exec(c, text, 0, NULL, what, NULL);
    if (rc == 0)
        rc = init_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)",
                       2, values, "recording the migration", NULL);
    if (rc == 0)
        rc = init_exec(c, "COMMIT", 0, NULL, what, NULL);
    else
        PQclear(PQexec(c, "ROLLBACK"));
    free(text);
    if (rc == 0)
        LOG_INFO("schema migration applied version=%ld file=%s", m->version, m->name);
    return rc;
}

int store_init_db(const char *conninfo, const char *schema_dir)
{
    struct migration *v;
    size_t n;
    if (list_migrations(schema_dir, &v, &n))
        return -1;
    static const char *const keys[] = {"fallback_application_name", "client_encoding", "dbname",
                                       NULL};
    const char *vals[] = {"sipd-init-db", "UTF8", conninfo ? conninfo : "", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "sipd: cannot connect to PostgreSQL: %s",
                c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        free_migrations(v, n);
        return -1;
    }
    PQsetNoticeProcessor(c, notice_quiet, NULL);

    /* One migrator at a time (several nodes may be installed at once). */
    const char *key[1] = {PG_INIT_LOCK_KEY};
    PGresult *applied = NULL;
    int rc = init_exec(c, "SELECT pg_advisory_lock($1::bigint)", 1, key, "taking the schema lock",
                       NULL);
    if (rc == 0)
        rc = init_exec(c,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version integer PRIMARY KEY,"
                       " name text,"
                       " applied_at timestamptz DEFAULT now())",
                       0, NULL, "creating schema_migrations", NULL);
    if (rc == 0)
        rc = init_exec(c, "SELECT version FROM schema_migrations", 0, NULL,
                       "reading schema_migrations", &applied);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!is_applied(applied, v[i].version))
            rc = apply_migration(c, schema_dir, &v[i]);
    }
    PQclear(applied);
    PQfinish(c); /* releases the advisory lock */
    free_migrations(v, n);
    return rc;
}
