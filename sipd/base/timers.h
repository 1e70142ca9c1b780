/* timers.h - a binary min-heap of intrusive timers.
 *
 * The heap knows nothing of clocks: callers pass "now" in milliseconds, so unit tests drive it
 * with a fake clock and the event loop with CLOCK_MONOTONIC. Timers are embedded in their owner
 * (a transaction, a connection); starting/stopping never allocates except when the heap grows.
 * Start, stop and expiry are O(log n), which keeps tens of thousands of SIP timers cheap. */
#ifndef SIPD_TIMERS_H
#define SIPD_TIMERS_H

#include <stddef.h>
#include <stdint.h>

struct timer;
typedef void (*timer_cb)(struct timer *t, void *arg);

struct timer {
    uint64_t due_ms;
    uint64_t seq;       /* tie-break: equal due times fire in start order */
    size_t heap_idx;    /* index+1 in the heap, 0 when not armed */
    timer_cb cb;
    void *arg;
};

struct timer_heap {
    struct timer **v;
    size_t len, cap;
    uint64_t next_seq;
};

void timer_heap_init(struct timer_heap *h);
void timer_heap_free(struct timer_heap *h);   /* does not touch the timers themselves */

/* Arm t to fire at due_ms (re-arms if already armed). Returns 0 or -ENOMEM. */
int timer_heap_start(struct timer_heap *h, struct timer *t, uint64_t due_ms, timer_cb cb, void *arg);
void timer_heap_stop(struct timer_heap *h, struct timer *t);
static inline int timer_is_armed(const struct timer *t) { return t->heap_idx != 0; }

/* Due time of the earliest timer, or UINT64_MAX when empty. */
uint64_t timer_heap_next_due(const struct timer_heap *h);

/* Fire every timer due at or before now, in due order. A callback may start or stop any timer,
 * including itself. Returns the number fired. */
size_t timer_heap_run(struct timer_heap *h, uint64_t now_ms);

static inline size_t timer_heap_count(const struct timer_heap *h) { return h->len; }

#endif
