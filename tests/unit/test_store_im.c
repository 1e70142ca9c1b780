/* test_store_im.c - the IM broker's and the presence package's store operations (store.h), against
 * both backends.
 *
 * The same cases run in suite "store_im_memory" and, when PGHOST is set (pg_virtualenv), in suite
 * "store_im_postgres", which applies schema/ with store_init_db() and empties the IM and presence
 * tables before every test. A few cases only make sense on postgres: two stores (two processes'
 * worth of connections) publishing into one topic at once, the NOTIFY of a publish and the
 * listeners that hear it (store_im_set_listener, and store_pres_set_listener for presence
 * changes), the migration, and an unreachable or lost server.
 *
 * Every test drives a real event loop until its callbacks have run (with a 5 s safety timer: a
 * hang fails the test, never the run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "base/log.h"
#include "base/loop.h"
#include "store/store.h"
#include "store_fixture.h"
#include "suites.h"

#define NOW INT64_C(1700000000)
#define ALICE "sip:alice@example.com"
#define BOB "sip:bob@example.com"
#define CAROL "sip:carol@example.com"
#define GROUP "sip:team@groups.example.com"

/* ---- what a callback got (copied: results are valid only during the callback) -------------- */

struct msg {
    char *topic, *sender, *sender_device, *recipient, *content_type, *body;
    size_t body_len;
    int64_t seq, created_at;
    int is_copy;
};

struct pub {
    char *aor, *etag, *content_type, *body;
    size_t body_len;
    int64_t expires_at, updated_at;
};

struct res {
    int ndone;
    int status;
    int64_t seq, copy_seq, pos, first_seq, last_seq;
    int duplicate;
    int has_info;
    struct im_topic_info info;
    struct msg *msgs;
    size_t nmsgs;
    char **strs;
    size_t nstrs;
    struct pub *pubs;
    size_t npubs;
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static char *dup_bytes(const char *p, size_t n)
{
    char *v = malloc(n + 1);
    if (v) {
        if (n)
            memcpy(v, p, n);
        v[n] = '\0';
    }
    return v;
}

static void res_free(struct res *r)
{
    for (size_t i = 0; i < r->nmsgs; i++) {
        struct msg *m = &r->msgs[i];
        free(m->topic);
        free(m->sender);
        free(m->sender_device);
        free(m->recipient);
        free(m->content_type);
        free(m->body);
    }
    free(r->msgs);
    for (size_t i = 0; i < r->nstrs; i++)
        free(r->strs[i]);
    free(r->strs);
    for (size_t i = 0; i < r->npubs; i++) {
        free(r->pubs[i].aor);
        free(r->pubs[i].etag);
        free(r->pubs[i].content_type);
        free(r->pubs[i].body);
    }
    free(r->pubs);
    memset(r, 0, sizeof *r);
}

static void got(struct res *r, int status)
{
    r->ndone++;
    r->status = status;
    one_done();
}

static void on_status(void *arg, int status) { got(arg, status); }

static void on_topic(void *arg, int status, const struct im_topic_info *info)
{
    struct res *r = arg;
    if (info) {
        r->info = *info;
        r->has_info = 1;
    }
    got(r, status);
}

static void on_publish(void *arg, int status, int64_t seq, int64_t copy_seq, int duplicate)
{
    struct res *r = arg;
    r->seq = seq;
    r->copy_seq = copy_seq;
    r->duplicate = duplicate;
    got(r, status);
}

static void on_messages(void *arg, int status, const struct im_message *v, size_t n,
                        int64_t first_seq, int64_t last_seq)
{
    struct res *r = arg;
    res_free(r);
    r->first_seq = first_seq;
    r->last_seq = last_seq;
    r->msgs = calloc(n + 1, sizeof *r->msgs);
    for (size_t i = 0; r->msgs && i < n; i++) {
        struct msg *m = &r->msgs[i];
        m->topic = dup_or_null(v[i].topic);
        m->seq = v[i].seq;
        m->sender = dup_or_null(v[i].sender);
        m->sender_device = dup_or_null(v[i].sender_device);
        m->recipient = dup_or_null(v[i].recipient);
        m->is_copy = v[i].is_copy;
        m->content_type = dup_or_null(v[i].content_type);
        m->body = dup_bytes(v[i].body, v[i].body_len);
        m->body_len = v[i].body_len;
        /* the store promises a NUL after the body */
        CU_ASSERT(v[i].body && v[i].body[v[i].body_len] == '\0');
        m->created_at = v[i].created_at;
        r->nmsgs++;
    }
    got(r, status);
}

static void on_strings(void *arg, int status, const char *const *v, size_t n)
{
    struct res *r = arg;
    res_free(r);
    r->strs = calloc(n + 1, sizeof *r->strs);
    for (size_t i = 0; r->strs && i < n; i++)
        r->strs[r->nstrs++] = strdup(v[i]);
    got(r, status);
}

static void on_position(void *arg, int status, int64_t pos)
{
    struct res *r = arg;
    r->pos = pos;
    got(r, status);
}

static void on_pres(void *arg, int status, const struct pres_publication *v, size_t n)
{
    struct res *r = arg;
    res_free(r);
    r->pubs = calloc(n + 1, sizeof *r->pubs);
    for (size_t i = 0; r->pubs && i < n; i++) {
        struct pub *p = &r->pubs[i];
        p->aor = dup_or_null(v[i].aor);
        p->etag = dup_or_null(v[i].etag);
        p->content_type = dup_or_null(v[i].content_type);
        p->body = dup_bytes(v[i].body, v[i].body_len);
        p->body_len = v[i].body_len;
        p->expires_at = v[i].expires_at;
        p->updated_at = v[i].updated_at;
        r->npubs++;
    }
    got(r, status);
}

/* Wait for one callback into r; its status, or 999 on a hang. */
static int finish(struct res *r)
{
    if (wait_all())
        return 999;
    CU_ASSERT_EQUAL(r->ndone, 1);
    return r->status;
}

/* ---- one operation each, run to completion --------------------------------------------------- */

static const struct im_retention keep_all = {0, 0};

static struct im_publish mkpub(const char *topic, const char *copy_topic, const char *call_id,
                               uint32_t cseq, const char *body, int64_t now)
{
    struct im_publish p = {0};
    p.topic = topic;
    p.sender = copy_topic ? copy_topic : ALICE;
    p.sender_device = "urn:uuid:alice-phone";
    p.copy_topic = copy_topic;
    p.call_id = call_id;
    p.from_tag = "tag-1";
    p.cseq = cseq;
    p.content_type = "text/plain";
    p.body = body;
    p.body_len = strlen(body);
    p.now = now;
    return p;
}

static int do_publish(struct store *st, const struct im_publish *p, struct res *r)
{
    res_free(r); /* what an earlier call left in r */
    outstanding++;
    store_im_publish(st, p, on_publish, r);
    return finish(r);
}

/* Publish body into topic (no copy, a fresh Call-ID each time); returns the seq, or -1. */
static int64_t publish_simple(const char *topic, const char *body, int64_t now,
                              const struct im_retention *ret)
{
    static unsigned n;
    char call_id[64];
    snprintf(call_id, sizeof call_id, "simple-%u@test", ++n);
    struct im_publish p = mkpub(topic, NULL, call_id, 1, body, now);
    if (ret)
        p.ret = *ret;
    struct res r = {0};
    int status = do_publish(fx.st, &p, &r);
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT_EQUAL(r.duplicate, 0);
    return status == 0 ? r.seq : -1;
}

static int do_read(const char *topic, int64_t after, size_t max, int64_t now,
                   const struct im_retention *ret, struct res *r)
{
    res_free(r); /* what an earlier call left in r */
    outstanding++;
    store_im_read(fx.st, topic, after, max, now, ret, on_messages, r);
    return finish(r);
}

static int do_topic(const char *topic, const char *identity, int64_t now,
                    const struct im_retention *ret, struct res *r)
{
    res_free(r); /* what an earlier call left in r */
    outstanding++;
    store_im_topic(fx.st, topic, identity, now, ret, on_topic, r);
    return finish(r);
}

static int do_group_create(const char *topic, const char *const *members, size_t n)
{
    struct res r = {0};
    outstanding++;
    store_im_group_create(fx.st, topic, members, n, on_status, &r);
    return finish(&r);
}

static int do_group_delete(const char *topic)
{
    struct res r = {0};
    outstanding++;
    store_im_group_delete(fx.st, topic, on_status, &r);
    return finish(&r);
}

static int do_members(const char *topic, struct res *r)
{
    res_free(r); /* what an earlier call left in r */
    outstanding++;
    store_im_members(fx.st, topic, on_strings, r);
    return finish(r);
}

static int do_groups_of(const char *aor, struct res *r)
{
    res_free(r);
    outstanding++;
    store_im_groups_of(fx.st, aor, on_strings, r);
    return finish(r);
}

/* The position, or -1 on failure. */
static int64_t pos_get(const char *topic, const char *aor, const char *device, int64_t initial)
{
    struct res r = {0};
    outstanding++;
    store_im_position_get(fx.st, topic, aor, device, initial, on_position, &r);
    int status = finish(&r);
    CU_ASSERT_EQUAL(status, 0);
    return status == 0 ? r.pos : -1;
}

static void pos_advance(const char *topic, const char *aor, const char *device, int64_t seq)
{
    struct res r = {0};
    outstanding++;
    store_im_position_advance(fx.st, topic, aor, device, seq, on_status, &r);
    CU_ASSERT_EQUAL(finish(&r), 0);
}

static int do_im_expire(int64_t now, const struct im_retention *ret)
{
    struct res r = {0};
    outstanding++;
    store_im_expire(fx.st, now, ret, on_status, &r);
    return finish(&r);
}

static int do_pres(const char *aor, const char *if_match, const char *new_etag,
                   int64_t expires_at, const char *body, int64_t now, struct res *r)
{
    res_free(r); /* what an earlier call left in r */
    outstanding++;
    store_pres_publish(fx.st, aor, if_match, new_etag, expires_at,
                       body ? "application/pidf+xml" : NULL, body, body ? strlen(body) : 0, now,
                       on_pres, r);
    return finish(r);
}

static int do_pres_get(const char *aor, int64_t now, struct res *r)
{
    res_free(r); /* what an earlier call left in r */
    outstanding++;
    store_pres_get(fx.st, aor, now, on_pres, r);
    return finish(r);
}

static int do_pres_expire(int64_t now, struct res *r)
{
    res_free(r); /* what an earlier call left in r */
    outstanding++;
    store_pres_expire(fx.st, now, on_strings, r);
    return finish(r);
}

static int has_str(const struct res *r, const char *s)
{
    for (size_t i = 0; i < r->nstrs; i++)
        if (strcmp(r->strs[i], s) == 0)
            return 1;
    return 0;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* ---- IM cases for both backends -------------------------------------------------------------- */

static void test_im_publish_assigns_1_2_3_and_topic_info_follows(void)
{
    struct res r = {0};
    CU_ASSERT_EQUAL(do_topic(BOB, BOB, NOW, &keep_all, &r), 0);
    CU_ASSERT(r.has_info);
    CU_ASSERT_EQUAL(r.info.is_group, 0);
    CU_ASSERT_EQUAL(r.info.is_member, 0);
    CU_ASSERT_EQUAL(r.info.last_seq, 0);
    CU_ASSERT_EQUAL(r.info.first_seq, 1);

    CU_ASSERT_EQUAL(publish_simple(BOB, "one", NOW, NULL), 1);
    CU_ASSERT_EQUAL(publish_simple(BOB, "two", NOW, NULL), 2);
    CU_ASSERT_EQUAL(publish_simple(BOB, "three", NOW + 1, NULL), 3);
    CU_ASSERT_EQUAL(publish_simple(CAROL, "other topic", NOW + 1, NULL), 1);

    CU_ASSERT_EQUAL(do_topic(BOB, NULL, NOW + 2, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_group, 0);
    CU_ASSERT_EQUAL(r.info.last_seq, 3);
    CU_ASSERT_EQUAL(r.info.first_seq, 1);

    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 2, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 3);
    CU_ASSERT_EQUAL(r.first_seq, 1);
    CU_ASSERT_EQUAL(r.last_seq, 3);
    const char *bodies[] = {"one", "two", "three"};
    for (size_t i = 0; i < 3; i++) {
        struct msg *m = &r.msgs[i];
        CU_ASSERT_EQUAL(m->seq, (int64_t)i + 1);
        CU_ASSERT(str_eq(m->topic, BOB));
        CU_ASSERT(str_eq(m->body, bodies[i]));
        CU_ASSERT_EQUAL(m->body_len, strlen(bodies[i]));
        CU_ASSERT(str_eq(m->sender, ALICE));
        CU_ASSERT(str_eq(m->sender_device, "urn:uuid:alice-phone"));
        CU_ASSERT(str_eq(m->recipient, BOB));
        CU_ASSERT_EQUAL(m->is_copy, 0);
        CU_ASSERT(str_eq(m->content_type, "text/plain"));
    }
    CU_ASSERT_EQUAL(r.msgs[0].created_at, NOW);
    CU_ASSERT_EQUAL(r.msgs[2].created_at, NOW + 1);
    res_free(&r);
}

static void test_im_copy_gets_its_own_seq_in_the_copy_topic(void)
{
    struct res r = {0};
    /* alice writes to bob twice, with copies in her own topic; bob answers (no copy here) */
    struct im_publish p = mkpub(BOB, ALICE, "c1@test", 1, "hi bob", NOW);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 1);
    CU_ASSERT_EQUAL(r.copy_seq, 1);
    CU_ASSERT_EQUAL(r.duplicate, 0);
    p = mkpub(BOB, ALICE, "c2@test", 1, "again", NOW + 1);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 2);
    CU_ASSERT_EQUAL(r.copy_seq, 2);
    p = mkpub(ALICE, NULL, "c3@test", 1, "hi alice", NOW + 2);
    p.sender = BOB;
    p.sender_device = NULL;
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 3);
    CU_ASSERT_EQUAL(r.copy_seq, 0);

    CU_ASSERT_EQUAL(do_read(ALICE, 0, 10, NOW + 3, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 3);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 1);
    CU_ASSERT(str_eq(r.msgs[0].topic, ALICE));
    CU_ASSERT_EQUAL(r.msgs[0].is_copy, 1);
    CU_ASSERT(str_eq(r.msgs[0].recipient, BOB));
    CU_ASSERT(str_eq(r.msgs[0].sender, ALICE));
    CU_ASSERT(str_eq(r.msgs[0].sender_device, "urn:uuid:alice-phone"));
    CU_ASSERT(str_eq(r.msgs[0].body, "hi bob"));
    CU_ASSERT_EQUAL(r.msgs[1].is_copy, 1);
    CU_ASSERT(str_eq(r.msgs[1].body, "again"));
    CU_ASSERT_EQUAL(r.msgs[2].is_copy, 0);
    CU_ASSERT(str_eq(r.msgs[2].recipient, ALICE));
    CU_ASSERT(str_eq(r.msgs[2].sender, BOB));
    CU_ASSERT_PTR_NULL(r.msgs[2].sender_device);

    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 3, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(r.msgs[0].is_copy, 0);
    CU_ASSERT(str_eq(r.msgs[0].recipient, BOB));
    CU_ASSERT(str_eq(r.msgs[0].body, "hi bob"));
    res_free(&r);
}

