/* select.c - the balancer's choice of node; see select.h. */
#include "select.h"

#include <string.h>
#include <strings.h>

unsigned cnode_roles_parse(const char *s)
{
    unsigned r = 0;
    while (s && *s) {
        s += strspn(s, "{}, \"");
        size_t l = strcspn(s, "{}, \"");
        if (l == 0)
            break;
        if (l == 9 && strncasecmp(s, "registrar", l) == 0)
            r |= CNODE_REGISTRAR;
        else if (l == 5 && strncasecmp(s, "proxy", l) == 0)
            r |= CNODE_PROXY;
        else if (l == 6 && strncasecmp(s, "broker", l) == 0)
            r |= CNODE_BROKER;
        else if (l == 8 && strncasecmp(s, "balancer", l) == 0)
            r |= CNODE_BALANCER;
        else if (l == 3 && strncasecmp(s, "all", l) == 0)
            r |= CNODE_REGISTRAR | CNODE_PROXY | CNODE_BROKER;
        s += l;
    }
    return r;
}

int cnode_eligible(const struct cnode *v, unsigned role, int for_topic)
{
    if (!(v->roles & role) || !v->up || v->draining || v->waiting || !v->dst.peerlen)
        return 0;
    /* the node's own word (Sipd-Load) counts as soon as it is heard, before the table's NOTIFY */
    if (strcmp(v->state, "draining") == 0 || strcmp(v->state, "drained") == 0)
        return 0;
    return for_topic || v->max_num <= 0 || v->work_num < v->max_num;
}

/* splitmix64 finaliser over FNV-1a: a well-mixed 64-bit weight. */
uint64_t cnode_weight(const char *name, const char *topic)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = topic; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

static unsigned long long cap(const struct cnode *c) { return c->max_num > 0 ? (unsigned)c->max_num : 1; }
static unsigned long long load(const struct cnode *c)
{
    return (unsigned long long)(c->work_num > 0 ? c->work_num : 0) + c->inflight;
}

/* The load fraction in steps of 1/LOAD_STEPS: a node's work_num is a snapshot up to a heartbeat
 * old, and a difference of one transaction between idle nodes says nothing; within one step the
 * nodes take turns by capacity. */
#define LOAD_STEPS 8
static unsigned long long load_step(const struct cnode *c) { return load(c) * LOAD_STEPS / cap(c); }

/* -1, 0, 1 as a's load step is below, equal to, above b's. */
static int cmp_load(const struct cnode *a, const struct cnode *b)
{
    unsigned long long x = load_step(a), y = load_step(b);
    return x < y ? -1 : x > y;
}

/* Is a a better choice than b? The lower load fraction; then the one whose turn it is; then the
 * larger capacity; then the lower nid (stable). */
static int less_loaded(const struct cnode *a, const struct cnode *b)
{
    int c = cmp_load(a, b);
    if (c)
        return c < 0;
    if (a->credit != b->credit)
        return a->credit > b->credit;
    if (cap(a) != cap(b))
        return cap(a) > cap(b);
    return a->nid < b->nid;
}

void cnode_take_turn(struct cnode *v, size_t *idx, size_t k)
{
    size_t g = 1;
    while (g < k && cmp_load(&v[idx[g]], &v[idx[0]]) == 0)
        g++;
    if (g < 2)
        return;
    /* every node of the group earns its weight; the richest goes and pays the group's total */
    long long total = 0;
    size_t best = 0;
    for (size_t i = 0; i < g; i++) {
        struct cnode *c = &v[idx[i]];
        c->credit += (long long)cap(c);
        total += (long long)cap(c);
        if (c->credit > v[idx[best]].credit)
            best = i;
    }
    v[idx[best]].credit -= total;
    size_t chosen = idx[best];
    memmove(&idx[1], &idx[0], best * sizeof *idx);
    idx[0] = chosen;
}

size_t cnode_select(const struct cnode *v, size_t n, unsigned role, const char *topic, size_t *idx,
                    size_t max)
{
    /* every eligible node sorted (at most CNODE_MAX), then the first max handed out */
    size_t k = 0, order[CNODE_MAX];
    uint64_t w[CNODE_MAX];
    for (size_t i = 0; i < n && k < CNODE_MAX; i++) {
        if (!cnode_eligible(&v[i], role, topic != NULL))
            continue;
        uint64_t wi = topic ? cnode_weight(v[i].name, topic) : 0;
        size_t j = k;
        while (j > 0 && (topic ? wi > w[j - 1] : less_loaded(&v[i], &v[order[j - 1]]))) {
            order[j] = order[j - 1];
            w[j] = w[j - 1];
            j--;
        }
        order[j] = i;
        w[j] = wi;
        k++;
    }
    if (k > max)
        k = max;
    memcpy(idx, order, k * sizeof *idx);
    return k;
}

int cnode_promote_candidate(const struct cnode *v, size_t n, unsigned role, int promote_permille)
{
    int best = -1, busy = 1;
    for (size_t i = 0; i < n; i++) {
        const struct cnode *c = &v[i];
        if (!(c->roles & role))
            continue;
        if (c->waiting) {
            if (c->up && !c->draining && c->dst.peerlen && (best < 0 || c->nid < v[best].nid))
                best = (int)i;
            continue;
        }
        if (cnode_eligible(c, role, 0) &&
            (long long)c->work_num * 1000 < (long long)promote_permille * c->max_num)
            busy = 0; /* an active node with room: nobody is promoted */
    }
    return busy ? best : -1;
}
