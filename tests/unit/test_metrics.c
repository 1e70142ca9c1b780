/* test_metrics.c - the metrics registry and its text format, the JSON string escaper and the
 * event bus (base/metrics.c, base/json.c, base/events.c). */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/events.h"
#include "base/json.h"
#include "base/metrics.h"
#include "base/sbuf.h"
#include "loop_fixture.h"
#include "roles/im/broker.h"
#include "roles/presence/presence.h"
#include "sip/stats.h"
#include "store/store.h"
#include "suites.h"

/* The registry rendered, in a buffer the caller frees. */
static char *render(struct metrics *reg)
{
    struct sbuf b;
    sbuf_init(&b);
    metrics_registry_write(reg, &b);
    CU_ASSERT_FALSE(b.failed);
    return b.p ? b.p : strdup("");
}

static void test_metrics_counter_renders_help_type_and_value(void)
{
    struct metrics *reg = metrics_create();
    struct metric *c = metrics_counter(reg, "sipd_things_total", "Things seen.");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    metric_inc(c);
    metric_add(c, 41);
    char *text = render(reg);
    CU_ASSERT_STRING_EQUAL(text, "# HELP sipd_things_total Things seen.\n"
                                 "# TYPE sipd_things_total counter\n"
                                 "sipd_things_total 42\n");
    free(text);
    metrics_destroy(reg);
}