static void test_im_read_after_seq_with_max(void)
{
    for (int i = 1; i <= 7; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        CU_ASSERT_EQUAL(publish_simple(BOB, body, NOW, NULL), i);
    }
    struct res r = {0};
    CU_ASSERT_EQUAL(do_read(BOB, 2, 3, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 3);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 3);
    CU_ASSERT_EQUAL(r.msgs[2].seq, 5);
    CU_ASSERT(str_eq(r.msgs[0].body, "m3"));
    CU_ASSERT_EQUAL(r.first_seq, 1);
    CU_ASSERT_EQUAL(r.last_seq, 7);

    CU_ASSERT_EQUAL(do_read(BOB, 5, 100, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(do_read(BOB, 7, 100, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.nmsgs, 0);
    CU_ASSERT_EQUAL(r.last_seq, 7);
    CU_ASSERT_EQUAL(do_read(BOB, 0, 1, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 1);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 1);

    /* a topic nobody wrote to */
    CU_ASSERT_EQUAL(do_read(CAROL, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.nmsgs, 0);
    CU_ASSERT_EQUAL(r.first_seq, 1);
    CU_ASSERT_EQUAL(r.last_seq, 0);
    res_free(&r);
}

static void test_im_retention_by_count_moves_first_seq_and_reads_skip_discarded(void)
{
    struct res r = {0};
    /* stored without limits, then read with a limit: discarded although the rows are there */
    for (int i = 1; i <= 3; i++)
        publish_simple(BOB, "x", NOW, NULL);
    struct im_retention one = {1, 0};
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW, &one, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 3);
    CU_ASSERT_EQUAL(r.last_seq, 3);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 1);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 3);
    CU_ASSERT_EQUAL(do_topic(BOB, NULL, NOW, &one, &r), 0);
    CU_ASSERT_EQUAL(r.info.first_seq, 3);
    CU_ASSERT_EQUAL(r.info.last_seq, 3);

    /* expire with the limit deletes the rows; the window stays where it was */
    CU_ASSERT_EQUAL(do_im_expire(NOW, &one), 0);
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 3);
    CU_ASSERT_EQUAL(r.last_seq, 3);
    CU_ASSERT_EQUAL(r.nmsgs, 1);
    CU_ASSERT_EQUAL(publish_simple(BOB, "x", NOW, NULL), 4);

    /* stored with a limit of 2: seqs go on, the window follows */
    struct im_retention two = {2, 0};
    for (int i = 1; i <= 5; i++) {
        char body[16];
        snprintf(body, sizeof body, "c%d", i);
        CU_ASSERT_EQUAL(publish_simple(CAROL, body, NOW, &two), i);
    }
    CU_ASSERT_EQUAL(do_read(CAROL, 0, 10, NOW, &two, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 4);
    CU_ASSERT_EQUAL(r.last_seq, 5);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 4);
    CU_ASSERT(str_eq(r.msgs[0].body, "c4"));
    CU_ASSERT(str_eq(r.msgs[1].body, "c5"));
    /* the older messages are gone for good, even for a reader without limits */
    CU_ASSERT_EQUAL(do_read(CAROL, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(r.first_seq, 4);
    res_free(&r);
}

static void test_im_retention_by_age_moves_first_seq_and_reads_skip_discarded(void)
{
    struct res r = {0};
    struct im_retention age = {0, 100};
    CU_ASSERT_EQUAL(publish_simple(BOB, "a", NOW, &age), 1);
    CU_ASSERT_EQUAL(publish_simple(BOB, "b", NOW + 50, &age), 2);
    CU_ASSERT_EQUAL(publish_simple(BOB, "c", NOW + 120, &age), 3); /* "a" leaves the window */
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 120, &age, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 2);
    CU_ASSERT_EQUAL(r.nmsgs, 2);

    /* at NOW + 150, "b" (NOW + 50) is exactly 100 s old: out, whether deleted or not */
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 150, &age, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 3);
    CU_ASSERT_EQUAL(r.last_seq, 3);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 1);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 3);
    CU_ASSERT(str_eq(r.msgs[0].body, "c"));
    CU_ASSERT_EQUAL(do_topic(BOB, NULL, NOW + 150, &age, &r), 0);
    CU_ASSERT_EQUAL(r.info.first_seq, 3);

    /* none left: first_seq = last_seq + 1 */
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 500, &age, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 4);
    CU_ASSERT_EQUAL(r.last_seq, 3);
    CU_ASSERT_EQUAL(r.nmsgs, 0);
    CU_ASSERT_EQUAL(do_topic(BOB, NULL, NOW + 500, &age, &r), 0);
    CU_ASSERT_EQUAL(r.info.first_seq, 4);
    CU_ASSERT_EQUAL(r.info.last_seq, 3);

    /* expire deletes what is out; the window is the same as before, seqs go on */
    CU_ASSERT_EQUAL(do_im_expire(NOW + 150, &age), 0);
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 150, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 3);
    CU_ASSERT_EQUAL(r.nmsgs, 1);
    if (fx.backend == BACKEND_POSTGRES) {
        PGresult *pr = PQexec(fx.admin, "SELECT count(*) FROM messages");
        CU_ASSERT(PQresultStatus(pr) == PGRES_TUPLES_OK && strcmp(PQgetvalue(pr, 0, 0), "1") == 0);
        PQclear(pr);
    }
    CU_ASSERT_EQUAL(publish_simple(BOB, "d", NOW + 151, &age), 4);
    res_free(&r);
}

static void test_im_retention_by_count_and_age_together(void)
{
    struct res r = {0};
    for (int i = 0; i < 5; i++) /* seq i + 1 at NOW + 50 i */
        CU_ASSERT_EQUAL(publish_simple(BOB, "x", NOW + 50 * i, NULL), i + 1);
    struct im_retention both = {3, 1000};
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 200, &both, &r), 0); /* the count decides */
    CU_ASSERT_EQUAL(r.first_seq, 3);
    CU_ASSERT_EQUAL(r.nmsgs, 3);
    both.age_s = 100; /* at NOW + 200: seq 3 (NOW + 100) is exactly 100 s old, out */
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 200, &both, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 4);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 4);
    CU_ASSERT_EQUAL(do_read(BOB, 4, 10, NOW + 200, &both, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 1);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 5);
    CU_ASSERT_EQUAL(do_read(BOB, 1, 10, NOW + 200, &both, &r), 0); /* after a discarded one */
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(r.msgs[0].seq, 4);
    CU_ASSERT_EQUAL(do_im_expire(NOW + 200, &both), 0);
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 200, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.first_seq, 4);
    CU_ASSERT_EQUAL(r.nmsgs, 2);
    res_free(&r);
}

static void test_im_duplicate_within_32s_returns_the_same_seqs_and_stores_nothing(void)
{
    struct res r = {0};
    struct im_publish p = mkpub(BOB, ALICE, "dup@test", 7, "once", NOW);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 1);
    CU_ASSERT_EQUAL(r.copy_seq, 1);
    CU_ASSERT_EQUAL(r.duplicate, 0);
    CU_ASSERT_EQUAL(publish_simple(BOB, "between", NOW + 1, NULL), 2);

    p.now = NOW + 20; /* the balancer retried it on another node */
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 1);
    CU_ASSERT_EQUAL(r.copy_seq, 1);
    CU_ASSERT_EQUAL(r.duplicate, 1);

    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW + 20, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(r.last_seq, 2);
    CU_ASSERT_EQUAL(do_read(ALICE, 0, 10, NOW + 20, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.nmsgs, 1);
    CU_ASSERT_EQUAL(r.last_seq, 1);

    /* another CSeq, From tag or Call-ID is another message */
    p.cseq = 8;
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 3);
    CU_ASSERT_EQUAL(r.copy_seq, 2);
    CU_ASSERT_EQUAL(r.duplicate, 0);
    p.from_tag = "tag-2";
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 4);
    CU_ASSERT_EQUAL(r.duplicate, 0);
    /* the same request to another topic is not a duplicate either */
    p = mkpub(CAROL, NULL, "dup@test", 7, "once", NOW + 21);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 1);
    CU_ASSERT_EQUAL(r.duplicate, 0);
    res_free(&r);
}

static void test_im_same_request_after_32s_is_stored_again(void)
{
    struct res r = {0};
    struct im_publish p = mkpub(BOB, NULL, "late@test", 1, "hello", NOW);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 1);
    p.now = NOW + 33;
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 2);
    CU_ASSERT_EQUAL(r.duplicate, 0);
    p.now = NOW + 34; /* ... and that one is now the one retries are compared with */
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 2);
    CU_ASSERT_EQUAL(r.duplicate, 1);
    res_free(&r);
}

