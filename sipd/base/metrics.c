/* metrics.c - the metrics registry and its Prometheus text rendering; see metrics.h.
 *
 * A registry is an array of families in registration order; a family an array of its series in
 * creation order. A series is allocated on its own, so its address (the handle modules keep)
 * never moves when the arrays grow. A histogram series counts observations per bucket (not
 * cumulative: one add per observation) and sums them up when it is read. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sbuf.h"

struct metric {
    struct metric_family *fam;
    char *values[METRIC_LABELS_MAX];
    uint64_t count;       /* counter value; histogram: observations */
    double value;         /* gauge value; histogram: sum */
    uint64_t *buckets;    /* histogram: nbuckets + 1 counts (the last one: above every bound) */
};

struct metric_family {
    struct metrics *reg;
    char *name, *help;
    enum metric_type type;
    int is_computed;
    size_t nlabels;
    char *labels[METRIC_LABELS_MAX];
    size_t nbuckets;
    double bounds[METRIC_BUCKETS_MAX];
    struct metric **series;
    size_t nseries, cap;
};

struct collector {
    metrics_collect_fn fn;
    void *arg;
};

struct metrics {
    struct metric_family **fams;
    size_t nfams, cap;
    struct collector *colls;
    size_t ncolls, colls_cap;
};

const double metric_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                         5,      10};
const size_t metric_latency_nbuckets = sizeof metric_latency_buckets / sizeof metric_latency_buckets[0];

uint64_t metrics_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the hot path ------------------------------------------------------------------------- */

void metric_inc(struct metric *m)
{
    if (m)
        m->count++;
}

void metric_add(struct metric *m, uint64_t n)
{
    if (m)
        m->count += n;
}

void metric_set(struct metric *m, double v)
{
    if (m)
        m->value = v;
}

void metric_gauge_add(struct metric *m, double d)
{
    if (m)
        m->value += d;
}

void metric_observe(struct metric *m, double v)
{
    if (!m || !m->buckets)
        return;
    const struct metric_family *f = m->fam;
    size_t i = 0;
    while (i < f->nbuckets && v > f->bounds[i])
        i++;
    m->buckets[i]++;
    m->count++;
    m->value += v;
}

/* ---- registration ------------------------------------------------------------------------- */

struct metrics *metrics_create(void) { return calloc(1, sizeof(struct metrics)); }

struct metrics *metrics_default(void)
{
    static struct metrics *reg;
    if (!reg)
        reg = metrics_create();
    return reg;
}

static void series_free(struct metric *m)
{
    for (size_t i = 0; i < m->fam->nlabels; i++)
        free(m->values[i]);
    free(m->buckets);
    free(m);
}

static void family_free(struct metric_family *f)
{
    for (size_t i = 0; i < f->nseries; i++)
        series_free(f->series[i]);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->series);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_destroy(struct metrics *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->nfams; i++)
        family_free(reg->fams[i]);
    free(reg->fams);
    free(reg->colls);
    free(reg);
}

/* Prometheus names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without ':'. */
static int is_valid_name(const char *s, int is_label)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || (c == ':' && !is_label);
        if (!ok)
            return 0;
    }
    return 1;
}

static struct metric_family *family_find(const struct metrics *reg, const char *name)
{
    for (size_t i = 0; i < reg->nfams; i++)
        if (strcmp(reg->fams[i]->name, name) == 0)
            return reg->fams[i];
    return NULL;
}

static size_t count_labels(const char *const *labels)
{
    size_t n = 0;
    while (labels && labels[n])
        n++;
    return n;
}