static void test_metrics_same_family_twice_is_one_family(void)
{
    struct metrics *reg = metrics_create();
    static const char *const lab[] = {"method", NULL};
    struct metric_family *a = metrics_family(reg, "sipd_x_total", "x", METRIC_COUNTER, lab, NULL, 0);
    struct metric_family *b = metrics_family(reg, "sipd_x_total", "x", METRIC_COUNTER, lab, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_EQUAL(a, b);
    /* the same name with another type or other labels is refused */
    CU_ASSERT_PTR_NULL(metrics_family(reg, "sipd_x_total", "x", METRIC_GAUGE, lab, NULL, 0));
    CU_ASSERT_PTR_NULL(metrics_family(reg, "sipd_x_total", "x", METRIC_COUNTER, NULL, NULL, 0));
    metrics_destroy(reg);
}

static void test_metrics_refuses_invalid_names(void)
{
    struct metrics *reg = metrics_create();
    static const char *const bad_label[] = {"a-b", NULL};
    static const char *const le[] = {"le", NULL};
    static const char *const reserved[] = {"__x", NULL};
    CU_ASSERT_PTR_NULL(metrics_counter(reg, "9lives_total", ""));
    CU_ASSERT_PTR_NULL(metrics_counter(reg, "a b", ""));
    CU_ASSERT_PTR_NULL(metrics_counter(reg, "", ""));
    CU_ASSERT_PTR_NULL(metrics_family(reg, "sipd_y", "", METRIC_GAUGE, bad_label, NULL, 0));
    CU_ASSERT_PTR_NULL(metrics_family(reg, "sipd_y", "", METRIC_GAUGE, reserved, NULL, 0));
    CU_ASSERT_PTR_NULL(metrics_family(reg, "sipd_h", "", METRIC_HISTOGRAM, le, NULL, 0));
    static const double unsorted[] = {1, 0.5};
    CU_ASSERT_PTR_NULL(metrics_histogram(reg, "sipd_h", "", unsorted, 2));
    CU_ASSERT_PTR_NOT_NULL(metrics_counter(reg, "ns:sipd_ok_total", ""));
    /* a NULL handle is harmless on every operation */
    metric_inc(NULL);
    metric_add(NULL, 3);
    metric_set(NULL, 1);
    metric_gauge_add(NULL, 1);
    metric_observe(NULL, 1);
    metric_series_remove(NULL);
    metrics_destroy(reg);
}

static void test_metrics_labels_make_series_in_creation_order(void)
{
    struct metrics *reg = metrics_create();
    static const char *const lab[] = {"method", "class", NULL};
    struct metric_family *f =
        metrics_family(reg, "sipd_responses_sent_total", "Responses.", METRIC_COUNTER, lab, NULL, 0);
    static const char *const inv2[] = {"INVITE", "2xx"};
    static const char *const reg4[] = {"REGISTER", "4xx"};
    struct metric *a = metric_series(f, inv2);
    struct metric *b = metric_series(f, reg4);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    CU_ASSERT_PTR_EQUAL(metric_series(f, inv2), a);
    metric_inc(b);
    metric_inc(b);
    char *text = render(reg);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "sipd_responses_sent_total{method=\"INVITE\",class=\"2xx\"} 0\n"
                                        "sipd_responses_sent_total{method=\"REGISTER\",class=\"4xx\"} 2\n"));
    free(text);
    metric_series_remove(a);
    text = render(reg);
    CU_ASSERT_PTR_NULL(strstr(text, "INVITE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "REGISTER"));
    free(text);
    metrics_destroy(reg);
}

static void test_metrics_escapes_label_values_and_help(void)
{
    struct metrics *reg = metrics_create();
    static const char *const lab[] = {"node", NULL};
    struct metric_family *f =
        metrics_family(reg, "sipd_g", "a \\ and\na newline, \"quotes\" stay", METRIC_GAUGE, lab, NULL, 0);
    static const char *const v[] = {"n\"1\\\n"};
    metric_set(metric_series(f, v), -2.5);
    char *text = render(reg);
    CU_ASSERT_STRING_EQUAL(text, "# HELP sipd_g a \\\\ and\\na newline, \"quotes\" stay\n"
                                 "# TYPE sipd_g gauge\n"
                                 "sipd_g{node=\"n\\\"1\\\\\\n\"} -2.5\n");
    free(text);
    metrics_destroy(reg);
}

static void test_metrics_histogram_buckets_are_cumulative_with_inf(void)
{
    struct metrics *reg = metrics_create();
    static const double bounds[] = {0.1, 0.5, 1};
    struct metric *h = metrics_histogram(reg, "sipd_lat_seconds", "Latency.", bounds, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    metric_observe(h, 0.05);
    metric_observe(h, 0.1); /* on the bound: counted in le="0.1" */
    metric_observe(h, 0.7);
    metric_observe(h, 3);
    char *text = render(reg);
    CU_ASSERT_STRING_EQUAL(text, "# HELP sipd_lat_seconds Latency.\n"
                                 "# TYPE sipd_lat_seconds histogram\n"
                                 "sipd_lat_seconds_bucket{le=\"0.1\"} 2\n"
                                 "sipd_lat_seconds_bucket{le=\"0.5\"} 2\n"
                                 "sipd_lat_seconds_bucket{le=\"1\"} 3\n"
                                 "sipd_lat_seconds_bucket{le=\"+Inf\"} 4\n"
                                 "sipd_lat_seconds_sum 3.85\n"
                                 "sipd_lat_seconds_count 4\n");
    free(text);
    metrics_destroy(reg);
}

static void test_metrics_histogram_with_labels_puts_le_last(void)
{
    struct metrics *reg = metrics_create();
    static const char *const lab[] = {"node", NULL};
    static const double bounds[] = {0.001};
    struct metric_family *f =
        metrics_family(reg, "sipd_rtt_seconds", "RTT.", METRIC_HISTOGRAM, lab, bounds, 1);
    static const char *const n1[] = {"n1"};
    metric_observe(metric_series(f, n1), 0.0005);
    char *text = render(reg);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "sipd_rtt_seconds_bucket{node=\"n1\",le=\"0.001\"} 1\n"
                                        "sipd_rtt_seconds_bucket{node=\"n1\",le=\"+Inf\"} 1\n"
                                        "sipd_rtt_seconds_sum{node=\"n1\"} 0.0005\n"
                                        "sipd_rtt_seconds_count{node=\"n1\"} 1\n"));
    free(text);
    metrics_destroy(reg);
}

struct fake_owner {
    struct metric *gauge;
    double value;
};

static void collect_owner(void *arg)
{
    struct fake_owner *o = arg;
    metric_gauge_add(o->gauge, o->value);
}

static void test_metrics_computed_gauges_sum_collectors_on_each_read(void)
{
    struct metrics *reg = metrics_create();
    struct metric_family *f =
        metrics_family(reg, "sipd_transactions_in_progress", "T.", METRIC_GAUGE, NULL, NULL, 0);
    metric_family_set_computed(f);
    struct fake_owner a = {metric_series(f, NULL), 3}, b = {metric_series(f, NULL), 4};
    CU_ASSERT_EQUAL(metrics_collector_add(reg, collect_owner, &a), 0);
    CU_ASSERT_EQUAL(metrics_collector_add(reg, collect_owner, &b), 0);
    char *text = render(reg);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "sipd_transactions_in_progress 7\n"));
    free(text);
    /* read again: not 14 (zeroed before collecting) */
    a.value = 1;
    text = render(reg);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "sipd_transactions_in_progress 5\n"));
    free(text);
    metrics_collector_remove(reg, collect_owner, &b);
    text = render(reg);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "sipd_transactions_in_progress 1\n"));
    free(text);
    metrics_destroy(reg);
}