static void test_im_binary_body_with_nul_round_trips(void)
{
    static const char body[] = "a\0b\xff\x01\0\r\n\\x00'\"";
    size_t len = sizeof body - 1;
    struct im_publish p = mkpub(BOB, ALICE, "bin@test", 1, "", NOW);
    p.body = body;
    p.body_len = len;
    p.content_type = "application/octet-stream";
    struct res r = {0};
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    p = mkpub(BOB, NULL, "empty@test", 1, "", NOW); /* an empty body */
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(r.msgs[0].body_len, len);
    CU_ASSERT(memcmp(r.msgs[0].body, body, len) == 0);
    CU_ASSERT(str_eq(r.msgs[0].content_type, "application/octet-stream"));
    CU_ASSERT_EQUAL(r.msgs[1].body_len, 0);
    CU_ASSERT_EQUAL(do_read(ALICE, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 1);
    CU_ASSERT_EQUAL(r.msgs[0].body_len, len);
    CU_ASSERT(memcmp(r.msgs[0].body, body, len) == 0);
    res_free(&r);
}

static void test_im_one_mib_body_round_trips(void)
{
    size_t len = 1u << 20;
    char *body = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)(i * 131 + (i >> 11)); /* every byte value, NULs included */
    struct im_publish p = mkpub(BOB, ALICE, "big@test", 1, "", NOW);
    p.body = body;
    p.body_len = len;
    struct res r = {0};
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(publish_simple(BOB, "small after", NOW, NULL), 2);
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 2);
    CU_ASSERT_EQUAL(r.msgs[0].body_len, len);
    CU_ASSERT(r.msgs[0].body && memcmp(r.msgs[0].body, body, len) == 0);
    CU_ASSERT(str_eq(r.msgs[1].body, "small after"));
    CU_ASSERT_EQUAL(do_read(ALICE, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 1);
    CU_ASSERT(r.msgs[0].body_len == len && memcmp(r.msgs[0].body, body, len) == 0);
    res_free(&r);
    free(body);
}

