/* metrics.h - counters, gauges and histograms with labels, read as Prometheus text (format
 * 0.0.4) for GET /metrics and through a visitor for GET /api/v1/stats (docs/metrics.md lists
 * every metric).
 *
 * A metric family is a name with its help text, type, label names and (histograms) bucket
 * bounds; a series is the family with one set of label values. The module that owns a number
 * registers its family and series once, at creation, and keeps the series handle: the hot path
 * then costs a pointer dereference and an add (metric_inc), never a lookup by name. Every
 * operation takes a NULL handle (a registration that failed) and does nothing.
 *
 * Gauges the owner already holds as a number (transactions in progress, subscriptions) are not
 * kept twice: the family is marked computed and a collector sets it when the registry is read
 * (metrics_collector_add). Each read zeroes a computed family's series first and collectors add
 * to them (metric_gauge_add), so two instances of a module in one process (unit tests) sum.
 *
 * Loop thread only: no atomics. The HTTP thread never calls these; it asks the loop. */
#ifndef SIPD_METRICS_H
#define SIPD_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct sbuf;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_LABELS_MAX 4
#define METRIC_BUCKETS_MAX 24

struct metrics;       /* a registry */
struct metric_family; /* one name: help, type, label names, buckets */
struct metric;        /* one series of a family */

/* The process's registry, created on first use and never freed (like the default registry of
 * the Prometheus client libraries: threading one through every layer would add a parameter to
 * every constructor for a value that is one per process anyway, as the loop is). */
struct metrics *metrics_default(void);

/* A registry of its own (tests). Caller frees with metrics_destroy(). NULL when out of memory. */
struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *reg);

/* Register the family `name`, or return the one registered under that name when its type and
 * label names are the same (a second instance of a module). labels: NULL-terminated label names,
 * or NULL for none. buckets: a histogram's ascending upper bounds (the +Inf bucket is implicit),
 * NULL for metric_latency_buckets. Returns NULL (logged) for an invalid name, a clash or no
 * memory. The strings are copied. */
struct metric_family *metrics_family(struct metrics *reg, const char *name, const char *help,
                                     enum metric_type type, const char *const *labels,
                                     const double *buckets, size_t nbuckets);
/* Mark a gauge family as set by collectors (see above). */
void metric_family_set_computed(struct metric_family *fam);

/* The series of fam with these label values (one per label name; NULL when fam has none),
 * created the first time. A lookup: call it once and keep the handle. NULL when fam is NULL or
 * out of memory. */
struct metric *metric_series(struct metric_family *fam, const char *const *values);
/* Forget a series (a node removed). The handle is invalid afterwards. */
void metric_series_remove(struct metric *m);

/* A family without labels and its one series, in one call. */
struct metric *metrics_counter(struct metrics *reg, const char *name, const char *help);
struct metric *metrics_gauge(struct metrics *reg, const char *name, const char *help);
struct metric *metrics_histogram(struct metrics *reg, const char *name, const char *help,
                                 const double *buckets, size_t nbuckets);

/* Bounds (seconds) for latencies from 100 µs to 10 s. */
extern const double metric_latency_buckets[];
extern const size_t metric_latency_nbuckets;

/* A monotonic clock in microseconds, for the durations histograms observe. */
uint64_t metrics_clock_us(void);

/* ---- the hot path: m may be NULL ---------------------------------------------------------- */
void metric_inc(struct metric *m);                /* counter + 1 */
void metric_add(struct metric *m, uint64_t n);    /* counter + n */
void metric_set(struct metric *m, double v);      /* gauge = v */
void metric_gauge_add(struct metric *m, double d); /* gauge + d (d may be negative) */
void metric_observe(struct metric *m, double v);  /* histogram: one observation */

/* ---- gauges computed on read -------------------------------------------------------------- */
typedef void (*metrics_collect_fn)(void *arg);
/* fn(arg) runs before every read of reg. Returns 0 or -ENOMEM. */
int metrics_collector_add(struct metrics *reg, metrics_collect_fn fn, void *arg);
/* Remove the collector added with the same fn and arg (its owner goes away). */
void metrics_collector_remove(struct metrics *reg, metrics_collect_fn fn, void *arg);

/* ---- reading ------------------------------------------------------------------------------ */

/* One series as the visitor sees it; the pointers are valid during the call only. */
struct metric_sample {
    const char *name; /* the family's name, e.g. "sipd_requests_received_total" */
    const char *help;
    enum metric_type type;
    size_t nlabels;
    const char *const *label_names;
    const char *const *label_values;
    double value;     /* counter, gauge; histogram: the sum of the observations */
    uint64_t count;   /* counter: its value as an integer; histogram: how many observations */
    /* histogram only: cumulative counts of observations <= bounds[i] (the +Inf one is count) */
    size_t nbuckets;
    const double *bounds;
    const uint64_t *cumulative;
};
typedef void (*metrics_visit_fn)(void *arg, const struct metric_sample *s);

/* Run the collectors, then fn once per series, family by family in registration order. */
void metrics_registry_visit(struct metrics *reg, metrics_visit_fn fn, void *arg);
/* Run the collectors, then append the whole registry in the text format 0.0.4 to out. */
void metrics_registry_write(struct metrics *reg, struct sbuf *out);

/* The same on the process's registry: what GET /metrics and GET /api/v1/stats use. */
void metrics_visit(metrics_visit_fn fn, void *arg);
void metrics_write_prometheus(struct sbuf *out);

#endif
