/* timers.c - binary min-heap of intrusive timers; see timers.h. */
#include "timers.h"

#include <errno.h>
#include <stdlib.h>

void timer_heap_init(struct timer_heap *h)
{
    h->v = NULL;
    h->len = h->cap = 0;
    h->next_seq = 0;
}

void timer_heap_free(struct timer_heap *h)
{
    for (size_t i = 0; i < h->len; i++)
        h->v[i]->heap_idx = 0;
    free(h->v);
    timer_heap_init(h);
}

static int earlier(const struct timer *a, const struct timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void place(struct timer_heap *h, size_t i, struct timer *t)
{
    h->v[i] = t;
    t->heap_idx = i + 1;
}

static void sift_up(struct timer_heap *h, size_t i)
{
    struct timer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, h->v[parent]))
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
    struct timer *t = h->v[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct timer *best = t;
        if (l < h->len && earlier(h->v[l], best)) {
            m = l;
            best = h->v[l];
        }
        if (r < h->len && earlier(h->v[r], best))
            m = r;
        if (m == i)
            break;
        place(h, i, h->v[m]);
        i = m;
    }
    place(h, i, t);
}

static void remove_at(struct timer_heap *h, size_t i)
{
    struct timer *t = h->v[i];
    t->heap_idx = 0;
    h->len--;
    if (i == h->len)
        return;
    struct timer *last = h->v[h->len];
    place(h, i, last);
    if (i > 0 && earlier(last, h->v[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

int timer_heap_start(struct timer_heap *h, struct timer *t, uint64_t due_ms, timer_cb cb, void *arg)
{
    if (t->heap_idx)
        remove_at(h, t->heap_idx - 1);
    if (h->len == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        struct timer **nv = realloc(h->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        h->v = nv;
        h->cap = ncap;
    }
    t->due_ms = due_ms;
    t->seq = h->next_seq++;
    t->cb = cb;
    t->arg = arg;
    place(h, h->len++, t);
    sift_up(h, h->len - 1);
    return 0;
}

void timer_heap_stop(struct timer_heap *h, struct timer *t)
{
    if (t->heap_idx)
        remove_at(h, t->heap_idx - 1);
}

uint64_t timer_heap_next_due(const struct timer_heap *h)
{
    return h->len ? h->v[0]->due_ms : UINT64_MAX;
}

size_t timer_heap_run(struct timer_heap *h, uint64_t now_ms)
{
    size_t fired = 0;
    while (h->len && h->v[0]->due_ms <= now_ms) {
        struct timer *t = h->v[0];
        remove_at(h, 0);
        fired++;
        t->cb(t, t->arg);
    }
    return fired;
}