static void test_im_group_create_conflict_members_delete(void)
{
    const char *const members[] = {ALICE, BOB};
    struct res r = {0};
    CU_ASSERT_EQUAL(do_group_create(GROUP, members, 2), 0);
    CU_ASSERT_EQUAL(do_group_create(GROUP, members, 1), 409);
    CU_ASSERT_EQUAL(do_members(GROUP, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 2);
    CU_ASSERT(has_str(&r, ALICE) && has_str(&r, BOB));
    CU_ASSERT_EQUAL(do_groups_of(BOB, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 1);
    CU_ASSERT(has_str(&r, GROUP));
    CU_ASSERT_EQUAL(do_groups_of(CAROL, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0);

    CU_ASSERT_EQUAL(do_topic(GROUP, ALICE, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_group, 1);
    CU_ASSERT_EQUAL(r.info.is_member, 1);
    CU_ASSERT_EQUAL(r.info.last_seq, 0);
    CU_ASSERT_EQUAL(r.info.first_seq, 1);
    CU_ASSERT_EQUAL(do_topic(GROUP, CAROL, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_group, 1);
    CU_ASSERT_EQUAL(r.info.is_member, 0);
    CU_ASSERT_EQUAL(do_topic(GROUP, NULL, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_member, 0);
    /* a member's own topic is no group, and membership does not leak into it */
    CU_ASSERT_EQUAL(do_topic(ALICE, ALICE, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_group, 0);
    CU_ASSERT_EQUAL(r.info.is_member, 0);

    CU_ASSERT_EQUAL(publish_simple(GROUP, "to all", NOW, NULL), 1);
    CU_ASSERT_EQUAL(publish_simple(GROUP, "again", NOW, NULL), 2);
    CU_ASSERT_EQUAL(do_topic(GROUP, BOB, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_group, 1);
    CU_ASSERT_EQUAL(r.info.last_seq, 2);

    CU_ASSERT_EQUAL(do_group_delete(GROUP), 0);
    CU_ASSERT_EQUAL(do_group_delete(GROUP), 404);
    CU_ASSERT_EQUAL(do_members(GROUP, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0);
    CU_ASSERT_EQUAL(do_groups_of(BOB, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0);
    CU_ASSERT_EQUAL(do_topic(GROUP, ALICE, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_group, 0);
    CU_ASSERT_EQUAL(r.info.last_seq, 0);
    CU_ASSERT_EQUAL(r.info.first_seq, 1);
    CU_ASSERT_EQUAL(do_read(GROUP, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.nmsgs, 0);

    /* made again: a new counter (§2.2) */
    CU_ASSERT_EQUAL(do_group_create(GROUP, members + 1, 1), 0);
    CU_ASSERT_EQUAL(publish_simple(GROUP, "new group", NOW, NULL), 1);
    CU_ASSERT_EQUAL(do_members(GROUP, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 1);
    CU_ASSERT(has_str(&r, BOB));
    /* no members at all is a group too */
    CU_ASSERT_EQUAL(do_group_create("sip:empty@groups.example.com", NULL, 0), 0);
    CU_ASSERT_EQUAL(do_members("sip:empty@groups.example.com", &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0);
    res_free(&r);
}

static int do_active(int is_members, size_t max, struct res *r)
{
    res_free(r);
    outstanding++;
    if (is_members)
        store_im_group_members(fx.st, max, on_strings, r);
    else
        store_im_active_topics(fx.st, max, on_strings, r);
    return finish(r);
}

/* What the broker's page-mode replay skip starts from (pagemode.c): the topics that stored a
 * message (a user topic, the sender's copy topic, a group), the members of every group. */
static void test_im_active_topics_and_group_members(void)
{
    struct res r = {0};
    CU_ASSERT_TRUE(store_im_is_listening(fx.st) || fx.backend == BACKEND_POSTGRES);
    CU_ASSERT_EQUAL(do_active(0, 100, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0);
    const char *const members[] = {ALICE, BOB};
    CU_ASSERT_EQUAL(do_group_create(GROUP, members, 2), 0);
    CU_ASSERT_EQUAL(do_group_create("sip:empty@groups.example.com", NULL, 0), 0);
    CU_ASSERT_EQUAL(do_active(0, 100, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0); /* a group without messages is not active */
    CU_ASSERT_EQUAL(do_active(1, 100, &r), 0);
    CU_ASSERT(has_str(&r, ALICE) && has_str(&r, BOB) && !has_str(&r, CAROL));

    CU_ASSERT_EQUAL(publish_simple(CAROL, "to carol", NOW, NULL), 1);
    CU_ASSERT_EQUAL(publish_simple(GROUP, "to all", NOW, NULL), 1);
    CU_ASSERT_EQUAL(do_active(0, 100, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 2);
    CU_ASSERT(has_str(&r, CAROL) && has_str(&r, GROUP) && !has_str(&r, ALICE));
    /* at most max: the caller sees n == max and knows the list may be cut */
    CU_ASSERT_EQUAL(do_active(0, 1, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 1);
    res_free(&r);
}

static void test_im_group_create_over_a_user_topic_with_messages_is_409(void)
{
    const char *const members[] = {ALICE};
    struct res r = {0};
    CU_ASSERT_EQUAL(publish_simple(BOB, "x", NOW, NULL), 1);
    CU_ASSERT_EQUAL(do_group_create(BOB, members, 1), 409);
    CU_ASSERT_EQUAL(do_group_delete(BOB), 404); /* a user topic is no group */
    CU_ASSERT_EQUAL(do_topic(BOB, ALICE, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_group, 0);
    CU_ASSERT_EQUAL(r.info.last_seq, 1);
    CU_ASSERT_EQUAL(do_members(BOB, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0);
    res_free(&r);
}

/* ---- the control plane's view: topics listed, members added and removed --------------------- */

struct trow {
    char topic[64];
    int is_group;
    int64_t last_seq, nmembers;
};

struct tres {
    int ndone, status;
    struct trow v[8];
    size_t n;
};

static void on_topic_rows(void *arg, int status, const struct im_topic_row *v, size_t n)
{
    struct tres *r = arg;
    r->ndone++;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(r->v[i].topic, sizeof r->v[i].topic, "%s", v[i].topic);
        r->v[i].is_group = v[i].is_group;
        r->v[i].last_seq = v[i].last_seq;
        r->v[i].nmembers = v[i].nmembers;
    }
    one_done();
}

static int do_topics_list(const char *after, size_t max, struct tres *r)
{
    memset(r, 0, sizeof *r);
    outstanding++;
    store_im_topics_list(fx.st, after, max, on_topic_rows, r);
    return wait_all() == 0 && r->ndone == 1 ? r->status : 999;
}

static int do_member(int is_add, const char *topic, const char *aor)
{
    struct res r = {0};
    outstanding++;
    if (is_add)
        store_im_member_add(fx.st, topic, aor, on_status, &r);
    else
        store_im_member_remove(fx.st, topic, aor, on_status, &r);
    return finish(&r);
}

/* Groups (with or without messages) and user topics that stored a message, by URI in byte
 * order, with kind, last seq and member count; `after` pages through them. A topic known only
 * by a device position is not listed. */
static void test_im_topics_list_by_uri_with_kinds_seqs_members_and_pages(void)
{
    struct tres r;
    CU_ASSERT_EQUAL(do_topics_list(NULL, 10, &r), 0);
    CU_ASSERT_EQUAL(r.n, 0);
    const char *const members[] = {ALICE, BOB};
    CU_ASSERT_EQUAL(do_group_create(GROUP, members, 2), 0);
    CU_ASSERT_EQUAL(publish_simple(CAROL, "to carol", NOW, NULL), 1);
    CU_ASSERT_EQUAL(publish_simple(CAROL, "again", NOW, NULL), 2);
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-a", 0), 0); /* BOB: a position, no message */

    CU_ASSERT_EQUAL(do_topics_list(NULL, 10, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_STRING_EQUAL(r.v[0].topic, CAROL); /* "sip:c..." < "sip:t..." */
    CU_ASSERT(!r.v[0].is_group && r.v[0].last_seq == 2 && r.v[0].nmembers == 0);
    CU_ASSERT_STRING_EQUAL(r.v[1].topic, GROUP);
    CU_ASSERT(r.v[1].is_group && r.v[1].last_seq == 0 && r.v[1].nmembers == 2);

    CU_ASSERT_EQUAL(do_topics_list(NULL, 1, &r), 0);
    CU_ASSERT(r.n == 1 && strcmp(r.v[0].topic, CAROL) == 0);
    CU_ASSERT_EQUAL(do_topics_list(CAROL, 1, &r), 0);
    CU_ASSERT(r.n == 1 && strcmp(r.v[0].topic, GROUP) == 0);
    CU_ASSERT_EQUAL(do_topics_list(GROUP, 1, &r), 0);
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_EQUAL(do_topics_list("", 10, &r), 0); /* "" is the start too */
    CU_ASSERT_EQUAL(r.n, 2);
}

/* Members added (once, whatever is asked twice) and removed (404 when not one, or no group); a
 * removed member's device positions go with it. */
static void test_im_member_add_and_remove(void)
{
    struct res r = {0};
    CU_ASSERT_EQUAL(do_member(1, GROUP, ALICE), 404); /* no group yet */
    CU_ASSERT_EQUAL(do_member(0, GROUP, ALICE), 404);
    CU_ASSERT_EQUAL(publish_simple(BOB, "x", NOW, NULL), 1);
    CU_ASSERT_EQUAL(do_member(1, BOB, ALICE), 404); /* a user topic has no members */
    const char *const members[] = {ALICE};
    CU_ASSERT_EQUAL(do_group_create(GROUP, members, 1), 0);
    CU_ASSERT_EQUAL(do_member(1, GROUP, CAROL), 0);
    CU_ASSERT_EQUAL(do_member(1, GROUP, CAROL), 0);
    CU_ASSERT_EQUAL(do_members(GROUP, &r), 0);
    CU_ASSERT(r.nstrs == 2 && has_str(&r, ALICE) && has_str(&r, CAROL));
    CU_ASSERT_EQUAL(do_topic(GROUP, CAROL, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_member, 1);
    CU_ASSERT_EQUAL(do_groups_of(CAROL, &r), 0);
    CU_ASSERT(r.nstrs == 1 && has_str(&r, GROUP));

    CU_ASSERT_EQUAL(pos_get(GROUP, ALICE, "dev-a", 0), 0);
    pos_advance(GROUP, ALICE, "dev-a", 7);
    CU_ASSERT_EQUAL(do_member(0, GROUP, ALICE), 0);
    CU_ASSERT_EQUAL(do_member(0, GROUP, ALICE), 404);
    CU_ASSERT_EQUAL(do_members(GROUP, &r), 0);
    CU_ASSERT(r.nstrs == 1 && has_str(&r, CAROL));
    CU_ASSERT_EQUAL(do_topic(GROUP, ALICE, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.is_member, 0);
    /* added again later, she starts afresh: no position of her earlier membership */
    CU_ASSERT_EQUAL(pos_get(GROUP, ALICE, "dev-a", 3), 3);
    res_free(&r);
}

static void test_im_position_get_initialises_from_the_aors_devices_else_initial(void)
{
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-a", 0), 0);
    pos_advance(BOB, BOB, "dev-a", 5);
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-a", 0), 5);
    /* a new device of the same AOR starts where the AOR's furthest device is */
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-b", 0), 5);
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-b", 99), 5); /* it exists now: initial is ignored */
    /* another AOR, or another topic: initial */
    CU_ASSERT_EQUAL(pos_get(BOB, CAROL, "dev-c", 7), 7);
    CU_ASSERT_EQUAL(pos_get(GROUP, BOB, "dev-a", 3), 3);
    CU_ASSERT_EQUAL(pos_get(GROUP, BOB, "dev-a", 0), 3);
    /* advance creates a missing position */
    pos_advance(BOB, BOB, "dev-d", 9);
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-d", 0), 9);
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-e", 0), 9);
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-a", 0), 5);
}

static void test_im_position_advance_keeps_the_maximum(void)
{
    pos_advance(BOB, BOB, "dev-a", 4);
    pos_advance(BOB, BOB, "dev-a", 2);
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-a", 0), 4);
    pos_advance(BOB, BOB, "dev-a", 4);
    pos_advance(BOB, BOB, "dev-a", 6);
    CU_ASSERT_EQUAL(pos_get(BOB, BOB, "dev-a", 0), 6);
    /* several in a row without waiting: they stay in order */
    struct res r[3];
    memset(r, 0, sizeof r);
    int64_t seqs[3] = {8, 7, 10};
    for (int i = 0; i < 3; i++) {
        outstanding++;
        store_im_position_advance(fx.st, BOB, BOB, "dev-a", seqs[i], on_status, &r[i]);
    }
    struct res g = {0};
    outstanding++;
    store_im_position_get(fx.st, BOB, BOB, "dev-a", 0, on_position, &g);
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(r[i].status, 0);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.pos, 10);
}

static void test_im_many_publishes_in_flight_keep_their_order(void)
{
    enum { N = 50 };
    struct res r[N];
    struct im_publish p[N];
    char call_ids[N][32], bodies[N][32];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        snprintf(call_ids[i], sizeof call_ids[i], "burst-%d@test", i);
        snprintf(bodies[i], sizeof bodies[i], "burst %d", i);
        p[i] = mkpub(BOB, ALICE, call_ids[i], 1, bodies[i], NOW);
        outstanding++;
        store_im_publish(fx.st, &p[i], on_publish, &r[i]);
    }
    /* a read queued behind them sees them all */
    struct res rd = {0};
    outstanding++;
    store_im_read(fx.st, BOB, 0, 100, NOW, &keep_all, on_messages, &rd);
    CU_ASSERT_EQUAL_FATAL(wait_all(), 0);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(r[i].status, 0);
        CU_ASSERT_EQUAL(r[i].seq, i + 1);
        CU_ASSERT_EQUAL(r[i].copy_seq, i + 1);
    }
    CU_ASSERT_EQUAL(rd.status, 0);
    CU_ASSERT_EQUAL_FATAL(rd.nmsgs, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT(str_eq(rd.msgs[i].body, bodies[i]));
    res_free(&rd);
}

/* ---- presence cases for both backends -------------------------------------------------------- */

static void test_pres_initial_publish_and_get(void)
{
    struct res r = {0};
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "e1", NOW + 60, "<open/>", NOW, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.npubs, 1);
    CU_ASSERT(str_eq(r.pubs[0].aor, ALICE));
    CU_ASSERT(str_eq(r.pubs[0].etag, "e1"));
    CU_ASSERT_EQUAL(r.pubs[0].expires_at, NOW + 60);
    CU_ASSERT_EQUAL(r.pubs[0].updated_at, NOW);
    CU_ASSERT(str_eq(r.pubs[0].content_type, "application/pidf+xml"));
    CU_ASSERT(str_eq(r.pubs[0].body, "<open/>"));
    CU_ASSERT_EQUAL(do_pres_get(ALICE, NOW + 1, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.npubs, 1);
    CU_ASSERT(str_eq(r.pubs[0].etag, "e1"));
    CU_ASSERT_EQUAL(do_pres_get(BOB, NOW + 1, &r), 0);
    CU_ASSERT_EQUAL(r.npubs, 0);
    res_free(&r);
}

static void test_pres_unknown_or_expired_etag_is_412(void)
{
    struct res r = {0};
    CU_ASSERT_EQUAL(do_pres(ALICE, "nope", "e2", NOW + 60, NULL, NOW, &r), 412);
    CU_ASSERT_EQUAL(r.npubs, 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "e1", NOW + 10, "<open/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, "e1", "e2", NOW + 60, "<closed/>", NOW + 10, &r), 412);
    CU_ASSERT_EQUAL(do_pres(ALICE, "e1", NULL, 0, NULL, NOW + 11, &r), 412);
    CU_ASSERT_EQUAL(do_pres(BOB, "e1", "e3", NOW + 60, NULL, NOW + 5, &r), 412); /* not bob's */
    CU_ASSERT_EQUAL(do_pres_get(ALICE, NOW + 10, &r), 0);
    CU_ASSERT_EQUAL(r.npubs, 0);
    res_free(&r);
}

static void test_pres_refresh_modify_remove(void)
{
    struct res r = {0};
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "e1", NOW + 60, "<open/>", NOW, &r), 0);
    /* refresh: new etag and expiry, same body */
    CU_ASSERT_EQUAL(do_pres(ALICE, "e1", "e2", NOW + 120, NULL, NOW + 10, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.npubs, 1);
    CU_ASSERT(str_eq(r.pubs[0].etag, "e2"));
    CU_ASSERT_EQUAL(r.pubs[0].expires_at, NOW + 120);
    CU_ASSERT_EQUAL(r.pubs[0].updated_at, NOW + 10);
    CU_ASSERT(str_eq(r.pubs[0].body, "<open/>"));
    CU_ASSERT_EQUAL(do_pres(ALICE, "e1", "e9", NOW + 120, NULL, NOW + 11, &r), 412);
    /* modify: new body */
    CU_ASSERT_EQUAL(do_pres(ALICE, "e2", "e3", NOW + 130, "<closed/>", NOW + 20, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.npubs, 1);
    CU_ASSERT(str_eq(r.pubs[0].etag, "e3"));
    CU_ASSERT(str_eq(r.pubs[0].body, "<closed/>"));
    CU_ASSERT_EQUAL(r.pubs[0].expires_at, NOW + 130);
    CU_ASSERT_EQUAL(r.pubs[0].updated_at, NOW + 20);
    /* a second publication (another device): oldest first */
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "f1", NOW + 90, "<other/>", NOW + 30, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.npubs, 2);
    CU_ASSERT(str_eq(r.pubs[0].etag, "e3"));
    CU_ASSERT(str_eq(r.pubs[1].etag, "f1"));
    /* refreshing the older one makes it the newer */
    CU_ASSERT_EQUAL(do_pres(ALICE, "e3", "e4", NOW + 130, NULL, NOW + 40, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.npubs, 2);
    CU_ASSERT(str_eq(r.pubs[0].etag, "f1"));
    CU_ASSERT(str_eq(r.pubs[1].etag, "e4"));
    /* remove */
    CU_ASSERT_EQUAL(do_pres(ALICE, "e4", NULL, 0, NULL, NOW + 50, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.npubs, 1);
    CU_ASSERT(str_eq(r.pubs[0].etag, "f1"));
    CU_ASSERT_EQUAL(do_pres(ALICE, "f1", NULL, 0, NULL, NOW + 51, &r), 0);
    CU_ASSERT_EQUAL(r.npubs, 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, "f1", NULL, 0, NULL, NOW + 52, &r), 412);
    res_free(&r);
}

static void test_pres_binary_body_round_trips(void)
{
    static const char body[] = "<x>\0\xfe\xff</x>";
    struct res r = {0};
    outstanding++;
    store_pres_publish(fx.st, ALICE, NULL, "b1", NOW + 60, "application/octet-stream", body,
                       sizeof body - 1, NOW, on_pres, &r);
    CU_ASSERT_EQUAL(finish(&r), 0);
    CU_ASSERT_EQUAL(do_pres_get(ALICE, NOW, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.npubs, 1);
    CU_ASSERT_EQUAL(r.pubs[0].body_len, sizeof body - 1);
    CU_ASSERT(memcmp(r.pubs[0].body, body, sizeof body - 1) == 0);
    res_free(&r);
}

static void test_pres_expire_reports_each_aor_that_lost_one(void)
{
    struct res r = {0};
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "a1", NOW + 10, "<a1/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "a2", NOW + 20, "<a2/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "a3", NOW + 100, "<a3/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(do_pres(BOB, NULL, "b1", NOW + 15, "<b1/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(do_pres(CAROL, NULL, "c1", NOW + 100, "<c1/>", NOW, &r), 0);

    CU_ASSERT_EQUAL(do_pres_get(ALICE, NOW + 20, &r), 0); /* a2 expires at NOW + 20 */
    CU_ASSERT_EQUAL_FATAL(r.npubs, 1);
    CU_ASSERT(str_eq(r.pubs[0].etag, "a3"));

    CU_ASSERT_EQUAL(do_pres_expire(NOW + 5, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0);
    CU_ASSERT_EQUAL(do_pres_expire(NOW + 20, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 2); /* alice once, though she lost two */
    CU_ASSERT(has_str(&r, ALICE) && has_str(&r, BOB));
    CU_ASSERT_EQUAL(do_pres_expire(NOW + 20, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 0);
    CU_ASSERT_EQUAL(do_pres_get(ALICE, NOW, &r), 0); /* gone, also for an earlier `now` */
    CU_ASSERT_EQUAL_FATAL(r.npubs, 1);
    CU_ASSERT(str_eq(r.pubs[0].etag, "a3"));
    res_free(&r);
}

/* ---- postgres only --------------------------------------------------------------------------- */

static int same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Two stores (as two processes would have: each its own pool of connections) publish into one
 * topic at once, every publish in flight together: seqs 1..N, each once, each publish's body
 * under its seq, and each store's publishes in the order it made them. Half of them also make
 * a copy in the sender's topic, crossing (alice -> bob and bob -> alice) so that the two
 * stores lock the two topic rows in opposite roles. */
static void test_pg_two_stores_publish_concurrently_dense_unique_seqs(void)
{
    enum { PER = 150, N = 2 * PER };
    struct store *other = store_create(fx.loop, "postgresql://");
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    CU_ASSERT_TRUE_FATAL(wait_available(other));
    static struct res r[N];
    static struct im_publish p[N];
    static char call_ids[N][32], bodies[N][32];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        int from_other = i % 2;
        snprintf(call_ids[i], sizeof call_ids[i], "race-%d@test", i);
        snprintf(bodies[i], sizeof bodies[i], "race %d from %s", i, from_other ? "B" : "A");
        /* store A: alice -> carol (copy to alice); store B: bob -> carol (copy to bob), and
         * every fifth: alice <-> bob crossing */
        const char *topic = CAROL, *sender = from_other ? BOB : ALICE;
        if (i % 5 == 0)
            topic = from_other ? ALICE : BOB;
        p[i] = mkpub(topic, sender, call_ids[i], 1, bodies[i], NOW);
        p[i].sender = sender;
        outstanding++;
        store_im_publish(from_other ? other : fx.st, &p[i], on_publish, &r[i]);
    }
    CU_ASSERT_EQUAL_FATAL(wait_all(), 0);

    int64_t carol[N] = {0};
    size_t ncarol = 0;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(r[i].status, 0);
        CU_ASSERT_EQUAL(r[i].duplicate, 0);
        if (same(p[i].topic, CAROL))
            carol[ncarol++] = r[i].seq;
    }
    qsort(carol, ncarol, sizeof carol[0], cmp_i64);
    for (size_t k = 0; k < ncarol; k++)
        CU_ASSERT_EQUAL(carol[k], (int64_t)k + 1);

    /* per store, its publishes to carol got increasing seqs */
    for (int s = 0; s < 2; s++) {
        int64_t prev = 0;
        for (int i = s; i < N; i += 2) {
            if (!same(p[i].topic, CAROL))
                continue;
            CU_ASSERT(r[i].seq > prev);
            prev = r[i].seq;
        }
    }

    /* carol's topic: exactly ncarol messages, each with the body of the publish given its seq */
    struct res rd = {0};
    CU_ASSERT_EQUAL(do_read(CAROL, 0, 1000, NOW, &keep_all, &rd), 0);
    CU_ASSERT_EQUAL_FATAL(rd.nmsgs, ncarol);
    CU_ASSERT_EQUAL(rd.last_seq, (int64_t)ncarol);
    for (int i = 0; i < N; i++) {
        if (!same(p[i].topic, CAROL) || r[i].seq < 1 || (size_t)r[i].seq > rd.nmsgs)
            continue;
        struct msg *m = &rd.msgs[r[i].seq - 1];
        CU_ASSERT_EQUAL(m->seq, r[i].seq);
        CU_ASSERT(str_eq(m->body, bodies[i]));
        CU_ASSERT(str_eq(m->sender, p[i].sender));
    }
    /* alice's and bob's topics: originals and copies, dense too */
    const char *const users[] = {ALICE, BOB};
    for (int u = 0; u < 2; u++) {
        CU_ASSERT_EQUAL(do_read(users[u], 0, 1000, NOW, &keep_all, &rd), 0);
        int64_t want = 0;
        for (int i = 0; i < N; i++)
            want += same(p[i].topic, users[u]) + same(p[i].copy_topic, users[u]);
        CU_ASSERT_EQUAL(rd.last_seq, want);
        CU_ASSERT_EQUAL_FATAL(rd.nmsgs, (size_t)want);
        for (size_t k = 0; k < rd.nmsgs; k++)
            CU_ASSERT_EQUAL(rd.msgs[k].seq, (int64_t)k + 1);
        for (int i = 0; i < N; i++) {
            int64_t s = same(p[i].topic, users[u])        ? r[i].seq
                        : same(p[i].copy_topic, users[u]) ? r[i].copy_seq
                                                          : 0;
            if (s >= 1 && s <= want) {
                CU_ASSERT(str_eq(rd.msgs[s - 1].body, bodies[i]));
                CU_ASSERT_EQUAL(rd.msgs[s - 1].is_copy, same(p[i].copy_topic, users[u]));
            }
        }
    }
    res_free(&rd);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM messages"), N * 2);
    store_destroy(other);
}

/* A database whose default isolation is serializable: the stores still publish concurrently
 * into one topic (and into each other's copy topics) without failures. */
static void test_pg_concurrent_publish_under_serializable_default(void)
{
    enum { N = 120 };
    static const char *const ci =
        "postgresql://?options=-c%20default_transaction_isolation%3Dserializable";
    struct store *a = store_create(fx.loop, ci), *b = store_create(fx.loop, ci);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_TRUE_FATAL(wait_available(a) && wait_available(b));
    static struct res r[N];
    static struct im_publish p[N];
    static char call_ids[N][32];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        snprintf(call_ids[i], sizeof call_ids[i], "ser-%d@test", i);
        const char *sender = i % 2 ? BOB : ALICE;
        p[i] = mkpub(i % 3 ? CAROL : (i % 2 ? ALICE : BOB), sender, call_ids[i], 1, "s", NOW);
        outstanding++;
        store_im_publish(i % 2 ? b : a, &p[i], on_publish, &r[i]);
    }
    /* positions and presence too */
    struct res g[4];
    memset(g, 0, sizeof g);
    outstanding += 4;
    store_im_position_advance(a, CAROL, CAROL, "d1", 5, on_status, &g[0]);
    store_im_position_get(b, CAROL, CAROL, "d2", 0, on_position, &g[1]);
    store_pres_publish(a, ALICE, NULL, "ser-e1", NOW + 60, "text/plain", "x", 1, NOW, on_pres,
                       &g[2]);
    store_pres_publish(b, ALICE, NULL, "ser-e2", NOW + 60, "text/plain", "y", 1, NOW, on_pres,
                       &g[3]);
    CU_ASSERT_EQUAL_FATAL(wait_all(), 0);
    int nfailed = 0;
    for (int i = 0; i < N; i++)
        nfailed += r[i].status != 0;
    CU_ASSERT_EQUAL(nfailed, 0);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(g[i].status, 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM messages"), 2 * N);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(DISTINCT (topic, seq)) FROM messages"), 2 * N);
    CU_ASSERT_EQUAL(admin_scalar("SELECT sum(last_seq) FROM topics"), 2 * N);
    for (int i = 0; i < 4; i++)
        res_free(&g[i]);
    store_destroy(a);
    store_destroy(b);
}

/* A publish the database refuses (here: a presence entity-tag already in use) fails alone; the
 * operations around it in the pipeline go through. */
static void test_pg_failed_write_fails_only_itself(void)
{
    struct res r[5];
    memset(r, 0, sizeof r);
    outstanding += 5;
    store_pres_publish(fx.st, ALICE, NULL, "same", NOW + 60, "text/plain", "a", 1, NOW, on_pres,
                       &r[0]);
    store_pres_get(fx.st, ALICE, NOW, on_pres, &r[1]);
    store_pres_publish(fx.st, ALICE, NULL, "same", NOW + 60, "text/plain", "b", 1, NOW, on_pres,
                       &r[2]);
    store_pres_get(fx.st, ALICE, NOW, on_pres, &r[3]);
    store_pres_publish(fx.st, ALICE, NULL, "other", NOW + 60, "text/plain", "c", 1, NOW, on_pres,
                       &r[4]);
    CU_ASSERT_EQUAL_FATAL(wait_all(), 0);
    CU_ASSERT_EQUAL(r[0].status, 0);
    CU_ASSERT_EQUAL(r[1].status, 0);
    CU_ASSERT_EQUAL(r[1].npubs, 1);
    CU_ASSERT_EQUAL(r[2].status, STORE_EFAIL);
    CU_ASSERT_EQUAL(r[3].status, 0);
    CU_ASSERT_EQUAL(r[3].npubs, 1);
    CU_ASSERT_EQUAL(r[4].status, 0);
    CU_ASSERT_EQUAL(r[4].npubs, 2);
    CU_ASSERT_EQUAL(store_pending(fx.st), 0);
    for (int i = 0; i < 5; i++)
        res_free(&r[i]);
}


/* A publish the database asks to retry (serialization failure) is retried; a seq is never given
 * to an attempt that did not commit; one that keeps failing ends in STORE_EFAIL after
 * 1 + 3 attempts, and changes nothing. */
static void test_pg_publish_retried_on_serialization_failure(void)
{
    CU_ASSERT_EQUAL_FATAL(
        admin_exec("CREATE SEQUENCE test_fail_seq;"
                   "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$"
                   " BEGIN IF nextval('test_fail_seq') <= 2 THEN"
                   "  RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF;"
                   " RETURN NEW; END $$;"
                   "CREATE TRIGGER test_fail BEFORE INSERT ON messages"
                   " FOR EACH ROW EXECUTE FUNCTION test_fail()"),
        0);
    struct res r = {0};
    CU_ASSERT_EQUAL(publish_simple(BOB, "third time", NOW, NULL), 1);
    CU_ASSERT_EQUAL(admin_scalar("SELECT last_value FROM test_fail_seq"), 3);
    CU_ASSERT_EQUAL(publish_simple(BOB, "at once", NOW, NULL), 2);

    CU_ASSERT_EQUAL(admin_exec("SELECT setval('test_fail_seq', 1, false)"), 0);
    CU_ASSERT_EQUAL(admin_exec("CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger"
                               " LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('test_fail_seq');"
                               " RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END $$"),
                    0);
    struct im_publish p = mkpub(BOB, ALICE, "never@test", 1, "never", NOW);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), STORE_EFAIL);
    CU_ASSERT_EQUAL(admin_scalar("SELECT last_value FROM test_fail_seq"), 4);
    admin_exec("DROP TRIGGER test_fail ON messages; DROP FUNCTION test_fail();"
               "DROP SEQUENCE test_fail_seq");
    CU_ASSERT_EQUAL(do_read(BOB, 0, 10, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.last_seq, 2);
    CU_ASSERT_EQUAL_FATAL(r.nmsgs, 2);
    CU_ASSERT(str_eq(r.msgs[0].body, "third time"));
    CU_ASSERT_EQUAL(do_topic(ALICE, NULL, NOW, &keep_all, &r), 0);
    CU_ASSERT_EQUAL(r.info.last_seq, 0);
    CU_ASSERT_EQUAL(publish_simple(BOB, "after", NOW, NULL), 3);
    res_free(&r);
}

/* Parameters the store cannot take fail with STORE_EFAIL before reaching the database (and
 * nothing is stored); the store goes on. */
static void test_pg_unfit_parameters_fail_with_efail(void)
{
    struct res r = {0};
    struct im_publish p = mkpub(BOB, ALICE, "unfit@test", 1, "x", NOW);
    p.body = NULL; /* a length without a body */
    p.body_len = 5;
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), STORE_EFAIL);
    p = mkpub(NULL, ALICE, "unfit@test", 1, "x", NOW);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), STORE_EFAIL);
    static char long_uri[5000];
    memset(long_uri, 'a', sizeof long_uri - 1);
    memcpy(long_uri, "sip:", 4);
    p = mkpub(long_uri, ALICE, "unfit@test", 1, "x", NOW);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), STORE_EFAIL);
    size_t big_len = (4u << 20) + 1;
    char *big = calloc(1, big_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    p = mkpub(BOB, ALICE, "unfit@test", 1, "x", NOW);
    p.body = big;
    p.body_len = big_len;
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), STORE_EFAIL);
    free(big);
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "e1", NOW + 60, NULL, NOW, &r), STORE_EFAIL);
    struct res g = {0};
    outstanding++;
    store_im_position_get(fx.st, BOB, BOB, NULL, 0, on_position, &g);
    CU_ASSERT_EQUAL(finish(&g), STORE_EFAIL);
    const char *const members[] = {ALICE, NULL};
    CU_ASSERT_EQUAL(do_group_create(GROUP, members, 2), STORE_EFAIL);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM topics"), 0);
    CU_ASSERT_EQUAL(store_pending(fx.st), 0);
    CU_ASSERT_EQUAL(publish_simple(BOB, "fine", NOW, NULL), 1);
    res_free(&r);
}

/* A publish announces itself on channel sipd_im ("<topic> <seq>"), at commit. */
static void test_pg_publish_notifies_sipd_im(void)
{
    CU_ASSERT_EQUAL_FATAL(admin_exec("LISTEN sipd_im"), 0);
    struct im_publish p = mkpub(BOB, ALICE, "notify@test", 1, "hello", NOW);
    struct res r = {0};
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0); /* a duplicate announces nothing */
    CU_ASSERT_EQUAL(r.duplicate, 1);
    CU_ASSERT_EQUAL(publish_simple(BOB, "second", NOW, NULL), 2);
    int has_bob1 = 0, has_alice1 = 0, has_bob2 = 0, nother = 0;
    for (int tries = 0; tries < 100 && !(has_bob1 && has_alice1 && has_bob2); tries++) {
        PQconsumeInput(fx.admin);
        PGnotify *n;
        while ((n = PQnotifies(fx.admin)) != NULL) {
            if (strcmp(n->relname, "sipd_im") == 0 && strcmp(n->extra, BOB " 1") == 0)
                has_bob1++;
            else if (strcmp(n->relname, "sipd_im") == 0 && strcmp(n->extra, ALICE " 1") == 0)
                has_alice1++;
            else if (strcmp(n->relname, "sipd_im") == 0 && strcmp(n->extra, BOB " 2") == 0)
                has_bob2++;
            else
                nother++;
            PQfreemem(n);
        }
        usleep(10000);
    }
    CU_ASSERT_EQUAL(has_bob1, 1);
    CU_ASSERT_EQUAL(has_alice1, 1);
    CU_ASSERT_EQUAL(has_bob2, 1);
    CU_ASSERT_EQUAL(nother, 0);
    admin_exec("UNLISTEN sipd_im");
}

/* ---- store_im_set_listener (postgres: LISTEN sipd_im on a connection of its own) ------------- */

#define LISTEN_APP "sipd_test_listen"
#define LISTEN_CONNINFO "postgresql://?application_name=" LISTEN_APP
/* A's listening backend: the only one of LISTEN_APP whose last command was the LISTEN. */
#define LISTEN_BACKEND                                                                             \
    "FROM pg_stat_activity WHERE application_name = '" LISTEN_APP "'"                            \
    " AND query = 'LISTEN sipd_im'"

/* What a listener heard (copied: the topic is valid only during the call). */
struct heard {
    size_t n;                  /* calls with a topic */
    int nmissed;               /* calls (NULL, 0) */
    int nbad;                  /* calls with a topic and seq <= 0, or NULL and seq != 0 */
    struct {
        char topic[64];
        size_t topic_len;
        int64_t seq;
    } v[32];
    size_t want_n;             /* while waiting: stop the loop once this much was heard */
    int want_missed;
    int is_waiting;
};

static int heard_enough(const struct heard *h)
{
    return h->n >= h->want_n && h->nmissed >= h->want_missed;
}

static void on_heard(void *arg, const char *topic, int64_t seq)
{
    struct heard *h = arg;
    if (!topic) {
        h->nmissed++;
        h->nbad += seq != 0;
    } else {
        if (h->n < sizeof h->v / sizeof h->v[0]) {
            snprintf(h->v[h->n].topic, sizeof h->v[h->n].topic, "%s", topic);
            h->v[h->n].topic_len = strlen(topic);
            h->v[h->n].seq = seq;
        }
        h->n++;
        h->nbad += seq <= 0;
    }
    if (h->is_waiting && heard_enough(h))
        loop_stop(fx.loop);
}

static int heard_enough_of(const void *h) { return heard_enough(h); }

/* Run the loop until h heard n topics and nmissed (NULL, 0) calls in all, or SAFETY_MS passed.
 * 0, or -1 on timeout. */
static int wait_heard(struct heard *h, size_t n, int nmissed)
{
    h->want_n = n;
    h->want_missed = nmissed;
    if (heard_enough(h))
        return 0;
    h->is_waiting = 1;
    int rc = wait_until(heard_enough_of, h);
    h->is_waiting = 0;
    return rc;
}

/* How many times h heard (topic, seq). */
static int heard_count(const struct heard *h, const char *topic, int64_t seq)
{
    int k = 0;
    for (size_t i = 0; i < h->n && i < sizeof h->v / sizeof h->v[0]; i++)
        k += strcmp(h->v[i].topic, topic) == 0 && h->v[i].seq == seq;
    return k;
}

/* Run the loop until the server shows n listening backends of LISTEN_APP, idle after their
 * LISTEN (so it is committed: what is published from now on is announced to them). */
static int wait_listening(long n)
{
    for (int i = 0; i < SAFETY_MS / 10; i++) {
        if (admin_scalar("SELECT count(*) " LISTEN_BACKEND " AND state = 'idle'") == n)
            return 1;
        run_for(10);
    }
    return 0;
}

/* Store A listens; store B (fx.st, another pool on the same database) publishes: A hears each
 * (topic, seq), the copy's topic too, one topic's seqs in order, and its own publishes as well;
 * nothing else, no "missed" call on a first LISTEN that went through. */
static void test_pg_listener_hears_publishes_of_another_store_with_the_copy(void)
{
    struct store *a = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    static struct heard h;
    memset(&h, 0, sizeof h);
    store_im_set_listener(a, on_heard, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));
    CU_ASSERT_TRUE_FATAL(wait_available(a)); /* A publishes below: its pool must be up too */
    CU_ASSERT_TRUE(store_im_is_listening(a));

    struct im_publish p = mkpub(BOB, ALICE, "listen-1@test", 1, "hi bob", NOW);
    struct res r = {0};
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 1);
    CU_ASSERT_EQUAL(r.copy_seq, 1);
    CU_ASSERT_EQUAL(publish_simple(CAROL, "to carol", NOW, NULL), 1);
    CU_ASSERT_EQUAL(publish_simple(BOB, "again", NOW, NULL), 2);
    CU_ASSERT_EQUAL(wait_heard(&h, 4, 0), 0);
    CU_ASSERT_EQUAL(heard_count(&h, BOB, 1), 1);
    CU_ASSERT_EQUAL(heard_count(&h, ALICE, 1), 1);
    CU_ASSERT_EQUAL(heard_count(&h, CAROL, 1), 1);
    CU_ASSERT_EQUAL(heard_count(&h, BOB, 2), 1);
    size_t bob1 = 99, bob2 = 99;
    for (size_t i = 0; i < h.n && i < 32; i++) {
        if (strcmp(h.v[i].topic, BOB) == 0 && h.v[i].seq == 1)
            bob1 = i;
        if (strcmp(h.v[i].topic, BOB) == 0 && h.v[i].seq == 2)
            bob2 = i;
    }
    CU_ASSERT(bob1 < bob2 && bob2 < 99);

    /* A's own publish is announced to A too */
    p = mkpub(CAROL, NULL, "listen-own@test", 1, "from a", NOW);
    CU_ASSERT_EQUAL(do_publish(a, &p, &r), 0);
    CU_ASSERT_EQUAL(r.seq, 2);
    CU_ASSERT_EQUAL(wait_heard(&h, 5, 0), 0);
    CU_ASSERT_EQUAL(heard_count(&h, CAROL, 2), 1);

    run_for(100);
    CU_ASSERT_EQUAL(h.n, 5);
    CU_ASSERT_EQUAL(h.nmissed, 0);
    CU_ASSERT_EQUAL(h.nbad, 0);
    res_free(&r);
    store_destroy(a);
}

/* A duplicate publish stores nothing, so it announces nothing: after the publish that follows it
 * is heard, the first is still heard once only. */
static void test_pg_listener_hears_nothing_for_a_duplicate(void)
{
    struct store *a = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    static struct heard h;
    memset(&h, 0, sizeof h);
    store_im_set_listener(a, on_heard, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));

    struct im_publish p = mkpub(BOB, ALICE, "listen-dup@test", 1, "once", NOW);
    struct res r = {0};
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.duplicate, 0);
    CU_ASSERT_EQUAL(do_publish(fx.st, &p, &r), 0);
    CU_ASSERT_EQUAL(r.duplicate, 1);
    CU_ASSERT_EQUAL(publish_simple(BOB, "after", NOW, NULL), 2);
    CU_ASSERT_EQUAL(wait_heard(&h, 3, 0), 0);
    run_for(100);
    CU_ASSERT_EQUAL(h.n, 3);
    CU_ASSERT_EQUAL(heard_count(&h, BOB, 1), 1);
    CU_ASSERT_EQUAL(heard_count(&h, ALICE, 1), 1);
    CU_ASSERT_EQUAL(heard_count(&h, BOB, 2), 1);
    CU_ASSERT_EQUAL(h.nmissed, 0);
    res_free(&r);
    store_destroy(a);
}

/* The server kills A's listening backend (only that one): A reconnects by itself, LISTENs again,
 * says once that it may have missed notifications (NULL, 0), and hears what is published after;
 * its pool carries on. */
static void test_pg_listener_reconnects_after_its_backend_is_killed_and_says_missed(void)
{
    struct store *a = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_TRUE_FATAL(wait_available(a));
    static struct heard h;
    memset(&h, 0, sizeof h);
    store_im_set_listener(a, on_heard, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));
    CU_ASSERT_EQUAL(publish_simple(BOB, "before", NOW, NULL), 1);
    CU_ASSERT_EQUAL(wait_heard(&h, 1, 0), 0);

    CU_ASSERT_EQUAL(admin_scalar("SELECT count(pg_terminate_backend(pid, 5000)) " LISTEN_BACKEND),
                    1);
    CU_ASSERT_EQUAL(wait_heard(&h, 1, 1), 0);
    CU_ASSERT_EQUAL(h.nmissed, 1);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) " LISTEN_BACKEND), 1); /* a new one */

    CU_ASSERT_EQUAL(publish_simple(BOB, "after", NOW, NULL), 2);
    CU_ASSERT_EQUAL(publish_simple(CAROL, "after", NOW, NULL), 1);
    CU_ASSERT_EQUAL(wait_heard(&h, 3, 1), 0);
    CU_ASSERT_EQUAL(heard_count(&h, BOB, 2), 1);
    CU_ASSERT_EQUAL(heard_count(&h, CAROL, 1), 1);
    struct im_publish p = mkpub(CAROL, NULL, "listen-kill@test", 1, "from a", NOW);
    struct res r = {0};
    CU_ASSERT_EQUAL(do_publish(a, &p, &r), 0); /* A's pool still works */
    CU_ASSERT_EQUAL(r.seq, 2);
    CU_ASSERT_EQUAL(wait_heard(&h, 4, 1), 0);
    CU_ASSERT_EQUAL(heard_count(&h, CAROL, 2), 1);
    run_for(100);
    CU_ASSERT_EQUAL(h.n, 4);
    CU_ASSERT_EQUAL(h.nmissed, 1);
    CU_ASSERT_EQUAL(h.nbad, 0);
    res_free(&r);
    store_destroy(a);
}

/* set_listener(NULL): no more calls, and the listening session goes away; a listener set again
 * LISTENs anew (without a "missed" call: nothing was lost while nobody asked). */
static void test_pg_listener_set_null_stops_calls_and_closes_its_session(void)
{
    struct store *a = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    static struct heard h, h2;
    memset(&h, 0, sizeof h);
    memset(&h2, 0, sizeof h2);
    store_im_set_listener(a, on_heard, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));
    CU_ASSERT_EQUAL(publish_simple(BOB, "heard", NOW, NULL), 1);
    CU_ASSERT_EQUAL(wait_heard(&h, 1, 0), 0);

    store_im_set_listener(a, NULL, NULL);
    CU_ASSERT_EQUAL(publish_simple(BOB, "not heard", NOW, NULL), 2);
    CU_ASSERT_EQUAL(publish_simple(CAROL, "not heard", NOW, NULL), 1);
    run_for(200);
    CU_ASSERT_EQUAL(h.n, 1);
    CU_ASSERT_EQUAL(h.nmissed, 0);
    CU_ASSERT_TRUE(wait_listening(0)); /* the backend exits once it sees the close */
    CU_ASSERT(store_is_available(a));

    store_im_set_listener(a, on_heard, &h2);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));
    CU_ASSERT_EQUAL(publish_simple(BOB, "heard again", NOW, NULL), 3);
    CU_ASSERT_EQUAL(wait_heard(&h2, 1, 0), 0);
    CU_ASSERT_EQUAL(heard_count(&h2, BOB, 3), 1);
    run_for(100);
    CU_ASSERT_EQUAL(h2.n, 1);
    CU_ASSERT_EQUAL(h2.nmissed, 0);
    CU_ASSERT_EQUAL(h.n, 1);
    store_destroy(a);
}

/* Payloads that are not "<topic> <seq>" (topic 1..4000 bytes, seq a positive decimal int64) are
 * dropped; the well-formed ones around them are heard. */
static void test_pg_listener_ignores_malformed_payloads(void)
{
    struct store *a = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    static struct heard h;
    memset(&h, 0, sizeof h);
    store_im_set_listener(a, on_heard, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));
    static const char *const bad[] = {
        "NOTIFY sipd_im", /* empty payload */
        "NOTIFY sipd_im, 'nospace'",
        "NOTIFY sipd_im, ' 5'",
        "NOTIFY sipd_im, 'sip:x@example.com '",
        "NOTIFY sipd_im, 'sip:x@example.com 0'",
        "NOTIFY sipd_im, 'sip:x@example.com -3'",
        "NOTIFY sipd_im, 'sip:x@example.com +3'",
        "NOTIFY sipd_im, 'sip:x@example.com 12abc'",
        "NOTIFY sipd_im, 'sip:x@example.com 3 '",
        "NOTIFY sipd_im, 'sip:x@example.com 9223372036854775808'",
        "NOTIFY sipd_im, 'sip:x@example.com 99999999999999999999'",
        "SELECT pg_notify('sipd_im', repeat('a', 4001) || ' 1')",
    };
    CU_ASSERT_EQUAL(admin_exec("NOTIFY sipd_im, 'sip:first@example.com 1'"), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(admin_exec(bad[i]), 0);
    CU_ASSERT_EQUAL(
        admin_exec("SELECT pg_notify('sipd_im', repeat('a', 4000) || ' 9223372036854775807')"), 0);
    CU_ASSERT_EQUAL(admin_exec("NOTIFY sipd_im, 'sip:last@example.com 7'"), 0);
    CU_ASSERT_EQUAL(wait_heard(&h, 3, 0), 0);
    run_for(100);
    CU_ASSERT_EQUAL_FATAL(h.n, 3);
    CU_ASSERT_STRING_EQUAL(h.v[0].topic, "sip:first@example.com");
    CU_ASSERT_EQUAL(h.v[0].seq, 1);
    CU_ASSERT_EQUAL(h.v[1].topic_len, 4000);
    CU_ASSERT_EQUAL(h.v[1].seq, INT64_MAX);
    CU_ASSERT_STRING_EQUAL(h.v[2].topic, "sip:last@example.com");
    CU_ASSERT_EQUAL(h.v[2].seq, 7);
    CU_ASSERT_EQUAL(h.nmissed, 0);
    CU_ASSERT_EQUAL(h.nbad, 0);
    store_destroy(a);
}

/* A listener may stop itself (set NULL) or destroy its store from inside the call: later
 * notifications already read are dropped, nothing is touched after the free. */
static struct store *reentrant_store;
static void on_heard_then_stop(void *arg, const char *topic, int64_t seq)
{
    on_heard(arg, topic, seq);
    store_im_set_listener(reentrant_store, NULL, NULL);
}
static void on_heard_then_destroy(void *arg, const char *topic, int64_t seq)
{
    on_heard(arg, topic, seq);
    store_destroy(reentrant_store);
    reentrant_store = NULL;
}

static void test_pg_listener_may_stop_or_destroy_from_its_call(void)
{
    static struct heard h;
    memset(&h, 0, sizeof h);
    reentrant_store = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(reentrant_store);
    store_im_set_listener(reentrant_store, on_heard_then_stop, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));
    /* one transaction, two notifications: both arrive in one read */
    CU_ASSERT_EQUAL(admin_exec("BEGIN; NOTIFY sipd_im, 'sip:a@example.com 1';"
                               " NOTIFY sipd_im, 'sip:b@example.com 1'; COMMIT"),
                    0);
    CU_ASSERT_EQUAL(wait_heard(&h, 1, 0), 0);
    run_for(100);
    CU_ASSERT_EQUAL(h.n, 1);
    CU_ASSERT_TRUE(wait_listening(0));

    store_im_set_listener(reentrant_store, on_heard_then_destroy, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));
    CU_ASSERT_EQUAL(admin_exec("BEGIN; NOTIFY sipd_im, 'sip:a@example.com 2';"
                               " NOTIFY sipd_im, 'sip:b@example.com 2'; COMMIT"),
                    0);
    CU_ASSERT_EQUAL(wait_heard(&h, 2, 0), 0);
    run_for(100);
    CU_ASSERT_EQUAL(h.n, 2);
    CU_ASSERT_PTR_NULL(reentrant_store);
    if (reentrant_store)
        store_destroy(reentrant_store);
    reentrant_store = NULL;
}

