/* pg.c - the PostgreSQL store backend (a cluster of nodes shares one database): the store
 * interface, create and destroy. How it works is told in pg_impl.h and in each file's header. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "../../base/metrics.h"
#include "pg_impl.h"

/* ---- the store interface --------------------------------------------------------------------- */


static int pg_is_available(const struct store *st)
{
    const struct pg_store *ps = pg_of(st);
    return !ps->is_destroyed && pg_any_ready(ps);
}

static size_t pg_pending(const struct store *st) { return pg_of(st)->nuser; }

static void pg_destroy(struct store *st)
{
    struct pg_store *ps = pg_of(st);
    pg_enter(ps);
    ps->is_destroyed = 1;
    pg_listen_stop(ps);
    loop_timer_stop(ps->base.loop, &ps->pump_timer);
    for (int i = 0; i < PG_CONNECTIONS; i++) {
        loop_timer_stop(ps->base.loop, &ps->conns[i].retry_timer);
        pg_conn_close(&ps->conns[i]);
    }
    for (int i = 0; i < PG_CONNECTIONS; i++)
        pg_conn_fail_ops(&ps->conns[i], STORE_EUNAVAIL);
    pg_leave(ps);
}

static void pg_set_registrations_sync_commit(struct store *st, int is_sync)
{
    pg_of(st)->reg_sync_commit = is_sync != 0;
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .destroy = pg_destroy,
    .is_available = pg_is_available,
    .pending = pg_pending,
    .location_update = pg_location_update,
    .location_update_optimistic = pg_location_update_optimistic,
    .location_lookup = pg_location_lookup,
    .location_expire = pg_location_expire,
    .set_registrations_sync_commit = pg_set_registrations_sync_commit,
    .location_count = pg_location_count,
    .location_list = pg_location_list,
    .im_topic = pg_im_topic,
    .im_publish = pg_im_publish,
    .im_read = pg_im_read,
    .im_group_create = pg_im_group_create,
    .im_group_delete = pg_im_group_delete,
    .im_members = pg_im_members,
    .im_groups_of = pg_im_groups_of,
    .im_active_topics = pg_im_active_topics,
    .im_group_members = pg_im_group_members,
    .im_is_listening = pg_im_is_listening,
    .im_position_get = pg_im_position_get,
    .im_position_advance = pg_im_position_advance,
    .im_expire = pg_im_expire,
    .im_topics_list = pg_im_topics_list,
    .im_member_add = pg_im_member_add,
    .im_member_remove = pg_im_member_remove,
    .im_subs_list = pg_im_subs_list,
    .im_sub_put = pg_im_sub_put,
    .im_sub_delete = pg_im_sub_delete,
    .im_sub_release = pg_im_sub_release,
    .im_sub_orphans = pg_im_sub_orphans,
    .im_sub_claim = pg_im_sub_claim,
    .im_set_listener = pg_im_set_listener,
    .pres_publish = pg_pres_publish,
    .pres_get = pg_pres_get,
    .pres_expire = pg_pres_expire,
    .pres_set_listener = pg_pres_set_listener,
    .node_upsert = pg_node_upsert,
    .node_set_status = pg_node_set_status,
    .node_set_draining = pg_node_set_draining,
    .nodes_load = pg_nodes_load,
    .node_beats = pg_node_beats,
    .node_promote = pg_node_promote,
    .nodes_set_listener = pg_nodes_set_listener,
    .node_add = pg_node_add,
    .node_change = pg_node_change,
    .node_remove = pg_node_remove,
    .node_heartbeats = pg_node_heartbeats,
    .user_get = pg_user_get,
    .user_put = pg_user_put,
    .user_delete = pg_user_delete,
    .users_list = pg_users_list,
    .auth_secret = pg_auth_secret,
    .pres_rules_get = pg_pres_rules_get,
    .pres_rules_put = pg_pres_rules_put,
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
    ps->query_duration = metrics_histogram(
        metrics_default(), "sipd_store_query_duration_seconds",
        "PostgreSQL statements of the store's pipeline, from being sent to their result read "
        "(time queued behind earlier statements of the connection included).", NULL, 0);
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
    pg_enter(ps);
    for (int i = 0; i < PG_CONNECTIONS; i++)
        pg_conn_start(&ps->conns[i]);
    pg_leave(ps);
    return &ps->base;
}

