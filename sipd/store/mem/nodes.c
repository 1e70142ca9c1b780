/* nodes.c - the in-memory store's node table (store.h: "cluster: the node table").
 *
 * One process, so the table holds at most the rows this process writes (its own row, and what a
 * test or a balancer in the same process puts there). Rows live in ms->nodes by nid ascending:
 * nids only grow and rows are never deleted, so appending keeps the order. The heartbeat
 * history (`heartbeats` in PostgreSQL) is not kept: nothing in the process reads it.
 *
 * The listener hears of the changes the postgres trigger announces (a new row; a change of
 * address, status, waiting, max_num, roles or draining; not of the load and heartbeat columns),
 * after the operation's own callback has run. */
#include <stdlib.h>
#include <string.h>

#include "mem_impl.h"

struct mem_node {
    int nid;
    char *name, *address, *roles;
    int status, waiting, draining, work_num, max_num;
    int64_t last_heartbeat_ms;
    double rtt_ms;
    int is_changed; /* beats: to announce once the batch is written */
};

void mem_nodes_free_all(struct mem_store *ms)
{
    for (size_t i = 0; i < ms->nnodes; i++) {
        free(ms->nodes[i].name);
        free(ms->nodes[i].address);
        free(ms->nodes[i].roles);
    }
    free(ms->nodes);
    ms->nodes = NULL;
    ms->nnodes = ms->nodes_cap = 0;
}

static struct node_row row_of(const struct mem_node *n)
{
    return (struct node_row){.nid = n->nid, .name = n->name, .address = n->address,
                             .roles = n->roles, .status = n->status, .waiting = n->waiting,
                             .draining = n->draining, .work_num = n->work_num,
                             .max_num = n->max_num, .last_heartbeat_ms = n->last_heartbeat_ms,
                             .rtt_ms = n->rtt_ms};
}

static struct mem_node *find_name(struct mem_store *ms, const char *name)
{
    for (size_t i = 0; name && i < ms->nnodes; i++)
        if (strcmp(ms->nodes[i].name, name) == 0)
            return &ms->nodes[i];
    return NULL;
}

/* By nid: the rows are in nid order. */
static struct mem_node *find_nid(struct mem_store *ms, int nid)
{
    size_t lo = 0, hi = ms->nnodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ms->nodes[mid].nid == nid)
            return &ms->nodes[mid];
        if (ms->nodes[mid].nid < nid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void announce(struct mem_store *ms, int nid)
{
    if (ms->nodes_cb)
        ms->nodes_cb(ms->nodes_arg, nid);
}

/* Replace *field by a copy of s when they differ: 1 changed, 0 same, -1 out of memory. */
static int set_text(char **field, const char *s)
{
    if (*field && strcmp(*field, s) == 0)
        return 0;
    char *d = strdup(s);
    if (!d)
        return -1;
    free(*field);
    *field = d;
    return 1;
}

void mem_node_upsert(struct store *st, const struct node_row *self, store_nodes_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    if (!self || !self->name || !*self->name || !self->address) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    const char *roles = self->roles ? self->roles : "";
    struct mem_node *n = find_name(ms, self->name);
    int is_new = n == NULL;
    if (is_new && ms->nnodes == ms->nodes_cap) {
        size_t cap = ms->nodes_cap ? 2 * ms->nodes_cap : 8;
        struct mem_node *v = realloc(ms->nodes, cap * sizeof *v);
        if (!v) {
            done(arg, STORE_EFAIL, NULL, 0);
            return;
        }
        ms->nodes = v;
        ms->nodes_cap = cap;
    }
    if (is_new) {
        struct mem_node fresh = {.nid = ms->last_nid + 1, .rtt_ms = -1};
        if (set_text(&fresh.name, self->name) < 0 || set_text(&fresh.address, self->address) < 0 ||
            set_text(&fresh.roles, roles) < 0) {
            free(fresh.name);
            free(fresh.address);
            free(fresh.roles);
            done(arg, STORE_EFAIL, NULL, 0);
            return;
        }
        n = &ms->nodes[ms->nnodes++];
        *n = fresh;
        ms->last_nid++;
    }
    int a = set_text(&n->address, self->address), r = set_text(&n->roles, roles);
    if (a < 0 || r < 0) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    int waiting = self->waiting != 0, max_num = self->max_num > 0 ? self->max_num : 0;
    int is_changed = is_new || a || r || n->status != 1 || n->waiting != waiting ||
                     n->max_num != max_num;
    n->status = 1;
    n->waiting = waiting;
    n->max_num = max_num;
    int nid = n->nid;
    struct node_row row = row_of(n);
    done(arg, 0, &row, 1);
    if (is_changed)
        announce(ms, nid);
}

/* status or draining of row `name` to v (0/1): 0, or 404 without such a row. */
static void set_flag(struct store *st, const char *name, int is_status, int v, store_status_cb done,
                     void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_node *n = find_name(ms, name);
    if (!n) {
        if (done)
            done(arg, 404);
        return;
    }
    int *field = is_status ? &n->status : &n->draining;
    int is_changed = *field != (v != 0);
    *field = v != 0;
    int nid = n->nid;
    if (done)
        done(arg, 0);
    if (is_changed)
        announce(ms, nid);
}

void mem_node_set_status(struct store *st, const char *name, int status, store_status_cb done,
                         void *arg)
{
    set_flag(st, name, 1, status, done, arg);
}

void mem_node_set_draining(struct store *st, const char *name, int draining,
                           store_status_cb done, void *arg)
{
    set_flag(st, name, 0, draining, done, arg);
}

void mem_nodes_load(struct store *st, store_nodes_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct node_row *v = ms->nnodes ? calloc(ms->nnodes, sizeof *v) : NULL;
    if (ms->nnodes && !v) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    size_t n = ms->nnodes;
    for (size_t i = 0; i < n; i++)
        v[i] = row_of(&ms->nodes[i]);
    done(arg, 0, v, n);
    free(v);
}

void mem_node_beats(struct store *st, const struct node_beat *v, size_t n, store_status_cb done,
                    void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    int any_changed = 0;
    for (size_t i = 0; v && i < n; i++) {
        struct mem_node *nd = find_nid(ms, v[i].nid);
        if (!nd)
            continue;
        int status = v[i].status < 0 ? nd->status : v[i].status != 0; /* -1: unchanged */
        if (nd->status != status) {
            nd->status = status;
            nd->is_changed = any_changed = 1;
        }
        if (v[i].ok) {
            nd->work_num = v[i].work_num > 0 ? v[i].work_num : 0;
            nd->last_heartbeat_ms = v[i].at_ms;
            nd->rtt_ms = v[i].rtt_ms;
        }
    }
    if (done)
        done(arg, 0);
    /* by index: a listener may write the table (an upsert appends) */
    for (size_t i = 0; any_changed && i < ms->nnodes; i++) {
        if (ms->nodes[i].is_changed) {
            ms->nodes[i].is_changed = 0;
            announce(ms, ms->nodes[i].nid);
        }
    }
}

void mem_node_promote(struct store *st, int nid, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_node *n = find_nid(ms, nid);
    if (!n || !n->waiting) {
        if (done)
            done(arg, 409);
        return;
    }
    n->waiting = 0;
    if (done)
        done(arg, 0);
    announce(ms, nid);
}

void mem_nodes_set_listener(struct store *st, store_nodes_notify_cb cb, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    ms->nodes_cb = cb;
    ms->nodes_arg = cb ? arg : NULL;
}