/* ---- store_pres_set_listener (postgres: LISTEN sipd_pres on the same connection) ------------ */

/* What a presence listener heard (copied: the AOR is valid only during the call). */
struct pres_heard {
    size_t n;                  /* calls with an AOR */
    int nmissed;               /* calls (NULL) */
    char aor[32][64];
    size_t want_n;             /* while waiting: stop the loop once this much was heard */
    int want_missed;
    int is_waiting;
};

static int pres_heard_enough(const struct pres_heard *h)
{
    return h->n >= h->want_n && h->nmissed >= h->want_missed;
}

static void on_pres_heard(void *arg, const char *aor)
{
    struct pres_heard *h = arg;
    if (!aor) {
        h->nmissed++;
    } else {
        if (h->n < sizeof h->aor / sizeof h->aor[0])
            snprintf(h->aor[h->n], sizeof h->aor[h->n], "%s", aor);
        h->n++;
    }
    if (h->is_waiting && pres_heard_enough(h))
        loop_stop(fx.loop);
}

static int pres_heard_enough_of(const void *h) { return pres_heard_enough(h); }

/* Run the loop until h heard n AORs and nmissed (NULL) calls in all, or SAFETY_MS passed.
 * 0, or -1 on timeout. */
static int wait_pres_heard(struct pres_heard *h, size_t n, int nmissed)
{
    h->want_n = n;
    h->want_missed = nmissed;
    if (pres_heard_enough(h))
        return 0;
    h->is_waiting = 1;
    int rc = wait_until(pres_heard_enough_of, h);
    h->is_waiting = 0;
    return rc;
}

