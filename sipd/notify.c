/* notify.c - sd_notify(3) for systemd's Type=notify and WatchdogSec=.
 *
 * systemd learns that sipd is ready only once its listeners are bound (READY=1), so units ordered
 * after it start against a working server. With WatchdogSec= set, systemd exports WATCHDOG_USEC
 * and expects WATCHDOG=1 within that period: the ping is a timer on the event loop itself, at
 * half the period, so a loop that stops turning (a blocking call, a livelock) stops the pings
 * and systemd restarts the service. Outside systemd sd_notify() returns 0 and nothing happens. */
#include "notify.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "base/log.h"
#include "base/loop.h"

struct notify {
    struct loop *loop;
    struct timer watchdog;
    uint64_t watchdog_ms; /* ping period; 0 = no watchdog */
    int is_pinging;
};

struct notify *notify_create(struct loop *loop)
{
    struct notify *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->loop = loop;
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        n->watchdog_ms = usec / 2000; /* half the period, in ms */
        if (n->watchdog_ms == 0)
            n->watchdog_ms = 1;
    }
    return n;
}

static void watchdog_tick(struct timer *t, void *arg)
{
    struct notify *n = arg;
    sd_notify(0, "WATCHDOG=1");
    loop_timer_start(n->loop, &n->watchdog, n->watchdog_ms, watchdog_tick, n);
}

void notify_ready(struct notify *n, const char *status)
{
    char msg[512];
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
    if (sd_notify(0, msg) > 0)
        LOG_DEBUG("systemd notified: ready watchdog_ms=%llu", (unsigned long long)n->watchdog_ms);
    if (n->watchdog_ms && !n->is_pinging) {
        n->is_pinging = 1;
        watchdog_tick(&n->watchdog, n);
    }
}

void notify_reloading(struct notify *n)
{
    (void)n;
    sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
}

void notify_stopping(struct notify *n)
{
    (void)n;
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing transactions in flight");
}

void notify_destroy(struct notify *n)
{
    if (!n)
        return;
    loop_timer_stop(n->loop, &n->watchdog);
    free(n);
}
