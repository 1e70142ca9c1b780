/* statements.c - every statement the PostgreSQL store prepares on each connection, and the
 * session setup that runs before them. SQL text is parameterised throughout: values only ever
 * travel as parameters, never inside the text. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "pg_impl.h"

/* ---- statements ------------------------------------------------------------------------------ */

/* The columns of a binding, in the order parse_binding() (location.c) reads them. */
#define LOC_COLS                                                                                   \
    "aor, contact, call_id, cseq, floor(extract(epoch FROM expires_at))::bigint, q, path, "      \
    "instance, reg_id, user_agent, received, conn_id, node, "                                    \
    "floor(extract(epoch FROM updated_at))::bigint"


/* The rows of one AOR (aor: an SQL expression), found through the primary key alone. The
 * statements are planned once per connection (force_generic_plan, see pg_setup_sql): written as
 * "aor = x AND expires_at > t", a plan made while the table held a few thousand rows (before any
 * ANALYZE) ANDs the primary key with a scan of every live row's expires_at, and keeps doing so
 * per AOR as the table grows (a 64-AOR SELECT cost ~50 ms of CPU at 20000 rows). OFFSET 0 keeps
 * the expiry filter out of the index choice. */
#define LOC_OF(aor) "(SELECT * FROM locations WHERE aor = " aor " OFFSET 0) AS locations"

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

/* A presence publication as callers see it (the columns after the status; see
 * parse_publication in im_presence.c). */
#define PRES_COLS                                                                                  \
    "etag, floor(extract(epoch FROM expires_at))::bigint, content_type, body,"                    \
    " floor(extract(epoch FROM updated_at))::bigint"

/* A row of `nodes` as struct node_row (see parse_node in nodes.c): the smallints and integers as
 * bigint, roles joined with ",", the last heartbeat in unix ms (0 = never), rtt in microseconds
 * (-1 = unknown). */
#define NODE_COLS                                                                                  \
    "nid::bigint, name, address, array_to_string(roles, ','), status::bigint, waiting::bigint,"   \
    " draining, work_num::bigint, max_num::bigint,"                                                \
    " coalesce(floor(extract(epoch FROM last_heartbeat) * 1000)::bigint, 0),"                     \
    " coalesce(round(rtt_ms::numeric * 1000)::bigint, -1)"