static int pres_heard_count(const struct pres_heard *h, const char *aor)
{
    int k = 0;
    for (size_t i = 0; i < h->n && i < sizeof h->aor / sizeof h->aor[0]; i++)
        k += strcmp(h->aor[i], aor) == 0;
    return k;
}

/* Store A listens for presence; store B (fx.st) publishes, modifies, refreshes and removes a
 * publication and expires others: A hears the AOR after each step, in order, once per AOR that
 * lost one on an expiry; a step that fails (412) and an expiry that removes nothing announce
 * nothing; A's own changes are heard too. The IM listener is not called. */
static void test_pg_pres_listener_hears_every_change_of_another_store(void)
{
    struct store *a = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    static struct pres_heard h;
    memset(&h, 0, sizeof h);
    store_pres_set_listener(a, on_pres_heard, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));

    struct res r = {0};
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "e1", NOW + 60, "<open/>", NOW, &r), 0); /* initial */
    CU_ASSERT_EQUAL(wait_pres_heard(&h, 1, 0), 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, "e1", "e2", NOW + 60, "<closed/>", NOW + 1, &r), 0); /* modify */
    CU_ASSERT_EQUAL(wait_pres_heard(&h, 2, 0), 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, "e2", "e3", NOW + 90, NULL, NOW + 2, &r), 0); /* refresh */
    CU_ASSERT_EQUAL(wait_pres_heard(&h, 3, 0), 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, "nope", "e9", NOW + 90, NULL, NOW + 2, &r), 412);
    CU_ASSERT_EQUAL(do_pres(ALICE, "e3", NULL, 0, NULL, NOW + 3, &r), 0); /* remove */
    CU_ASSERT_EQUAL(wait_pres_heard(&h, 4, 0), 0);
    CU_ASSERT_EQUAL(pres_heard_count(&h, ALICE), 4);

    CU_ASSERT_EQUAL(do_pres(BOB, NULL, "b1", NOW + 10, "<b1/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(do_pres(BOB, NULL, "b2", NOW + 10, "<b2/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(do_pres(CAROL, NULL, "c1", NOW + 10, "<c1/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "a1", NOW + 100, "<a1/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(wait_pres_heard(&h, 8, 0), 0);
    CU_ASSERT_EQUAL(do_pres_expire(NOW + 5, &r), 0); /* removes nothing */
    CU_ASSERT_EQUAL(r.nstrs, 0);
    CU_ASSERT_EQUAL(do_pres_expire(NOW + 20, &r), 0);
    CU_ASSERT_EQUAL(r.nstrs, 2);
    CU_ASSERT_EQUAL(wait_pres_heard(&h, 10, 0), 0);
    CU_ASSERT_EQUAL(pres_heard_count(&h, BOB), 3); /* b1, b2, and one for the expiry of both */
    CU_ASSERT_EQUAL(pres_heard_count(&h, CAROL), 2);
    CU_ASSERT_EQUAL(pres_heard_count(&h, ALICE), 5);
    CU_ASSERT(h.n >= 10 && strcmp(h.aor[8], h.aor[9]) != 0 &&
              (strcmp(h.aor[8], BOB) == 0 || strcmp(h.aor[8], CAROL) == 0));

    /* A's own change is announced to A too */
    res_free(&r);
    outstanding++;
    store_pres_publish(a, CAROL, NULL, "c2", NOW + 60, "application/pidf+xml", "<c2/>", 5, NOW,
                       on_pres, &r);
    CU_ASSERT_EQUAL(finish(&r), 0);
    CU_ASSERT_EQUAL(wait_pres_heard(&h, 11, 0), 0);
    CU_ASSERT_EQUAL(pres_heard_count(&h, CAROL), 3);

    run_for(100);
    CU_ASSERT_EQUAL(h.n, 11);
    CU_ASSERT_EQUAL(h.nmissed, 0);
    res_free(&r);
    store_destroy(a);
}

/* One listening connection serves both listeners, routed by channel. Killing its backend: it
 * reconnects and each listener hears its "missed" call once ((NULL, 0) and (NULL)), then what
 * follows. Clearing one listener keeps the connection for the other; clearing both closes it. */
static void test_pg_pres_and_im_listeners_share_the_connection_and_both_say_missed(void)
{
    struct store *a = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_TRUE_FATAL(wait_available(a));
    static struct heard hi;
    static struct pres_heard hp;
    memset(&hi, 0, sizeof hi);
    memset(&hp, 0, sizeof hp);
    store_pres_set_listener(a, on_pres_heard, &hp);
    store_im_set_listener(a, on_heard, &hi);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));

    struct res r = {0};
    CU_ASSERT_EQUAL(publish_simple(BOB, "im", NOW, NULL), 1);
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "e1", NOW + 60, "<open/>", NOW, &r), 0);
    CU_ASSERT_EQUAL(wait_heard(&hi, 1, 0), 0);
    CU_ASSERT_EQUAL(wait_pres_heard(&hp, 1, 0), 0);
    CU_ASSERT_EQUAL(heard_count(&hi, BOB, 1), 1);
    CU_ASSERT_EQUAL(pres_heard_count(&hp, ALICE), 1);

    CU_ASSERT_EQUAL(admin_scalar("SELECT count(pg_terminate_backend(pid, 5000)) " LISTEN_BACKEND),
                    1);
    CU_ASSERT_EQUAL(wait_heard(&hi, 1, 1), 0);
    CU_ASSERT_EQUAL(wait_pres_heard(&hp, 1, 1), 0);
    CU_ASSERT_TRUE_FATAL(wait_listening(1)); /* a new one */
    CU_ASSERT_EQUAL(do_pres(ALICE, "e1", "e2", NOW + 60, "<closed/>", NOW + 1, &r), 0);
    CU_ASSERT_EQUAL(publish_simple(BOB, "im", NOW, NULL), 2);
    CU_ASSERT_EQUAL(wait_pres_heard(&hp, 2, 1), 0);
    CU_ASSERT_EQUAL(wait_heard(&hi, 2, 1), 0);
    CU_ASSERT_EQUAL(pres_heard_count(&hp, ALICE), 2);
    CU_ASSERT_EQUAL(heard_count(&hi, BOB, 2), 1);

    /* the IM listener goes; the presence one still hears, on the same session */
    store_im_set_listener(a, NULL, NULL);
    CU_ASSERT_EQUAL(publish_simple(BOB, "im", NOW, NULL), 3);
    CU_ASSERT_EQUAL(do_pres(ALICE, "e2", NULL, 0, NULL, NOW + 2, &r), 0);
    CU_ASSERT_EQUAL(wait_pres_heard(&hp, 3, 1), 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) " LISTEN_BACKEND), 1);
    /* and the presence one too: the session closes */
    store_pres_set_listener(a, NULL, NULL);
    CU_ASSERT_EQUAL(do_pres(ALICE, NULL, "e3", NOW + 60, "<open/>", NOW + 3, &r), 0);
    run_for(200);
    CU_ASSERT_TRUE(wait_listening(0));
    CU_ASSERT_EQUAL(hp.n, 3);
    CU_ASSERT_EQUAL(hp.nmissed, 1);
    CU_ASSERT_EQUAL(hi.n, 2);
    CU_ASSERT_EQUAL(hi.nmissed, 1);
    CU_ASSERT_EQUAL(hi.nbad, 0);
    res_free(&r);
    store_destroy(a);
}