/* Is f what a second registration with these arguments asks for? */
static int family_matches(const struct metric_family *f, enum metric_type type,
                          const char *const *labels)
{
    if (f->type != type || f->nlabels != count_labels(labels))
        return 0;
    for (size_t i = 0; i < f->nlabels; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return 0;
    return 1;
}

static int check_family_args(const char *name, enum metric_type type, const char *const *labels,
                             const double *buckets, size_t nbuckets)
{
    if (!is_valid_name(name, 0) || count_labels(labels) > METRIC_LABELS_MAX)
        return -1;
    for (size_t i = 0; labels && labels[i]; i++)
        if (!is_valid_name(labels[i], 1) || strncmp(labels[i], "__", 2) == 0 ||
            (type == METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0))
            return -1;
    if (type == METRIC_HISTOGRAM) {
        if (nbuckets == 0 || nbuckets > METRIC_BUCKETS_MAX)
            return -1;
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
                return -1;
    }
    return 0;
}

struct metric_family *metrics_family(struct metrics *reg, const char *name, const char *help,
                                     enum metric_type type, const char *const *labels,
                                     const double *buckets, size_t nbuckets)
{
    if (!reg)
        return NULL;
    if (type == METRIC_HISTOGRAM && !buckets) {
        buckets = metric_latency_buckets;
        nbuckets = metric_latency_nbuckets;
    }
    if (check_family_args(name, type, labels, buckets, nbuckets) < 0) {
        LOG_ERROR("metrics: invalid family name=%s", name ? name : "(null)");
        return NULL;
    }
    struct metric_family *f = family_find(reg, name);
    if (f) {
        if (family_matches(f, type, labels))
            return f;
        LOG_ERROR("metrics: family name=%s registered twice with different types or labels", name);
        return NULL;
    }
    if (reg->nfams == reg->cap) {
        size_t cap = reg->cap ? 2 * reg->cap : 32;
        struct metric_family **v = realloc(reg->fams, cap * sizeof *v);
        if (!v)
            return NULL;
        reg->fams = v;
        reg->cap = cap;
    }
    f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->reg = reg;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    int ok = f->name && f->help;
    for (size_t i = 0; labels && labels[i]; i++) {
        f->labels[i] = strdup(labels[i]);
        f->nlabels = i + 1;
        ok = ok && f->labels[i];
    }
    if (!ok) {
        family_free(f);
        return NULL;
    }
    if (type == METRIC_HISTOGRAM) {
        memcpy(f->bounds, buckets, nbuckets * sizeof *buckets);
        f->nbuckets = nbuckets;
    }
    reg->fams[reg->nfams++] = f;
    return f;
}

void metric_family_set_computed(struct metric_family *fam)
{
    if (fam && fam->type == METRIC_GAUGE)
        fam->is_computed = 1;
}

static int series_has_values(const struct metric *m, const char *const *values)
{
    for (size_t i = 0; i < m->fam->nlabels; i++)
        if (strcmp(m->values[i], values[i]) != 0)
            return 0;
    return 1;
}

struct metric *metric_series(struct metric_family *fam, const char *const *values)
{
    if (!fam || (fam->nlabels && !values))
        return NULL;
    for (size_t i = 0; i < fam->nseries; i++)
        if (series_has_values(fam->series[i], values))
            return fam->series[i];
    if (fam->nseries == fam->cap) {
        size_t cap = fam->cap ? 2 * fam->cap : 8;
        struct metric **v = realloc(fam->series, cap * sizeof *v);
        if (!v)
            return NULL;
        fam->series = v;
        fam->cap = cap;
    }
    struct metric *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->fam = fam;
    int ok = 1;
    for (size_t i = 0; i < fam->nlabels; i++)
        ok = ok && (m->values[i] = strdup(values[i] ? values[i] : "")) != NULL;
    if (ok && fam->type == METRIC_HISTOGRAM)
        ok = (m->buckets = calloc(fam->nbuckets + 1, sizeof *m->buckets)) != NULL;
    if (!ok) {
        series_free(m);
        return NULL;
    }
    fam->series[fam->nseries++] = m;
    return m;
}

void metric_series_remove(struct metric *m)
{
    if (!m)
        return;
    struct metric_family *f = m->fam;
    for (size_t i = 0; i < f->nseries; i++) {
        if (f->series[i] == m) {
            memmove(&f->series[i], &f->series[i + 1], (f->nseries - i - 1) * sizeof *f->series);
            f->nseries--;
            break;
        }
    }
    series_free(m);
}

struct metric *metrics_counter(struct metrics *reg, const char *name, const char *help)
{
    return metric_series(metrics_family(reg, name, help, METRIC_COUNTER, NULL, NULL, 0), NULL);
}

struct metric *metrics_gauge(struct metrics *reg, const char *name, const char *help)
{
    return metric_series(metrics_family(reg, name, help, METRIC_GAUGE, NULL, NULL, 0), NULL);
}

struct metric *metrics_histogram(struct metrics *reg, const char *name, const char *help,
                                 const double *buckets, size_t nbuckets)
{
    return metric_series(metrics_family(reg, name, help, METRIC_HISTOGRAM, NULL, buckets, nbuckets),
                         NULL);
}

/* ---- collectors --------------------------------------------------------------------------- */

int metrics_collector_add(struct metrics *reg, metrics_collect_fn fn, void *arg)
{
    if (!reg)
        return -ENOMEM;
    if (reg->ncolls == reg->colls_cap) {
        size_t cap = reg->colls_cap ? 2 * reg->colls_cap : 8;
        struct collector *v = realloc(reg->colls, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        reg->colls = v;
        reg->colls_cap = cap;
    }
    reg->colls[reg->ncolls++] = (struct collector){fn, arg};
    return 0;
}

void metrics_collector_remove(struct metrics *reg, metrics_collect_fn fn, void *arg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->ncolls; i++) {
        if (reg->colls[i].fn == fn && reg->colls[i].arg == arg) {
            memmove(&reg->colls[i], &reg->colls[i + 1], (reg->ncolls - i - 1) * sizeof *reg->colls);
            reg->ncolls--;
            return;
        }
    }
}

/* Zero the computed gauges, then let every collector add its part. */
static void collect(struct metrics *reg)
{
    for (size_t i = 0; i < reg->nfams; i++) {
        struct metric_family *f = reg->fams[i];
        for (size_t j = 0; f->is_computed && j < f->nseries; j++)
            f->series[j]->value = 0;
    }
    for (size_t i = 0; i < reg->ncolls; i++)
        reg->colls[i].fn(reg->colls[i].arg);
}

/* ---- reading ------------------------------------------------------------------------------ */

void metrics_registry_visit(struct metrics *reg, metrics_visit_fn fn, void *arg)
{
    if (!reg)
        return;
    collect(reg);
    uint64_t cum[METRIC_BUCKETS_MAX];
    for (size_t i = 0; i < reg->nfams; i++) {
        const struct metric_family *f = reg->fams[i];
        for (size_t j = 0; j < f->nseries; j++) {
            const struct metric *m = f->series[j];
            struct metric_sample s = {
                .name = f->name,
                .help = f->help,
                .type = f->type,
                .nlabels = f->nlabels,
                .label_names = (const char *const *)f->labels,
                .label_values = (const char *const *)m->values,
                .value = f->type == METRIC_COUNTER ? (double)m->count : m->value,
                .count = f->type == METRIC_GAUGE ? 0 : m->count,
            };
            if (f->type == METRIC_HISTOGRAM) {
                uint64_t run = 0;
                for (size_t k = 0; k < f->nbuckets; k++)
                    cum[k] = run += m->buckets[k];
                s.nbuckets = f->nbuckets;
                s.bounds = f->bounds;
                s.cumulative = cum;
            }
            fn(arg, &s);
        }
    }
}

/* A float as the text format wants it: the shortest form that reads back the same, +Inf, -Inf,
 * NaN. */
static void put_double(struct sbuf *out, double v)
{
    if (isnan(v)) {
        sbuf_puts(out, "NaN");
    } else if (isinf(v)) {
        sbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof buf, "%.17g", v);
        sbuf_puts(out, buf);
    }
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void put_escaped(struct sbuf *out, const char *s, int is_label_value)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n"
                        : (*s == '"' && is_label_value) ? "\\\"" : NULL;
        if (!esc)
            continue;
        sbuf_append(out, run, (size_t)(s - run));
        sbuf_puts(out, esc);
        run = s + 1;
    }
    sbuf_append(out, run, (size_t)(s - run));
}

