/* h_nodes.c - /api/v1/nodes: the node table (docs/api.md "Nodes", docs/cluster.md).
 *
 * Reads come from the store (PostgreSQL: the shared table every balancer writes heartbeats to;
 * memory: this process's table). Writes change the row; the store's nodes listener carries the
 * change to every balancer and to the node itself (LISTEN sipd_nodes). A row added here is down
 * (status 0) until a balancer's heartbeat finds the node answering at its address. */
#include "api_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "store/store.h"
#include "transport/addr.h"

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

json_t *api_node_json(const struct node_row *n)
{
    int64_t now = unix_ms();
    json_t *o = json_pack("{s:i, s:s, s:s, s:o, s:i, s:b, s:b, s:b, s:s, s:i, s:i, s:f}",
                          "nid", n->nid, "name", n->name, "address", n->address ? n->address : "",
                          "roles", api_csv_array(n->roles), "status", n->status, "up", n->status != 0,
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

/* ---- add ---- */

/* The role names --roles takes (config.c), the only ones a row may carry. */
static const char *const known_roles[] = {"registrar", "proxy", "broker", "balancer", "redirect",
                                          NULL};

static int is_known_role(const char *s, size_t n)
{
    for (size_t i = 0; known_roles[i]; i++)
        if (strlen(known_roles[i]) == n && strncmp(known_roles[i], s, n) == 0)
            return 1;
    return 0;
}

/* Append role s[0..n) to out ("a,b"); 0, or -1 with why. */
static int put_role(const char *s, size_t n, char *out, size_t outlen, char *why, size_t whylen)
{
    if (!is_known_role(s, n)) {
        snprintf(why, whylen, "unknown role \"%.*s\" (known: registrar, proxy, broker, balancer, "
                 "redirect)", (int)(n > 32 ? 32 : n), s);
        return -1;
    }
    size_t used = strlen(out);
    if (used + n + 2 > outlen) {
        snprintf(why, whylen, "too many roles");
        return -1;
    }
    snprintf(out + used, outlen - used, "%s%.*s", used ? "," : "", (int)n, s);
    return 0;
}

int api_roles_parse(const json_t *v, char *out, size_t outlen, char *why, size_t whylen)
{
    out[0] = '\0';
    if (json_is_string(v)) {
        const char *p = json_string_value(v);
        while (*p) {
            p += strspn(p, " ");
            size_t n = strcspn(p, ",");
            size_t m = n;
            while (m && p[m - 1] == ' ')
                m--;
            if (put_role(p, m, out, outlen, why, whylen) < 0)
                return -1;
            p += n + (p[n] == ',');
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                snprintf(why, whylen, "roles must be strings");
                return -1;
            }
            if (put_role(json_string_value(e), json_string_length(e), out, outlen, why, whylen) < 0)
                return -1;
        }
    } else {
        snprintf(why, whylen, "roles must be an array of role names or \"a,b\"");
        return -1;
    }
    if (!out[0]) {
        snprintf(why, whylen, "roles must name at least one role");
        return -1;
    }
    return 0;
}

int api_node_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return 0;
    return 1;
}