struct seen {
    int n;
    char names[8][64];
    double values[8];
    uint64_t counts[8];
    char label[8][32];
};

static void visit_one(void *arg, const struct metric_sample *s)
{
    struct seen *v = arg;
    if (v->n >= 8)
        return;
    snprintf(v->names[v->n], sizeof v->names[0], "%s", s->name);
    v->values[v->n] = s->value;
    v->counts[v->n] = s->count;
    snprintf(v->label[v->n], sizeof v->label[0], "%s=%s", s->nlabels ? s->label_names[0] : "",
             s->nlabels ? s->label_values[0] : "");
    v->n++;
}

static void test_metrics_visitor_sees_every_series_with_labels(void)
{
    struct metrics *reg = metrics_create();
    static const char *const lab[] = {"package", NULL};
    static const char *const im[] = {"im"}, *const pres[] = {"presence"};
    struct metric_family *f = metrics_family(reg, "sipd_subscriptions", "S.", METRIC_GAUGE, lab, NULL, 0);
    metric_set(metric_series(f, im), 2);
    metric_set(metric_series(f, pres), 5);
    metric_add(metrics_counter(reg, "sipd_a_total", "A."), 9);
    struct metric *h = metrics_histogram(reg, "sipd_b_seconds", "B.", NULL, 0);
    metric_observe(h, 0.25);
    metric_observe(h, 0.5);
    struct seen v = {0};
    metrics_registry_visit(reg, visit_one, &v);
    CU_ASSERT_EQUAL_FATAL(v.n, 4);
    CU_ASSERT_STRING_EQUAL(v.names[0], "sipd_subscriptions");
    CU_ASSERT_STRING_EQUAL(v.label[0], "package=im");
    CU_ASSERT_DOUBLE_EQUAL(v.values[0], 2, 1e-9);
    CU_ASSERT_STRING_EQUAL(v.label[1], "package=presence");
    CU_ASSERT_DOUBLE_EQUAL(v.values[1], 5, 1e-9);
    CU_ASSERT_STRING_EQUAL(v.names[2], "sipd_a_total");
    CU_ASSERT_EQUAL(v.counts[2], 9);
    CU_ASSERT_DOUBLE_EQUAL(v.values[2], 9, 1e-9);
    CU_ASSERT_STRING_EQUAL(v.names[3], "sipd_b_seconds");
    CU_ASSERT_EQUAL(v.counts[3], 2);
    CU_ASSERT_DOUBLE_EQUAL(v.values[3], 0.75, 1e-9);
    metrics_destroy(reg);
}

/* Run `promtool check metrics` on text: 1 accepted, 0 refused (its complaints printed), -1 when
 * promtool is not installed. */
static int promtool_accepts(const char *text)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        return -1;
    char path[] = "/tmp/sipd-metrics-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    ok = ok && system(cmd) == 0;
    unlink(path);
    return ok;
}

static void test_metrics_promtool_accepts_a_rendered_sample(void)
{
    struct metrics *reg = metrics_create();
    static const char *const lab[] = {"method", "class", NULL};
    static const char *const v[] = {"IN\"V\\ITE", "2xx"};
    metric_inc(metric_series(
        metrics_family(reg, "sipd_responses_sent_total", "Responses sent.", METRIC_COUNTER, lab, NULL, 0), v));
    metric_set(metrics_gauge(reg, "sipd_start_time_seconds", "Start time.\nSince the epoch."), 1796300000.5);
    metric_observe(metrics_histogram(reg, "sipd_store_query_duration_seconds", "Queries.", NULL, 0), 0.003);
    char *text = render(reg);
    int rc = promtool_accepts(text);
    if (rc < 0)
        fprintf(stderr, "\n  (promtool not installed: the sample was not checked)\n");
    else
        CU_ASSERT_EQUAL(rc, 1);
    free(text);
    metrics_destroy(reg);
}

/* The process registry as the daemon's modules fill it: a transaction layer, the memory store,
 * a broker with its presence package, and the SIP counters. */
