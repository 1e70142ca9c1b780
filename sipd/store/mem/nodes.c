/* nodes.c - the in-memory store's node table (store.h: "cluster: the node table").
 *
 * One process, so the table holds at most the rows this process writes (its own row, and what a
 * test or a balancer in the same process puts there). Rows live in ms->nodes by nid ascending:
 * nids only grow, so appending keeps the order, and removing a row (the control plane) closes the
 * gap. The heartbeat history (`heartbeats` in PostgreSQL) is a ring of STORE_HEARTBEAT_HISTORY
 * beats per row, allocated at the first beat, for the control plane's heartbeats route.
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
    struct node_beat *history; /* ring of STORE_HEARTBEAT_HISTORY, NULL before the first beat */
    size_t nhistory, history_next;
};

static void node_free(struct mem_node *n)
{
    free(n->name);
    free(n->address);
    free(n->roles);
    free(n->history);
}

void mem_nodes_free_all(struct mem_store *ms)
{
    for (size_t i = 0; i < ms->nnodes; i++)
        node_free(&ms->nodes[i]);
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

/* A new row named `name` at the end of the table (status 0, draining 0, nothing measured yet);
 * NULL when memory ran out. */
static struct mem_node *append_row(struct mem_store *ms, const char *name, const char *address,
                                   const char *roles)
{
    if (ms->nnodes == ms->nodes_cap) {
        size_t cap = ms->nodes_cap ? 2 * ms->nodes_cap : 8;
        struct mem_node *v = realloc(ms->nodes, cap * sizeof *v);
        if (!v)
            return NULL;
        ms->nodes = v;
        ms->nodes_cap = cap;
    }
    struct mem_node fresh = {.nid = ms->last_nid + 1, .rtt_ms = -1};
    if (set_text(&fresh.name, name) < 0 || set_text(&fresh.address, address) < 0 ||
        set_text(&fresh.roles, roles) < 0) {
        node_free(&fresh);
        return NULL;
    }
    ms->last_nid++;
    ms->nodes[ms->nnodes] = fresh;
    return &ms->nodes[ms->nnodes++];
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
    if (is_new && !(n = append_row(ms, self->name, self->address, roles))) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
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

/* Keep beat b in n's history (as PostgreSQL's: work_num and rtt only when it answered). */
static void remember_beat(struct mem_node *n, const struct node_beat *b)
{
    if (!n->history && !(n->history = calloc(STORE_HEARTBEAT_HISTORY, sizeof *n->history)))
        return; /* the history is a convenience: the beat itself was written */
    n->history[n->history_next] = (struct node_beat){
        .nid = n->nid, .ok = b->ok != 0, .status = -1, .at_ms = b->at_ms,
        .work_num = b->ok ? (b->work_num > 0 ? b->work_num : 0) : -1,
        .rtt_ms = b->ok ? b->rtt_ms : -1.0};
    n->history_next = (n->history_next + 1) % STORE_HEARTBEAT_HISTORY;
    if (n->nhistory < STORE_HEARTBEAT_HISTORY)
        n->nhistory++;
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
        remember_beat(nd, &v[i]);
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

/* ---- the control plane ---- */

void mem_node_add(struct store *st, const struct node_row *row, store_nodes_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    if (!row || !row->name || !*row->name || !row->address) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    if (find_name(ms, row->name)) {
        done(arg, 409, NULL, 0);
        return;
    }
    struct mem_node *n = append_row(ms, row->name, row->address, row->roles ? row->roles : "");
    if (!n) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    n->waiting = row->waiting != 0;
    n->max_num = row->max_num > 0 ? row->max_num : 0;
    int nid = n->nid;
    struct node_row out = row_of(n);
    done(arg, 0, &out, 1);
    announce(ms, nid);
}

void mem_node_change(struct store *st, const char *name, int max_num, int waiting, int draining,
                     store_nodes_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_node *n = find_name(ms, name);
    if (!n) {
        done(arg, 404, NULL, 0);
        return;
    }
    int is_changed = 0;
    if (max_num > 0 && n->max_num != max_num)
        n->max_num = max_num, is_changed = 1;
    if (waiting >= 0 && n->waiting != (waiting != 0))
        n->waiting = waiting != 0, is_changed = 1;
    if (draining >= 0 && n->draining != (draining != 0))
        n->draining = draining != 0, is_changed = 1;
    int nid = n->nid;
    struct node_row out = row_of(n);
    done(arg, 0, &out, 1);
    if (is_changed)
        announce(ms, nid);
}

void mem_node_remove(struct store *st, const char *name, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_node *n = find_name(ms, name);
    int status = !n ? 404 : n->status && !(n->draining && n->work_num == 0) ? 409 : 0;
    int nid = n ? n->nid : 0;
    if (status == 0) {
        node_free(n);
        size_t i = (size_t)(n - ms->nodes);
        memmove(n, n + 1, (ms->nnodes - i - 1) * sizeof *n);
        ms->nnodes--;
    }
    if (done)
        done(arg, status);
    if (status == 0)
        announce(ms, nid);
}

void mem_node_heartbeats(struct store *st, const char *name, size_t max, store_beats_cb done,
                         void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_node *n = find_name(ms, name);
    if (!n) {
        done(arg, 404, NULL, 0);
        return;
    }
    struct node_beat v[STORE_HEARTBEAT_HISTORY];
    size_t k = 0;
    for (; k < n->nhistory && k < max; k++) /* newest first: backwards from the last written */
        v[k] = n->history[(n->history_next + STORE_HEARTBEAT_HISTORY - 1 - k) % STORE_HEARTBEAT_HISTORY];
    done(arg, 0, v, k);
}