/* A body field that must be an integer > 0 when present: 0 ok (*out set or left), -1 answered. */
static int positive_field(struct api_req *r, json_t *body, const char *key, long *out)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > INT32_MAX) {
        api_reply_error(r, 400, "bad field", "%s must be an integer greater than 0", key);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

static int bool_field(struct api_req *r, json_t *body, const char *key, long *out)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        api_reply_error(r, 400, "bad field", "%s must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* The row as stored, with `status` (201 add, 200 change), or the store's verdict. */
static void on_row(void *arg, int status, const struct node_row *v, size_t n)
{
    struct api_job *j = arg;
    if (status == 409)
        api_job_error(j, 409, "exists", "a node named %.64s exists already", j->s[0]);
    else if (status == 404)
        api_job_error(j, 404, "not found", "no node named %.64s", j->s[0]);
    else if (status != 0 || n != 1)
        api_job_error(j, api_store_http_status(status ? status : STORE_EFAIL), "store error",
                      "the node table could not be changed");
    else
        api_job_done(j, (int)j->n[3], api_node_json(&v[0]));
}

static void add_run(struct api_job *j)
{
    struct node_row row = {.name = j->s[0], .address = j->s[1], .roles = j->s[2],
                           .max_num = (int)j->n[0], .waiting = (int)j->n[1]};
    store_node_add(j->api->ctx.store, &row, on_row, j);
}

void api_h_node_add(struct api_req *r)
{
    static const char *const allowed[] = {"name", "address", "roles", "max_num", "standby", NULL};
    json_t *body = api_body_object(r, allowed);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *address = json_string_value(json_object_get(body, "address"));
    json_t *roles = json_object_get(body, "roles");
    char role_list[128], why[160];
    struct sip_endpoint ep;
    long max_num = 1000, standby = 0;
    if (!name || !api_node_name_ok(name))
        api_reply_error(r, 400, "bad field",
                        "name is required: 1 to 63 characters of letters, digits, '.', '_', '-'");
    else if (!address || strlen(address) > 200 || sip_endpoint_parse(address, &ep) < 0)
        api_reply_error(r, 400, "bad field",
                        "address is required: udp:HOST:PORT or tcp:HOST:PORT (numeric host)");
    else if (!roles)
        api_reply_error(r, 400, "bad field", "roles is required");
    else if (api_roles_parse(roles, role_list, sizeof role_list, why, sizeof why) < 0)
        api_reply_error(r, 400, "bad field", "%s", why);
    else if (positive_field(r, body, "max_num", &max_num) == 0 &&
             bool_field(r, body, "standby", &standby) == 0) {
        struct api_job *j = api_job_new(r->api, add_run);
        if (j) { /* out of memory for a copy: the store refuses the row (500) */
            j->s[0] = strdup(name);
            j->s[1] = strdup(address);
            j->s[2] = strdup(role_list);
            j->n[0] = max_num;
            j->n[1] = standby;
            j->n[3] = 201;
        }
        api_job_call(r, j);
    }
    json_decref(body);
}

/* ---- change: PATCH (max_num, standby) and activate (draining and standby off) ---- */

static void change_run(struct api_job *j)
{
    store_node_change(j->api->ctx.store, j->s[0], (int)j->n[0], (int)j->n[1], (int)j->n[2], on_row,
                      j);
}

static void change_call(struct api_req *r, long max_num, long standby, long draining)
{
    struct api_job *j = api_job_for(r, change_run);
    if (j) {
        j->n[0] = max_num;
        j->n[1] = standby;
        j->n[2] = draining;
        j->n[3] = 200;
    }
    api_job_call(r, j);
}

void api_h_node_patch(struct api_req *r)
{
    static const char *const allowed[] = {"max_num", "standby", NULL};
    json_t *body = api_body_object(r, allowed);
    if (!body)
        return;
    long max_num = -1, standby = -1;
    if (positive_field(r, body, "max_num", &max_num) == 0 &&
        bool_field(r, body, "standby", &standby) == 0)
        change_call(r, max_num, standby, -1);
    json_decref(body);
}

void api_h_node_activate(struct api_req *r)
{
    change_call(r, -1, 0, 0);
}

/* ---- remove ---- */

static void on_removed(void *arg, int status)
{
    struct api_job *j = arg;
    if (status == 0)
        api_job_done(j, 204, NULL);
    else if (status == 404)
        api_job_error(j, 404, "not found", "no node named %.64s", j->s[0]);
    else if (status == 409)
        api_job_error(j, 409, "node is up",
                      "%.64s is up and not drained: drain it first (or stop it)", j->s[0]);
    else
        api_job_error(j, api_store_http_status(status), "store error",
                      "the node could not be removed");
}

static void remove_run(struct api_job *j)
{
    store_node_remove(j->api->ctx.store, j->s[0], on_removed, j);
}

void api_h_node_delete(struct api_req *r)
{
    api_job_call(r, api_job_for(r, remove_run));
}

/* ---- heartbeat history ---- */

static void on_beats(void *arg, int status, const struct node_beat *v, size_t n)
{
    struct api_job *j = arg;
    if (status == 404) {
        api_job_error(j, 404, "not found", "no node named %.64s", j->s[0]);
        return;
    }
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the heartbeat history could not be read");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            items, json_pack("{s:I, s:b, s:o, s:o}", "at_ms", (json_int_t)v[i].at_ms, "ok", v[i].ok,
                             "rtt_ms", v[i].rtt_ms >= 0 ? json_real(v[i].rtt_ms) : json_null(),
                             "work_num",
                             v[i].work_num >= 0 ? json_integer(v[i].work_num) : json_null()));
    api_job_done(j, 200, json_pack("{s:o, s:n}", "items", items, "next"));
}

static void beats_run(struct api_job *j)
{
    store_node_heartbeats(j->api->ctx.store, j->s[0], (size_t)j->n[0], on_beats, j);
}

void api_h_node_heartbeats(struct api_req *r)
{
    long limit;
    if (api_query_long(r, "limit", API_DEFAULT_LIMIT, 1, API_MAX_LIMIT, &limit) < 0)
        return;
    struct api_job *j = api_job_for(r, beats_run);
    if (j)
        j->n[0] = limit;
    api_job_call(r, j);
}
