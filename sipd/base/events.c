/* events.c - the event bus; see events.h. */
#include "events.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "json.h"
#include "sbuf.h"

static events_sink_fn sink;
static events_wanted_fn sink_wanted;
static void *sink_arg;

void events_set_sink(events_sink_fn fn, events_wanted_fn wanted, void *arg)
{
    sink = fn;
    sink_wanted = fn ? wanted : NULL;
    sink_arg = fn ? arg : NULL;
}

int events_wanted(void) { return sink != NULL && (!sink_wanted || sink_wanted(sink_arg)); }

void events_emit(const char *type, const char *json)
{
    if (sink && type && json)
        sink(sink_arg, type, json, strlen(json));
}

/* Hand b to the sink and free it (an allocation failure drops the event). */
static void emit_built(const char *type, struct sbuf *b)
{
    if (!b->failed && b->p)
        sink(sink_arg, type, b->p, b->len);
    sbuf_free(b);
}

void events_heartbeat(const char *node, int ok, double rtt_ms, long work_num, int64_t at_ms)
{
    if (!events_wanted())
        return;
    struct sbuf b;
    sbuf_init(&b);
    sbuf_puts(&b, "{\"node\":");
    json_put_string(&b, node);
    sbuf_printf(&b, ",\"ok\":%s,\"rtt_ms\":", ok ? "true" : "false");
    if (rtt_ms >= 0 && isfinite(rtt_ms))
        sbuf_printf(&b, "%.3f", rtt_ms);
    else
        sbuf_puts(&b, "null");
    if (work_num >= 0)
        sbuf_printf(&b, ",\"work_num\":%ld", work_num);
    else
        sbuf_puts(&b, ",\"work_num\":null");
    sbuf_printf(&b, ",\"at_ms\":%" PRId64 "}", at_ms);
    emit_built("heartbeat", &b);
}

void events_node(const char *node, const char *state)
{
    if (!events_wanted())
        return;
    struct sbuf b;
    sbuf_init(&b);
    sbuf_puts(&b, "{\"node\":");
    json_put_string(&b, node);
    sbuf_puts(&b, ",\"state\":");
    json_put_string(&b, state);
    sbuf_puts(&b, "}");
    emit_built("node", &b);
}

void events_registration(const char *aor, const char *contact, long expires_s, const char *change)
{
    if (!events_wanted())
        return;
    struct sbuf b;
    sbuf_init(&b);
    sbuf_puts(&b, "{\"aor\":");
    json_put_string(&b, aor);
    sbuf_puts(&b, ",\"contact\":");
    json_put_string(&b, contact);
    if (expires_s >= 0)
        sbuf_printf(&b, ",\"expires_s\":%ld", expires_s);
    else
        sbuf_puts(&b, ",\"expires_s\":null");
    sbuf_puts(&b, ",\"change\":");
    json_put_string(&b, change);
    sbuf_puts(&b, "}");
    emit_built("registration", &b);
}
