/* h_nodes.c - /api/v1/nodes: the node table (docs/api.md "Nodes", docs/cluster.md).
 *
 * Reads come from the store (PostgreSQL: the shared table every balancer writes heartbeats to;
 * memory: this process's table). Writes change the row; the store's nodes listener carries the
 * change to every balancer and to the node itself (LISTEN sipd_nodes). */
#include "api_impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "store/store.h"

static int64_t unix_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* "down", "standby", "draining", "drained" or "active", from the row. */
static const char *row_state(const struct node_row *n)
{
    if (!n->status)
        return "down";
    if (n->draining)
        return n->work_num == 0 ? "drained" : "draining";
    return n->waiting ? "standby" : "active";
}

static json_t *roles_array(const char *roles)
{
    json_t *a = json_array();
    const char *p = roles ? roles : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n)
            json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return a;
}

json_t *api_node_json(const struct node_row *n)
{
    int64_t now = unix_ms();
    json_t *o = json_pack("{s:i, s:s, s:s, s:o, s:i, s:b, s:b, s:b, s:s, s:i, s:i, s:f}",
                          "nid", n->nid, "name", n->name, "address", n->address ? n->address : "",
                          "roles", roles_array(n->roles), "status", n->status, "up", n->status != 0,
                          "standby", n->waiting != 0, "draining", n->draining != 0, "state",
                          row_state(n), "work_num", n->work_num, "max_num", n->max_num, "load",
                          n->max_num > 0 ? (double)n->work_num / n->max_num : 0.0);
    if (!o)
        return NULL;
    if (n->last_heartbeat_ms > 0) {
        json_object_set_new(o, "last_heartbeat_ms", json_integer(n->last_heartbeat_ms));
        json_object_set_new(o, "heartbeat_age_ms",
                            json_integer(now > n->last_heartbeat_ms ? now - n->last_heartbeat_ms : 0));
    } else {
        json_object_set_new(o, "last_heartbeat_ms", json_null());
        json_object_set_new(o, "heartbeat_age_ms", json_null());
    }
    json_object_set_new(o, "rtt_ms", n->rtt_ms >= 0 ? json_real(n->rtt_ms) : json_null());
    return o;
}

/* ---- list and get ---- */

static void on_nodes(void *arg, int status, const struct node_row *v, size_t n)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error", "the node table could not be read");
        return;
    }
    const char *name = j->s[0];
    if (name) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].name, name) == 0) {
                api_job_done(j, (int)j->n[0] ? (int)j->n[0] : 200, api_node_json(&v[i]));
                return;
            }
        api_job_error(j, 404, "not found", "no node named %.64s", name);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, api_node_json(&v[i]));
    api_job_done(j, 200, json_pack("{s:o, s:n}", "items", items, "next"));
}

static void nodes_run(struct api_job *j)
{
    store_nodes_load(j->api->ctx.store, on_nodes, j);
}

void api_h_nodes_list(struct api_req *r)
{
    api_job_call(r, api_job_new(r->api, nodes_run));
}

void api_h_node_get(struct api_req *r)
{
    api_job_call(r, api_job_for(r, nodes_run));
}

/* ---- drain: check the row exists, set the flag, answer with the row as it now is ---- */

static void drain_set(void *arg, int status)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error", "the node could not be changed");
        return;
    }
    store_nodes_load(j->api->ctx.store, on_nodes, j);
}

static void drain_found(void *arg, int status, const struct node_row *v, size_t n)
{
    struct api_job *j = arg;
    size_t i = 0;
    while (status == 0 && i < n && strcmp(v[i].name, j->s[0]) != 0)
        i++;
    if (status != 0 || i == n) {
        on_nodes(j, status, v, n); /* the error, or the 404 */
        return;
    }
    store_node_set_draining(j->api->ctx.store, j->s[0], (int)j->n[1], drain_set, j);
}

static void drain_run(struct api_job *j)
{
    store_nodes_load(j->api->ctx.store, drain_found, j);
}

void api_h_node_drain(struct api_req *r)
{
    struct api_job *j = api_job_for(r, drain_run);
    if (j)
        j->n[1] = 1; /* draining */
    api_job_call(r, j);
}
