/* notify.h - telling systemd how sipd is doing (sd_notify, Type=notify units). */
#ifndef SIPD_NOTIFY_H
#define SIPD_NOTIFY_H

struct loop;
struct notify;

/* Caller frees with notify_destroy(). NULL only when out of memory. Without systemd (no
 * $NOTIFY_SOCKET) every call below does nothing. */
struct notify *notify_create(struct loop *loop);

/* READY=1 with STATUS=status, once sipd listens; starts the watchdog pings (WATCHDOG=1 every half
 * of WatchdogSec, from the loop, so a stuck loop is what the watchdog catches). */
void notify_ready(struct notify *n, const char *status);
/* RELOADING=1 when a SIGHUP reload starts; notify_ready() again when it is over. */
void notify_reloading(struct notify *n);
/* STOPPING=1 when a graceful stop starts. */
void notify_stopping(struct notify *n);

void notify_destroy(struct notify *n);

#endif
