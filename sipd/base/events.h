/* events.h - the event bus behind GET /api/v1/events (Server-Sent Events, docs/api.md).
 *
 * Loop-side code emits an event as a type ("heartbeat", "node", "registration") and one JSON
 * object; one sink, set once by the API at start, receives it. With no sink (no API, or nobody
 * listening) events_wanted() is 0 and emitters format nothing: the REGISTER path pays one load
 * and one branch.
 *
 * Loop thread only, one loop per process: the sink is process-wide, like the metrics registry
 * (base/metrics.h), and for the same reason. The sink runs on the loop thread and must not
 * block: it copies what it needs and hands it to its own thread. */
#ifndef SIPD_EVENTS_H
#define SIPD_EVENTS_H

#include <stddef.h>
#include <stdint.h>

/* type: the SSE event name; json/len: one JSON object (NUL-terminated too), valid during the
 * call only. */
typedef void (*events_sink_fn)(void *arg, const char *type, const char *json, size_t len);

/* Does the sink want events right now (a client is streaming)? Called by events_wanted(), so
 * it must be cheap; NULL = always. */
typedef int (*events_wanted_fn)(void *arg);
/* Set (or with fn NULL clear) the sink. The API sets it once at start, with a wanted function
 * that says whether any client streams: with none, emitters format nothing. */
void events_set_sink(events_sink_fn fn, events_wanted_fn wanted, void *arg);

/* Is anybody listening? Check before formatting an event. */
int events_wanted(void);

/* Hand one event to the sink (nothing when there is none). */
void events_emit(const char *type, const char *json);

/* ---- the events of docs/api.md, formatted here (each checks events_wanted() first) ---------- */

/* A balancer's probe of node answered (ok 1, rtt_ms its round trip) or not (ok 0, rtt_ms < 0:
 * null); work_num < 0: null. at_ms: Unix milliseconds. */
void events_heartbeat(const char *node, int ok, double rtt_ms, long work_num, int64_t at_ms);
/* A node's state: up, down, draining, drained, active, standby, promoted, added, removed. */
void events_node(const char *node, const char *state);
/* A binding of aor: change "added", "refreshed", "removed" or "expired"; expires_s < 0: null. */
void events_registration(const char *aor, const char *contact, long expires_s, const char *change);

#endif