/* A sipd_pres payload is the AOR (1..4000 bytes): an empty or longer one is dropped; the memory
 * store never calls a presence listener. */
static void test_pg_pres_listener_ignores_malformed_payloads(void)
{
    struct store *a = store_create(fx.loop, LISTEN_CONNINFO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    static struct pres_heard h;
    memset(&h, 0, sizeof h);
    store_pres_set_listener(a, on_pres_heard, &h);
    CU_ASSERT_TRUE_FATAL(wait_listening(1));
    CU_ASSERT_EQUAL(admin_exec("NOTIFY sipd_pres, 'sip:first@example.com'"), 0);
    CU_ASSERT_EQUAL(admin_exec("NOTIFY sipd_pres"), 0);
    CU_ASSERT_EQUAL(admin_exec("SELECT pg_notify('sipd_pres', repeat('a', 4001))"), 0);
    CU_ASSERT_EQUAL(admin_exec("SELECT pg_notify('sipd_pres', repeat('b', 4000))"), 0);
    CU_ASSERT_EQUAL(admin_exec("NOTIFY sipd_pres, 'sip:last@example.com'"), 0);
    CU_ASSERT_EQUAL(wait_pres_heard(&h, 3, 0), 0);
    run_for(100);
    CU_ASSERT_EQUAL_FATAL(h.n, 3);
    CU_ASSERT_STRING_EQUAL(h.aor[0], "sip:first@example.com");
    CU_ASSERT_EQUAL(h.aor[1][0], 'b');
    CU_ASSERT_STRING_EQUAL(h.aor[2], "sip:last@example.com");
    CU_ASSERT_EQUAL(h.nmissed, 0);
    store_destroy(a);

    struct store *m = store_create(fx.loop, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    store_pres_set_listener(m, on_pres_heard, &h);
    store_pres_set_listener(m, NULL, NULL);
    store_destroy(m);
}

static void on_topic_counted(void *arg, int status, const struct im_topic_info *info)
{
    (void)info;
    on_status(arg, status);
}
static void on_publish_counted(void *arg, int status, int64_t a, int64_t b, int c)
{
    (void)a, (void)b, (void)c;
    on_status(arg, status);
}
static void on_messages_counted(void *arg, int status, const struct im_message *v, size_t n,
                                int64_t f, int64_t l)
{
    (void)v, (void)n, (void)f, (void)l;
    on_status(arg, status);
}
static void on_strings_counted(void *arg, int status, const char *const *v, size_t n)
{
    (void)v, (void)n;
    on_status(arg, status);
}
static void on_position_counted(void *arg, int status, int64_t pos)
{
    (void)pos;
    on_status(arg, status);
}
static void on_pres_counted(void *arg, int status, const struct pres_publication *v, size_t n)
{
    (void)v, (void)n;
    on_status(arg, status);
}

/* Every operation once on st; each result's status into r[0..11]. */
static void submit_every_op(struct store *st, struct res r[12])
{
    const char *const members[] = {ALICE};
    struct im_publish p = mkpub(BOB, ALICE, "every@test", 1, "x", NOW);
    outstanding += 12;
    store_im_topic(st, BOB, ALICE, NOW, &keep_all, on_topic_counted, &r[0]);
    store_im_publish(st, &p, on_publish_counted, &r[1]);
    store_im_read(st, BOB, 0, 10, NOW, &keep_all, on_messages_counted, &r[2]);
    store_im_group_create(st, GROUP, members, 1, on_status, &r[3]);
    store_im_members(st, GROUP, on_strings_counted, &r[4]);
    store_im_group_delete(st, GROUP, on_status, &r[5]);
    store_im_position_get(st, BOB, BOB, "dev", 0, on_position_counted, &r[6]);
    store_im_position_advance(st, BOB, BOB, "dev", 1, on_status, &r[7]);
    store_im_expire(st, NOW, &keep_all, on_status, &r[8]);
    store_pres_publish(st, ALICE, NULL, "e1", NOW + 60, "text/plain", "x", 1, NOW, on_pres_counted,
                       &r[9]);
    store_pres_get(st, ALICE, NOW, on_pres_counted, &r[10]);
    store_pres_expire(st, NOW, on_strings_counted, &r[11]);
}

static void test_pg_unreachable_server_fails_every_op_with_eunavail(void)
{
    struct store *bad = store_create(fx.loop, "postgresql://127.0.0.1:1/x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    struct res r[12];
    memset(r, 0, sizeof r);
    submit_every_op(bad, r);
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int i = 0; i < 12; i++) {
        CU_ASSERT_EQUAL(r[i].ndone, 1);
        CU_ASSERT_EQUAL(r[i].status, STORE_EUNAVAIL);
    }
    /* done may be NULL where store.h says so */
    store_im_expire(bad, NOW, &keep_all, NULL, NULL);
    store_pres_expire(bad, NOW, NULL, NULL);
    store_im_position_advance(bad, BOB, BOB, "dev", 1, NULL, NULL);
    CU_ASSERT_EQUAL(store_pending(bad), 0);
    store_destroy(bad);
}

/* The server kills the store's sessions under pending operations: each completes once, with
 * STORE_EUNAVAIL or (already reconnected, or done before the kill) 0; then it works again and
 * the topic's seqs are still dense. */
static void test_pg_lost_connections_fail_pending_ops_and_seqs_stay_dense(void)
{
    struct store *st = store_create(fx.loop, "postgresql://?application_name=sipd_test_im_loss");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_TRUE_FATAL(wait_available(st));
    enum { N = 30 };
    struct res r[N];
    struct im_publish p[N];
    char call_ids[N][32];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        snprintf(call_ids[i], sizeof call_ids[i], "loss-%d@test", i);
        p[i] = mkpub(BOB, ALICE, call_ids[i], 1, "body", NOW);
        outstanding++;
        store_im_publish(st, &p[i], on_publish, &r[i]);
    }
    CU_ASSERT(admin_scalar("SELECT count(pg_terminate_backend(pid, 5000)) FROM "
                           "pg_stat_activity WHERE application_name = 'sipd_test_im_loss'") >= 1);
    struct res every[12];
    memset(every, 0, sizeof every);
    submit_every_op(st, every);
    CU_ASSERT_EQUAL_FATAL(wait_all(), 0);
    int nok = 0;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(r[i].ndone, 1);
        CU_ASSERT(r[i].status == 0 || r[i].status == STORE_EUNAVAIL);
        nok += r[i].status == 0;
    }
    for (int i = 0; i < 12; i++) {
        CU_ASSERT_EQUAL(every[i].ndone, 1);
        CU_ASSERT(every[i].status >= 0 || every[i].status == STORE_EUNAVAIL);
    }
    CU_ASSERT_EQUAL(store_pending(st), 0);

    /* back by itself; what was stored is dense, and retrying the failed ones (as a balancer
     * would) stores each exactly once */
    CU_ASSERT_TRUE_FATAL(wait_available(st));
    int nfailed = N - nok;
    for (int tries = 0; tries < 50 && nfailed; tries++) {
        nfailed = 0;
        for (int i = 0; i < N; i++) {
            if (r[i].status == 0)
                continue;
            memset(&r[i], 0, sizeof r[i]);
            outstanding++;
            store_im_publish(st, &p[i], on_publish, &r[i]);
            CU_ASSERT_EQUAL(wait_all(), 0);
            nfailed += r[i].status != 0;
        }
        if (nfailed)
            run_for(100);
    }
    CU_ASSERT_EQUAL(nfailed, 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM messages WHERE topic = '" BOB "'"), N);
    CU_ASSERT_EQUAL(admin_scalar("SELECT max(seq) FROM messages WHERE topic = '" BOB "'"), N);
    CU_ASSERT_EQUAL(admin_scalar("SELECT last_seq FROM topics WHERE uri = '" BOB "'"), N);
    store_destroy(st);
}

static void test_pg_init_db_applies_002(void)
{
    CU_ASSERT_EQUAL(store_init_db("postgresql://", fx.schema_dir), 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM schema_migrations WHERE version = 2"), 1);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM information_schema.columns WHERE"
                                 " table_name = 'messages' AND column_name IN ('call_id',"
                                 " 'from_tag', 'cseq', 'is_copy')"),
                    4);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM information_schema.tables WHERE"
                                 " table_name = 'im_positions'"),
                    1);
}