/* name{a="x",b="y",le="0.5"} (or just name when there are no labels) */
static void put_series_name(struct sbuf *out, const struct metric_sample *s, const char *suffix,
                            const double *le)
{
    sbuf_puts(out, s->name);
    sbuf_puts(out, suffix);
    if (s->nlabels == 0 && !le)
        return;
    sbuf_puts(out, "{");
    for (size_t i = 0; i < s->nlabels; i++) {
        sbuf_printf(out, "%s%s=\"", i ? "," : "", s->label_names[i]);
        put_escaped(out, s->label_values[i], 1);
        sbuf_puts(out, "\"");
    }
    if (le) {
        sbuf_puts(out, s->nlabels ? ",le=\"" : "le=\"");
        put_double(out, *le);
        sbuf_puts(out, "\"");
    }
    sbuf_puts(out, "}");
}

struct writer {
    struct sbuf *out;
    const char *last_family; /* HELP and TYPE are written once per family */
};

static void write_sample(void *arg, const struct metric_sample *s)
{
    struct writer *w = arg;
    struct sbuf *out = w->out;
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    if (w->last_family != s->name) {
        w->last_family = s->name;
        sbuf_printf(out, "# HELP %s ", s->name);
        put_escaped(out, s->help, 0);
        sbuf_printf(out, "\n# TYPE %s %s\n", s->name, type_names[s->type]);
    }
    if (s->type == METRIC_COUNTER) {
        put_series_name(out, s, "", NULL);
        sbuf_printf(out, " %" PRIu64 "\n", s->count);
        return;
    }
    if (s->type == METRIC_GAUGE) {
        put_series_name(out, s, "", NULL);
        sbuf_puts(out, " ");
        put_double(out, s->value);
        sbuf_puts(out, "\n");
        return;
    }
    for (size_t i = 0; i < s->nbuckets; i++) {
        put_series_name(out, s, "_bucket", &s->bounds[i]);
        sbuf_printf(out, " %" PRIu64 "\n", s->cumulative[i]);
    }
    double inf = INFINITY;
    put_series_name(out, s, "_bucket", &inf);
    sbuf_printf(out, " %" PRIu64 "\n", s->count);
    put_series_name(out, s, "_sum", NULL);
    sbuf_puts(out, " ");
    put_double(out, s->value);
    sbuf_puts(out, "\n");
    put_series_name(out, s, "_count", NULL);
    sbuf_printf(out, " %" PRIu64 "\n", s->count);
}

void metrics_registry_write(struct metrics *reg, struct sbuf *out)
{
    struct writer w = {.out = out};
    metrics_registry_visit(reg, write_sample, &w);
}

void metrics_visit(metrics_visit_fn fn, void *arg) { metrics_registry_visit(metrics_default(), fn, arg); }

void metrics_write_prometheus(struct sbuf *out) { metrics_registry_write(metrics_default(), out); }