const struct pg_stmt pg_stmts[S_NUM] = {
    /* READ COMMITTED whatever the server's default: the SELECT after the lock must see what
     * the previous holder of the lock committed (a snapshot taken before it would not). */
    [S_BEGIN] = {"sipd_begin", "BEGIN ISOLATION LEVEL READ COMMITTED", 0, 0},
    [S_COMMIT] = {"sipd_commit", "COMMIT", 0, 0},
    [S_ROLLBACK] = {"sipd_rollback", "ROLLBACK", 0, 0},
    /* In a location update transaction, right after BEGIN, unless
     * database.registrations_sync_commit is set: its COMMIT does not wait for the WAL to reach
     * the disk. Registrations are soft state that every device refreshes; a database crash (not
     * a sipd one, not a clean stop) may lose the last ~0.6 s of them (3 x wal_writer_delay),
     * never more and never a half-written one. Waiting for the flush was nine tenths of the
     * database's CPU per REGISTER (bench/README.md). IM, presence and everything else still
     * commit synchronously. */
    [S_ASYNC] = {"sipd_async_commit", "SELECT set_config('synchronous_commit', 'off', true)", 0, 0},
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
                  " CROSS JOIN LATERAL (SELECT " LOC_COLS " FROM " LOC_OF("a.aor")
                  " WHERE expires_at > to_timestamp(a.t) " LOC_ORDER
                  " LIMIT 1000) AS l",
                  2, 0},
    /* $1 the aors replaced, $2.. one array per column (aor first), one element per binding,
     * $16 the `now` of each of $1, $17 and $18 what the caller expects to replace for each of
     * $1: the number of its rows, all written by transaction $18 (its xmin), or -1 for no check
     * (the caller read the rows under the lock: not even counted). When a count or xmin differs
     * nothing is written.
     * The DELETE must run before the INSERT (else the unique index sees the old row of a contact
     * that is registered again): the INSERT's WHERE reads it first. An AOR that had bindings and
     * is left without is remembered in location_gone (a known user: 480, not 404; see S_GET,
     * S_EXPIRE). One row: the xmin of the inserted rows (NULL when none was), and whether the
     * checks passed. The caller knows what it wrote; a write it could not store fails. */
    [S_REPLACE] = {"sipd_loc_replace",
                   "WITH ok AS (SELECT coalesce(bool_and(e.n < 0 OR (f.n = e.n AND f.other = 0)),"
                   " true) AS ok FROM unnest($1::text[], $17::bigint[], $18::text[]) AS e(aor, n, x)"
                   " CROSS JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE"
                   " xmin::text <> e.x) AS other FROM locations WHERE e.n >= 0 AND aor = e.aor) AS f),"
                   " d AS (DELETE FROM locations WHERE aor = ANY($1::text[])"
                   " AND (SELECT ok FROM ok) RETURNING aor),"
                   " g AS (INSERT INTO location_gone (aor, gone_at)"
                   " SELECT a.aor, to_timestamp(a.t) FROM unnest($1::text[], $16::bigint[])"
                   " AS a(aor, t) WHERE a.aor <> ALL ($2::text[])"
                   " AND a.aor IN (SELECT d.aor FROM d)"
                   " ON CONFLICT (aor) DO UPDATE SET gone_at = excluded.gone_at),"
                   " i AS (INSERT INTO locations (aor, contact, call_id, cseq, expires_at, q, path,"
                   " instance, reg_id, user_agent, received, conn_id, node, updated_at)"
                   " SELECT u.aor, u.contact, u.call_id, u.cseq, to_timestamp(u.expires_at),"
                   " u.q, u.path, u.instance, u.reg_id, u.user_agent, u.received, u.conn_id,"
                   " u.node, to_timestamp(u.updated_at)"
                   " FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],"
                   " $7::smallint[], $8::text[], $9::text[], $10::integer[], $11::text[],"
                   " $12::text[], $13::bigint[], $14::text[], $15::bigint[])"
                   " AS u(aor, contact, call_id, cseq, expires_at, q, path, instance, reg_id,"
                   " user_agent, received, conn_id, node, updated_at)"
                   " WHERE (SELECT count(*) FROM d) >= 0 AND (SELECT ok FROM ok)"
                   " RETURNING xmin::text AS x)"
                   " SELECT (SELECT x FROM i LIMIT 1), ok.ok FROM ok",
                   18, 0},
    /* $1 aor, $2 now: a lookup, LOC_COLS and a last column `known`. With live bindings, their
     * rows (known NULL); without, one row of NULLs whose `known` says whether the AOR is known
     * all the same: it has rows (expired, not swept yet) or is remembered in location_gone. The
     * CASE evaluates those two probes only then, so a lookup that finds bindings costs what it
     * did before. */
    [S_GET] = {"sipd_loc_get",
               "SELECT l.*, CASE WHEN l.aor IS NULL THEN"
               " EXISTS (SELECT 1 FROM locations x WHERE x.aor = $1::text)"
               " OR EXISTS (SELECT 1 FROM location_gone g WHERE g.aor = $1::text) END"
               " FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT " LOC_COLS " FROM "
               LOC_OF("$1::text") " WHERE expires_at > to_timestamp($2::bigint) " LOC_ORDER
               " LIMIT 1000) AS l ON true",
               2, 0},
    /* $1 now, $2 how long an AOR without bindings stays known (STORE_KNOWN_TTL_S): delete the
     * expired bindings, remember each AOR that has none left, and forget the AORs remembered
     * longer than $2 (not those remembered again right now: one statement may not change a row
     * twice). */
    [S_EXPIRE] = {"sipd_loc_expire",
                  "WITH d AS (DELETE FROM locations WHERE expires_at <= to_timestamp($1::bigint)"
                  " RETURNING aor),"
                  " g AS (INSERT INTO location_gone (aor, gone_at)"
                  " SELECT DISTINCT d.aor, to_timestamp($1::bigint) FROM d WHERE NOT EXISTS"
                  " (SELECT 1 FROM locations l WHERE l.aor = d.aor"
                  " AND l.expires_at > to_timestamp($1::bigint))"
                  " ON CONFLICT (aor) DO UPDATE SET gone_at = excluded.gone_at)"
                  " DELETE FROM location_gone"
                  " WHERE gone_at <= to_timestamp($1::bigint - $2::bigint)"
                  " AND aor NOT IN (SELECT aor FROM d)",
                  2, 0},
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
    /* $1 at most: the topics that ever stored a message */
    [S_IM_ACTIVE_TOPICS] = {"sipd_im_active_topics",
                            "SELECT t.uri FROM topics t WHERE t.last_seq > 0 LIMIT $1::bigint",
                            1, 0},
    /* $1 at most: the members of every group topic */
    [S_IM_GROUP_MEMBERS] = {"sipd_im_group_members",
                            "SELECT DISTINCT tm.member FROM topic_members tm LIMIT $1::bigint",
                            1, 0},
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
    /* $1 after (NULL: from the start), $2 at most: group topics, user topics that stored a
     * message or have an unexpired `im` subscription row, by URI in byte order (as the memory
     * store sorts them) -> uri, is_group, last_seq, members */
    [S_IM_TOPICS_LIST] = {"sipd_im_topics_list",
                          "SELECT u.uri, coalesce(t.kind = 'group', false),"
                          " coalesce(t.last_seq, 0)::bigint, (SELECT count(*) FROM topic_members tm"
                          " WHERE tm.topic = u.uri)::bigint"
                          " FROM (SELECT o.uri FROM topics o WHERE (o.kind = 'group' OR o.last_seq > 0)"
                          " AND ($1::text IS NULL OR o.uri COLLATE \"C\" > $1::text COLLATE \"C\")"
                          " UNION SELECT s.topic FROM subscriptions s WHERE s.event = 'im'"
                          " AND s.expires_at > now()"
                          " AND ($1::text IS NULL OR s.topic COLLATE \"C\" > $1::text COLLATE \"C\"))"
                          " AS u(uri) LEFT JOIN topics t ON t.uri = u.uri"
                          " ORDER BY u.uri COLLATE \"C\" LIMIT $2::bigint",
                          2, 0},
    /* $1 topic, $2 aor -> groups found (0: 404), members added */
    [S_IM_MEMBER_ADD] = {"sipd_im_member_add",
                         "WITH g AS (SELECT uri FROM topics WHERE uri = $1::text AND kind = 'group'"
                         " FOR UPDATE), i AS (INSERT INTO topic_members (topic, member)"
                         " SELECT g.uri, $2::text FROM g ON CONFLICT DO NOTHING RETURNING 1)"
                         " SELECT (SELECT count(*) FROM g)::bigint, (SELECT count(*) FROM i)::bigint",
                         2, 1},
    /* $1 topic, $2 aor -> members removed (0: 404), its device positions removed */
    [S_IM_MEMBER_REMOVE] = {"sipd_im_member_remove",
                            "WITH d AS (DELETE FROM topic_members tm USING topics t"
                            " WHERE tm.topic = $1::text AND tm.member = $2::text AND t.uri = tm.topic"
                            " AND t.kind = 'group' RETURNING 1), p AS (DELETE FROM im_positions"
                            " WHERE topic = $1::text AND aor = $2::text AND EXISTS (SELECT 1 FROM d)"
                            " RETURNING 1) SELECT (SELECT count(*) FROM d)::bigint,"
                            " (SELECT count(*) FROM p)::bigint",
                            2, 1},
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
    /* $1 the last AOR of the previous page (NULL: none), $2 now, $3 at most this many: AORs
     * with live bindings in byte order, each with how many */
    [S_LOC_LIST] = {"sipd_loc_list",
                    "SELECT aor, count(*)::bigint FROM locations"
                    " WHERE expires_at > to_timestamp($2::bigint)"
                    " AND ($1::text IS NULL OR aor COLLATE \"C\" > $1::text COLLATE \"C\")"
                    " GROUP BY aor ORDER BY aor COLLATE \"C\" LIMIT $3::integer",
                    3, 0},

    /* The node table (schema/001_init.sql; its trigger NOTIFYs sipd_nodes with the nid when a
     * row is inserted or changes in any column but the load and heartbeat ones).
     * $1 name, $2 address, $3 roles ("a,b"), $4 max_num, $5 waiting: this node's row, status 1,
     * draining as it was (false for a new row). */
    [S_NODE_UPSERT] = {"sipd_node_upsert",
                       "INSERT INTO nodes AS n (name, address, roles, max_num, waiting, status)"
                       " VALUES ($1::text, $2::text, string_to_array($3::text, ','),"
                       " $4::integer, $5::smallint, 1) ON CONFLICT (name) DO UPDATE"
                       " SET address = excluded.address, roles = excluded.roles,"
                       " max_num = excluded.max_num, waiting = excluded.waiting, status = 1,"
                       " stopped_at = NULL"
                       " RETURNING " NODE_COLS,
                       5, 1},
    /* $1 name, $2 status (0/1) -> rows changed (0: no such node) */
    [S_NODE_STATUS] = {"sipd_node_status",
                       "WITH u AS (UPDATE nodes SET status = $2::smallint,"
                       " stopped_at = CASE WHEN $2::smallint = 0 THEN now() END WHERE name = $1::text"
                       " RETURNING 1) SELECT count(*) FROM u",
                       2, 1},
    /* $1 name, $2 draining (0/1) -> rows changed (0: no such node) */
    [S_NODE_DRAINING] = {"sipd_node_draining",
                         "WITH u AS (UPDATE nodes SET draining = $2::integer <> 0"
                         " WHERE name = $1::text RETURNING 1) SELECT count(*) FROM u",
                         2, 1},
    [S_NODES_LOAD] = {"sipd_nodes_load", "SELECT " NODE_COLS " FROM nodes ORDER BY nid", 0, 0},
    /* $1 nids, $2 answered, $3 status, $4 work_num, $5 rtt_ms, $6 at (unix ms), as arrays of
     * one element per beat; $7 history kept per node (schema/004_cluster.sql) */
    [S_NODE_BEATS] = {"sipd_node_beats",
                      "SELECT sipd_node_beats($1::integer[], $2::boolean[], $3::smallint[],"
                      " $4::integer[], $5::real[], $6::bigint[], $7::integer)::bigint",
                      7, 1},
    /* $1 nid: a standby becomes active, unless it is not (or no longer) one -> rows changed */
    [S_NODE_PROMOTE] = {"sipd_node_promote",
                        "WITH u AS (UPDATE nodes SET waiting = 0 WHERE nid = $1::integer"
                        " AND waiting = 1 RETURNING 1) SELECT count(*) FROM u",
                        1, 1},
    /* The control plane's writes (api/h_nodes.c). $1 name, $2 address, $3 roles ("a,b"),
     * $4 max_num, $5 waiting: a new row, status 0 until a heartbeat finds the node up; no row
     * when the name exists */
    [S_NODE_ADD] = {"sipd_node_add",
                    "INSERT INTO nodes (name, address, roles, max_num, waiting, status)"
                    " VALUES ($1::text, $2::text, string_to_array($3::text, ','),"
                    " $4::integer, $5::smallint, 0) ON CONFLICT (name) DO NOTHING"
                    " RETURNING " NODE_COLS,
                    5, 1},
    /* $1 name, $2 max_num (> 0, else kept), $3 waiting, $4 draining (0/1, -1 kept) -> the row */
    [S_NODE_CHANGE] = {"sipd_node_change",
                       "UPDATE nodes SET"
                       " max_num = CASE WHEN $2::integer > 0 THEN $2::integer ELSE max_num END,"
                       " waiting = CASE WHEN $3::integer >= 0 THEN $3::smallint ELSE waiting END,"
                       " draining = CASE WHEN $4::integer >= 0 THEN $4::integer <> 0"
                       " ELSE draining END WHERE name = $1::text RETURNING " NODE_COLS,
                       4, 1},
    /* $1 name: removed unless up and not drained -> rows removed, rows of that name (the
     * statement's snapshot: before the delete) */
    [S_NODE_REMOVE] = {"sipd_node_remove",
                       "WITH d AS (DELETE FROM nodes WHERE name = $1::text"
                       " AND (status = 0 OR (draining AND work_num = 0)) RETURNING 1)"
                       " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM nodes"
                       " WHERE name = $1::text)",
                       1, 1},
    /* $1 name, $2 at most this many: the node's nid (0: no such node) and its beats newest
     * first (at in unix ms, ok, rtt in microseconds or -1, work_num or -1); one row with a NULL
     * `at` when it has none */
    [S_NODE_HEARTBEATS] = {"sipd_node_heartbeats",
                           "SELECT coalesce(n.nid, 0)::bigint,"
                           " floor(extract(epoch FROM h.at) * 1000)::bigint, h.ok,"
                           " coalesce(round(h.rtt_ms::numeric * 1000)::bigint, -1),"
                           " coalesce(h.work_num, -1)::bigint"
                           " FROM (SELECT 1) AS one LEFT JOIN nodes n ON n.name = $1::text"
                           " LEFT JOIN LATERAL (SELECT at, ok, rtt_ms, work_num FROM heartbeats"
                           " WHERE nid = n.nid ORDER BY at DESC, id DESC LIMIT $2::integer) AS h"
                           " ON true",
                           2, 0},

    /* `im` subscription rows (schema/005_im_subscriptions.sql; subs.c). The route set travels
     * as the dialog keeps it, "<a>,<b>", and is stored one URI per element. */
    /* $1 topic, $2 call_id, $3 from tag (the subscriber's), $4 to tag (ours), $5 event id,
     * $6 subscriber, $7 instance, $8 device contact, $9 remote target, $10 remote uri,
     * $11 local uri, $12 route set, $13 local cseq, $14 remote cseq, $15 expires_at (unix s),
     * $16 acked seq, $17 node, $18 is_group, $19 is_datagram */
    [S_SUB_PUT] = {"sipd_sub_put",
                   "INSERT INTO subscriptions AS s (call_id, from_tag, to_tag, event_id, topic,"
                   " subscriber, instance, device_contact, contact, remote_uri, local_uri,"
                   " route_set, local_cseq, remote_cseq, expires_at, last_acked_seq, node,"
                   " is_group, is_datagram, event)"
                   " VALUES ($2::text, $3::text, $4::text, $5::text, $1::text, $6::text, $7::text,"
                   " $8::text, $9::text, $10::text, $11::text, CASE WHEN $12::text IS NULL"
                   " THEN '{}'::text[] ELSE regexp_split_to_array($12::text, '(?<=>),(?=<)') END,"
                   " $13::bigint, $14::bigint, to_timestamp($15::bigint), greatest($16::bigint, 0),"
                   " $17::text, $18::integer <> 0, $19::integer <> 0, 'im')"
                   " ON CONFLICT (call_id, from_tag, to_tag, event_id) DO UPDATE SET"
                   " topic = excluded.topic, subscriber = excluded.subscriber,"
                   " instance = excluded.instance, device_contact = excluded.device_contact,"
                   " contact = excluded.contact, remote_uri = excluded.remote_uri,"
                   " local_uri = excluded.local_uri, route_set = excluded.route_set,"
                   " local_cseq = excluded.local_cseq, remote_cseq = excluded.remote_cseq,"
                   " expires_at = excluded.expires_at, last_acked_seq = excluded.last_acked_seq,"
                   " node = excluded.node, is_group = excluded.is_group,"
                   " is_datagram = excluded.is_datagram, updated_at = now()",
                   19, 1},
    /* $1 topic, $2 call_id, $3 from tag, $4 to tag, $5 event id */
    [S_SUB_DELETE] = {"sipd_sub_delete",
                      "DELETE FROM subscriptions WHERE call_id = $2::text AND from_tag = $3::text"
                      " AND to_tag = $4::text AND event_id = $5::text AND topic = $1::text",
                      5, 1},
    /* $1 node: its rows let go (owner NULL); when there were any, sipd_nodes hears of the
     * node's nid (as if its row had changed) so that the brokers look for orphans at once */
    [S_SUB_RELEASE] = {"sipd_sub_release",
                       "WITH u AS (UPDATE subscriptions SET node = NULL, updated_at = now()"
                       " WHERE node = $1::text AND event = 'im' RETURNING 1)"
                       " SELECT pg_notify('sipd_nodes', n.nid::text) FROM nodes n,"
                       " (SELECT count(*) AS c FROM u) AS k WHERE n.name = $1::text AND k.c > 0",
                       1, 1},
    /* $1 the brokers that are up, $2 at most -> topics whose rows belong to none of them; such
     * rows that expired (nobody took them in time) are deleted: no owner would */
    [S_SUB_ORPHANS] = {"sipd_sub_orphans",
                       "WITH gone AS (DELETE FROM subscriptions WHERE event = 'im'"
                       " AND (node IS NULL OR node <> ALL ($1::text[])) AND expires_at <= now())"
                       " SELECT DISTINCT topic FROM subscriptions WHERE event = 'im'"
                       " AND (node IS NULL OR node <> ALL ($1::text[])) AND expires_at > now()"
                       " LIMIT $2::bigint",
                       2, 1},
    /* $1 this node, $2 topics, $3 the brokers that are up -> the rows taken, with the device's
     * position (-1: none); no topics: this node's own rows */
    [S_SUB_CLAIM] = {"sipd_sub_claim",
                     "UPDATE subscriptions AS s SET node = $1::text, updated_at = now()"
                     " WHERE s.event = 'im' AND s.expires_at > now() AND CASE"
                     " WHEN cardinality($2::text[]) = 0 THEN s.node = $1::text"
                     " ELSE s.topic = ANY ($2::text[])"
                     " AND (s.node IS NULL OR s.node <> ALL ($3::text[])) END"
                     " RETURNING s.topic, s.call_id, s.from_tag, s.to_tag, s.event_id, s.subscriber,"
                     " s.instance, coalesce(s.device_contact, s.contact), s.contact, s.remote_uri,"
                     " s.local_uri, CASE WHEN cardinality(s.route_set) = 0 THEN NULL"
                     " ELSE array_to_string(s.route_set, ',') END, s.local_cseq, s.remote_cseq,"
                     " floor(extract(epoch FROM s.expires_at))::bigint, s.last_acked_seq,"
                     " s.is_group, s.is_datagram, coalesce((SELECT p.pos FROM im_positions p"
                     " WHERE p.topic = s.topic AND p.aor = s.subscriber AND p.device ="
                     " coalesce(nullif(s.instance, ''), s.device_contact, s.contact)), -1)::bigint",
                     3, 1},
    /* $1 topic (NULL: any), $2 subscriber (NULL: any), $3 at most -> the unexpired `im` rows,
     * the columns of S_SUB_CLAIM's with the acknowledged seq raised to the device's position
     * (advanced on every acknowledged NOTIFY), -1 for the position, then the owner */
    [S_SUB_LIST] = {"sipd_sub_list",
                    "SELECT s.topic, s.call_id, s.from_tag, s.to_tag, s.event_id, s.subscriber,"
                    " s.instance, coalesce(s.device_contact, s.contact), s.contact, s.remote_uri,"
                    " s.local_uri, CASE WHEN cardinality(s.route_set) = 0 THEN NULL"
                    " ELSE array_to_string(s.route_set, ',') END, s.local_cseq, s.remote_cseq,"
                    " floor(extract(epoch FROM s.expires_at))::bigint,"
                    " greatest(s.last_acked_seq, coalesce((SELECT p.pos FROM im_positions p"
                    " WHERE p.topic = s.topic AND p.aor = s.subscriber AND p.device ="
                    " coalesce(nullif(s.instance, ''), s.device_contact, s.contact)), 0))::bigint,"
                    " s.is_group, s.is_datagram, (-1)::bigint, s.node"
                    " FROM subscriptions s WHERE s.event = 'im' AND s.expires_at > now()"
                    " AND ($1::text IS NULL OR s.topic = $1::text)"
                    " AND ($2::text IS NULL OR s.subscriber = $2::text)"
                    " ORDER BY s.topic, s.subscriber, s.call_id LIMIT $3::bigint",
                    3, 0},

    /* digest users and the nonce secret (schema/008_auth.sql; users.c) */
    /* $1 aor -> the user, or no row */
    [S_USER_GET] = {"sipd_user_get",
                    "SELECT aor, realm, ha1_md5, ha1_sha256 FROM users WHERE aor = $1::text",
                    1, 0},
    /* $1 aor, $2 realm, $3 ha1_md5, $4 ha1_sha256 -> rows inserted (0: the AOR exists) */
    [S_USER_CREATE] = {"sipd_user_create",
                       "WITH i AS (INSERT INTO users (aor, realm, ha1_md5, ha1_sha256)"
                       " VALUES ($1::text, $2::text, $3::text, $4::text)"
                       " ON CONFLICT (aor) DO NOTHING RETURNING 1) SELECT count(*) FROM i",
                       4, 1},
    /* $1 aor, $2 realm, $3 ha1_md5, $4 ha1_sha256 -> rows changed (0: no such user) */
    [S_USER_UPDATE] = {"sipd_user_update",
                       "WITH u AS (UPDATE users SET realm = $2::text, ha1_md5 = $3::text,"
                       " ha1_sha256 = $4::text, updated_at = now() WHERE aor = $1::text"
                       " RETURNING 1) SELECT count(*) FROM u",
                       4, 1},
    /* $1 aor -> rows removed */
    [S_USER_DELETE] = {"sipd_user_delete",
                       "WITH d AS (DELETE FROM users WHERE aor = $1::text RETURNING 1)"
                       " SELECT count(*) FROM d",
                       1, 1},
    /* $1 after (NULL: from the first), $2 at most -> users by aor */
    [S_USERS_LIST] = {"sipd_users_list",
                      "SELECT aor, realm, ha1_md5, ha1_sha256 FROM users"
                      " WHERE $1::text IS NULL OR aor > $1::text ORDER BY aor LIMIT $2::bigint",
                      2, 0},
    /* $1 a proposed secret -> the secret: the proposal when this call created the row, else
     * the row's (no row when another node's insert committed during this statement: ask again) */
    [S_AUTH_SECRET] = {"sipd_auth_secret",
                       "WITH i AS (INSERT INTO auth_secret (id, secret) VALUES (1, $1::bytea)"
                       " ON CONFLICT (id) DO NOTHING RETURNING secret)"
                       " SELECT secret FROM i UNION ALL"
                       " SELECT secret FROM auth_secret WHERE id = 1 LIMIT 1",
                       1, 1},

    /* presence authorization rules (schema/009_presence_rules.sql; rules.c) */
    /* $1 aor -> (1 allow | 2 block, entry) in list order; no row: no rules */
    [S_RULES_GET] = {"sipd_rules_get",
                     "SELECT x.k, x.e FROM presence_rules r, LATERAL ("
                     "SELECT 1 AS k, a.e, a.o FROM unnest(r.allow) WITH ORDINALITY AS a(e, o)"
                     " UNION ALL"
                     " SELECT 2, b.e, b.o FROM unnest(r.block) WITH ORDINALITY AS b(e, o)) x"
                     " WHERE r.aor = $1::text ORDER BY x.k, x.o",
                     1, 0},
    /* $1 aor, $2 allow, $3 block: replace both lists (both empty: the row goes) */
    [S_RULES_PUT] = {"sipd_rules_put",
                     "WITH d AS (DELETE FROM presence_rules WHERE aor = $1::text"
                     " AND cardinality($2::text[]) + cardinality($3::text[]) = 0)"
                     " INSERT INTO presence_rules AS r (aor, allow, block)"
                     " SELECT $1::text, $2::text[], $3::text[]"
                     " WHERE cardinality($2::text[]) + cardinality($3::text[]) > 0"
                     " ON CONFLICT (aor) DO UPDATE SET allow = excluded.allow,"
                     " block = excluded.block, updated_at = now()",
                     3, 1},
};

/* Run once per connection, before anything else. Every statement above finds its rows through
 * an index, and its plan is made once per connection: a plan made while the table was small
 * (a sequential scan, say) must not stay in use as it grows, and planning each execution anew
 * (a "custom plan", which PostgreSQL picks for statements with array parameters) costs more
 * than the statement. (plan_cache_mode is PostgreSQL 12 and later.) The IM and presence
 * statements run in implicit transactions (OP_QUERY): READ COMMITTED whatever the server's
 * default, like the updates' BEGIN, so that a publish waiting for a topic row goes on with the
 * committed row instead of failing (and being retried) as under SERIALIZABLE. */
const char pg_setup_sql[] =
    "SELECT set_config('enable_seqscan', 'off', false),"
    " set_config('default_transaction_isolation', 'read committed', false),"
    " set_config('plan_cache_mode', 'force_generic_plan', false)";
const char pg_setup_sql_pre12[] =
    "SELECT set_config('enable_seqscan', 'off', false),"
    " set_config('default_transaction_isolation', 'read committed', false)";