/* ---- suites ---------------------------------------------------------------------------------- */

static int pg_init(void) { return fx_pg_init("store_im_postgres"); }

static void pg_setup(void) { fx_pg_setup("TRUNCATE topics, topic_members, messages, im_positions, presentities, subscriptions"); }

static const struct test_case shared_cases[] = {
    TEST_CASE(test_im_active_topics_and_group_members),
    TEST_CASE(test_im_publish_assigns_1_2_3_and_topic_info_follows),
    TEST_CASE(test_im_copy_gets_its_own_seq_in_the_copy_topic),
    TEST_CASE(test_im_read_after_seq_with_max),
    TEST_CASE(test_im_retention_by_count_moves_first_seq_and_reads_skip_discarded),
    TEST_CASE(test_im_retention_by_age_moves_first_seq_and_reads_skip_discarded),
    TEST_CASE(test_im_retention_by_count_and_age_together),
    TEST_CASE(test_im_duplicate_within_32s_returns_the_same_seqs_and_stores_nothing),
    TEST_CASE(test_im_same_request_after_32s_is_stored_again),
    TEST_CASE(test_im_binary_body_with_nul_round_trips),
    TEST_CASE(test_im_one_mib_body_round_trips),
    TEST_CASE(test_im_group_create_conflict_members_delete),
    TEST_CASE(test_im_group_create_over_a_user_topic_with_messages_is_409),
    TEST_CASE(test_im_topics_list_by_uri_with_kinds_seqs_members_and_pages),
    TEST_CASE(test_im_member_add_and_remove),
    TEST_CASE(test_im_position_get_initialises_from_the_aors_devices_else_initial),
    TEST_CASE(test_im_position_advance_keeps_the_maximum),
    TEST_CASE(test_im_many_publishes_in_flight_keep_their_order),
    TEST_CASE(test_pres_initial_publish_and_get),
    TEST_CASE(test_pres_unknown_or_expired_etag_is_412),
    TEST_CASE(test_pres_refresh_modify_remove),
    TEST_CASE(test_pres_binary_body_round_trips),
    TEST_CASE(test_pres_expire_reports_each_aor_that_lost_one),
};

static const struct test_case pg_cases[] = {
    TEST_CASE(test_pg_two_stores_publish_concurrently_dense_unique_seqs),
    TEST_CASE(test_pg_concurrent_publish_under_serializable_default),
    TEST_CASE(test_pg_failed_write_fails_only_itself),
    TEST_CASE(test_pg_publish_retried_on_serialization_failure),
    TEST_CASE(test_pg_unfit_parameters_fail_with_efail),
    TEST_CASE(test_pg_publish_notifies_sipd_im),
    TEST_CASE(test_pg_listener_hears_publishes_of_another_store_with_the_copy),
    TEST_CASE(test_pg_listener_hears_nothing_for_a_duplicate),
    TEST_CASE(test_pg_listener_reconnects_after_its_backend_is_killed_and_says_missed),
    TEST_CASE(test_pg_listener_set_null_stops_calls_and_closes_its_session),
    TEST_CASE(test_pg_listener_ignores_malformed_payloads),
    TEST_CASE(test_pg_listener_may_stop_or_destroy_from_its_call),
    TEST_CASE(test_pg_pres_listener_hears_every_change_of_another_store),
    TEST_CASE(test_pg_pres_and_im_listeners_share_the_connection_and_both_say_missed),
    TEST_CASE(test_pg_pres_listener_ignores_malformed_payloads),
    TEST_CASE(test_pg_unreachable_server_fails_every_op_with_eunavail),
    TEST_CASE(test_pg_lost_connections_fail_pending_ops_and_seqs_stay_dense),
    TEST_CASE(test_pg_init_db_applies_002),
};

void register_store_im_suites(void)
{
    fx_register_suites("store_im_memory", "store_im_postgres", pg_init, pg_setup, shared_cases,
                       NCASES(shared_cases), NULL, 0, pg_cases, NCASES(pg_cases));
}
