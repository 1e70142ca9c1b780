/* h_stats.c - GET /metrics (Prometheus text) and GET /api/v1/stats (the same numbers as JSON),
 * both read from the process's metrics registry on the loop thread (base/metrics.h;
 * docs/metrics.md lists every metric). */
#include "api_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/metrics.h"
#include "base/sbuf.h"

static void metrics_run(struct api_job *j)
{
    struct sbuf b;
    sbuf_init(&b);
    metrics_write_prometheus(&b);
    size_t len = 0;
    char *text = b.failed ? NULL : sbuf_steal(&b, &len);
    sbuf_free(&b);
    if (!text) {
        api_job_error(j, 500, "out of memory", "the metrics could not be rendered");
        return;
    }
    api_job_text(j, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

void api_h_metrics(struct api_req *r)
{
    api_job_call(r, api_job_new(r->api, metrics_run));
}

/* The key of a series in /api/v1/stats: its name, and its labels as Prometheus writes them
 * (`sipd_subscriptions{package="im"}`), so a script can match what /metrics shows. */
static void series_key(const struct metric_sample *s, char *out, size_t n)
{
    size_t off = (size_t)snprintf(out, n, "%s", s->name);
    for (size_t i = 0; i < s->nlabels && off < n; i++)
        off += (size_t)snprintf(out + off, n - off, "%s%s=\"%s\"", i ? "," : "{", s->label_names[i],
                                s->label_values[i]);
    if (s->nlabels && off < n)
        snprintf(out + off, n - off, "}");
}

static void add_sample(void *arg, const struct metric_sample *s)
{
    json_t *o = arg;
    char key[256];
    series_key(s, key, sizeof key);
    switch (s->type) {
    case METRIC_COUNTER:
        json_object_set_new(json_object_get(o, "counters"), key, json_integer((json_int_t)s->count));
        break;
    case METRIC_GAUGE:
        json_object_set_new(json_object_get(o, "gauges"), key,
                            isfinite(s->value) ? json_real(s->value) : json_null());
        break;
    case METRIC_HISTOGRAM:
        json_object_set_new(json_object_get(o, "histograms"), key,
                            json_pack("{s:I, s:f}", "count", (json_int_t)s->count, "sum",
                                      isfinite(s->value) ? s->value : 0.0));
        break;
    }
}

static void stats_run(struct api_job *j)
{
    json_t *o = json_pack("{s:s, s:{}, s:{}, s:{}}", "node", j->api->node_name, "counters", "gauges",
                          "histograms");
    if (!o) {
        api_job_error(j, 500, "out of memory", "the statistics could not be rendered");
        return;
    }
    metrics_visit(add_sample, o);
    api_job_done(j, 200, o);
}

void api_h_stats(struct api_req *r)
{
    api_job_call(r, api_job_new(r->api, stats_run));
}