static void test_metrics_promtool_accepts_the_process_registry(void)
{
    struct loop_fixture lf;
    struct loop_fixture_config lc = {.t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000};
    CU_ASSERT_EQUAL_FATAL(loop_fixture_open(&lf, &lc), 0);
    struct store *st = store_create(lf.loop, NULL);
    static const char *const domains[] = {"example.com", NULL};
    struct broker_config bc = {.default_expires = 600, .min_expires = 60, .max_expires = 3600,
                               .max_message_bytes = 4096, .max_queue = 16,
                               .max_subscriptions = 1000, .domains = domains};
    struct broker *b = broker_create(lf.loop, lf.tp, lf.tl, st, &bc);
    struct presence_config pc = {.publish_min_expires = 30, .publish_max_expires = 3600,
                                 .publish_default_expires = 600, .subscribe_min_expires = 30,
                                 .subscribe_max_expires = 3600, .subscribe_default_expires = 600,
                                 .domains = domains};
    struct presence *p = presence_create(lf.loop, lf.tp, lf.tl, st, &pc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    sip_stats_request_received(sip_stats_method_slot("REGISTER"));
    sip_stats_request_received(sip_stats_method_slot("FOO"));
    sip_stats_response_sent(sip_stats_method_slot("REGISTER"), 200);
    struct sbuf out;
    sbuf_init(&out);
    metrics_write_prometheus(&out);
    CU_ASSERT_FALSE(out.failed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out.p);
    static const char *const want[] = {
        "# TYPE sipd_requests_received_total counter\n",
        "sipd_requests_received_total{method=\"REGISTER\"} ",
        "sipd_requests_received_total{method=\"other\"} ",
        "sipd_responses_sent_total{method=\"REGISTER\",class=\"2xx\"} ",
        "# TYPE sipd_transactions_in_progress gauge\n",
        "\nsipd_registrations 0\n",
        "\nsipd_bindings 0\n",
        "\nsipd_topics 0\n",
        "sipd_subscriptions{package=\"im\"} 0\n",
        "sipd_subscriptions{package=\"presence\"} 0\n",
        "\nsipd_notify_queue_depth 0\n",
        "# TYPE sipd_publish_notify_latency_seconds histogram\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out.p, want[i]))
            CU_FAIL(want[i]);
    if (getenv("SIPD_TEST_DEBUG"))
        fputs(out.p, stderr);
    int rc = promtool_accepts(out.p);
    if (rc >= 0)
        CU_ASSERT_EQUAL(rc, 1);
    sbuf_free(&out);
    presence_destroy(p);
    broker_destroy(b);
    store_destroy(st);
    loop_fixture_close(&lf);
}

/* ---- json ---------------------------------------------------------------------------------- */

static void check_json(const char *in, size_t len, const char *want)
{
    struct sbuf b;
    sbuf_init(&b);
    json_put_stringn(&b, in, len);
    CU_ASSERT_STRING_EQUAL(b.p, want);
    sbuf_free(&b);
}

static void test_json_escapes_quotes_backslashes_and_controls(void)
{
    check_json("plain", 5, "\"plain\"");
    check_json("", 0, "\"\"");
    check_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    check_json("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    check_json("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    check_json("a\0b", 3, "\"a\\u0000b\"");
    check_json("</script>", 9, "\"</script>\"");
}

static void test_json_keeps_utf8_and_replaces_bad_bytes(void)
{
    check_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    check_json("\xff", 1, "\"\\ufffd\"");
    check_json("a\xc3", 2, "\"a\\ufffd\"");             /* truncated sequence */
    check_json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");     /* overlong '/' */
    check_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* a surrogate */
    check_json("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
    struct sbuf b;
    sbuf_init(&b);
    json_put_string(&b, NULL);
    CU_ASSERT_STRING_EQUAL(b.p, "null");
    sbuf_free(&b);
}

/* ---- events -------------------------------------------------------------------------------- */

struct sink_log {
    int n;
    char type[32];
    char json[512];
};

static void sink_record(void *arg, const char *type, const char *json, size_t len)
{
    struct sink_log *l = arg;
    l->n++;
    snprintf(l->type, sizeof l->type, "%s", type);
    snprintf(l->json, sizeof l->json, "%.*s", (int)len, json);
}

static void test_events_without_sink_nothing_is_wanted_or_sent(void)
{
    events_set_sink(NULL, NULL, NULL);
    CU_ASSERT_FALSE(events_wanted());
    events_emit("node", "{}");
    events_registration("sip:a@example.com", "sip:a@10.0.0.1", 60, "added");
    struct sink_log l = {0};
    events_set_sink(sink_record, NULL, &l);
    CU_ASSERT_TRUE(events_wanted());
    events_set_sink(NULL, NULL, &l);
    CU_ASSERT_FALSE(events_wanted());
    events_node("n1", "up");
    CU_ASSERT_EQUAL(l.n, 0);
}

static void test_events_reach_the_sink_as_json(void)
{
    struct sink_log l = {0};
    events_set_sink(sink_record, NULL, &l);
    events_emit("node", "{\"node\":\"n1\",\"state\":\"up\"}");
    CU_ASSERT_EQUAL(l.n, 1);
    CU_ASSERT_STRING_EQUAL(l.type, "node");
    CU_ASSERT_STRING_EQUAL(l.json, "{\"node\":\"n1\",\"state\":\"up\"}");
    events_heartbeat("n\"2", 1, 0.4125, 7, 1796300000123);
    CU_ASSERT_STRING_EQUAL(l.type, "heartbeat");
    CU_ASSERT_STRING_EQUAL(l.json, "{\"node\":\"n\\\"2\",\"ok\":true,\"rtt_ms\":0.412,\"work_num\":7,"
                                   "\"at_ms\":1796300000123}");
    events_heartbeat("n2", 0, -1, -1, 5);
    CU_ASSERT_STRING_EQUAL(l.json, "{\"node\":\"n2\",\"ok\":false,\"rtt_ms\":null,\"work_num\":null,"
                                   "\"at_ms\":5}");
    events_node("n1", "draining");
    CU_ASSERT_STRING_EQUAL(l.json, "{\"node\":\"n1\",\"state\":\"draining\"}");
    events_registration("sip:alice@example.com", "<sip:alice@10.0.0.1;ob>", 3600, "added");
    CU_ASSERT_STRING_EQUAL(l.type, "registration");
    CU_ASSERT_STRING_EQUAL(l.json, "{\"aor\":\"sip:alice@example.com\",\"contact\":\"<sip:alice@10.0.0.1;ob>\","
                                   "\"expires_s\":3600,\"change\":\"added\"}");
    events_registration("sip:alice@example.com", "sip:x", -1, "expired");
    CU_ASSERT_PTR_NOT_NULL(strstr(l.json, "\"expires_s\":null,\"change\":\"expired\""));
    CU_ASSERT_EQUAL(l.n, 6);
    events_set_sink(NULL, NULL, NULL);
}

void register_metrics_suites(void)
{
    CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
    CU_add_test(s, "a counter renders HELP, TYPE and its value", test_metrics_counter_renders_help_type_and_value);
    CU_add_test(s, "the same family registered twice is one family", test_metrics_same_family_twice_is_one_family);
    CU_add_test(s, "invalid names are refused, NULL handles harmless", test_metrics_refuses_invalid_names);
    CU_add_test(s, "label values make series, in creation order", test_metrics_labels_make_series_in_creation_order);
    CU_add_test(s, "label values and help are escaped", test_metrics_escapes_label_values_and_help);
    CU_add_test(s, "histogram buckets are cumulative, with +Inf", test_metrics_histogram_buckets_are_cumulative_with_inf);
    CU_add_test(s, "a labelled histogram puts le last", test_metrics_histogram_with_labels_puts_le_last);
    CU_add_test(s, "computed gauges sum their collectors on each read", test_metrics_computed_gauges_sum_collectors_on_each_read);
    CU_add_test(s, "the visitor sees every series with labels", test_metrics_visitor_sees_every_series_with_labels);
    CU_add_test(s, "promtool accepts a rendered sample", test_metrics_promtool_accepts_a_rendered_sample);
    CU_add_test(s, "promtool accepts the process registry", test_metrics_promtool_accepts_the_process_registry);
    CU_pSuite j = CU_add_suite("json", NULL, NULL);
    CU_add_test(j, "quotes, backslashes and controls are escaped", test_json_escapes_quotes_backslashes_and_controls);
    CU_add_test(j, "UTF-8 is kept, bad bytes replaced", test_json_keeps_utf8_and_replaces_bad_bytes);
    CU_pSuite e = CU_add_suite("events", NULL, NULL);
    CU_add_test(e, "without a sink nothing is wanted or sent", test_events_without_sink_nothing_is_wanted_or_sent);
    CU_add_test(e, "events reach the sink as JSON", test_events_reach_the_sink_as_json);
}
