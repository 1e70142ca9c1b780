/* format.c - JSON fields as table cells (see format.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"

long long ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A field of OBJ as text in BUF: strings as they are, numbers, true/false, arrays joined with
 * ',', "-" for null or absent. */
const char *ctl_field(const json_t *obj, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return "-";
    if (!buf && !json_is_string(v) && !json_is_boolean(v))
        return "?"; /* the caller expected a string */
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == (double)(long long)d && d > -1e15 && d < 1e15)
            snprintf(buf, len, "%lld", (long long)d);
        else
            snprintf(buf, len, "%.6g", d);
        return buf;
    }
    case JSON_TRUE:
        return "yes";
    case JSON_FALSE:
        return "no";
    case JSON_ARRAY: {
        size_t i, off = 0;
        json_t *e;
        buf[0] = '\0';
        json_array_foreach(v, i, e) {
            const char *s = json_is_string(e) ? json_string_value(e) : "?";
            int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", s);
            if (n < 0 || (size_t)n >= len - off)
                break;
            off += (size_t)n;
        }
        return i == 0 ? "-" : buf;
    }
    case JSON_OBJECT: {
        char *s = json_dumps(v, JSON_COMPACT);
        snprintf(buf, len, "%s", s ? s : "?");
        free(s);
        return buf;
    }
    default:
        return "-";
    }
}

bool ctl_number(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* A duration in milliseconds the way people read it: 412ms, 3.2s, 4m05s, 2h10m, 3d04h. */
const char *ctl_duration(double ms, char *buf, size_t len)
{
    long long s = (long long)(ms / 1000);
    if (ms < 1000)
        snprintf(buf, len, "%.0fms", ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", ms / 1000);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

/* Unix milliseconds as local "YYYY-MM-DD HH:MM:SS". */
const char *ctl_timestamp(double ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "%.0f", ms);
    return buf;
}

const char *ctl_ms_field(const json_t *obj, const char *key, char *buf, size_t len)
{
    double v;
    if (!ctl_number(obj, key, &v))
        return "-";
    snprintf(buf, len, "%.2fms", v);
    return buf;
}

void ctl_print_table(struct ctl_ctx *ctx, struct table *t)
{
    table_print(t, ctx->out);
    table_free(t);
}

/* The fields of OBJ as a two-column FIELD/VALUE table, in the order the API sent them. */
void ctl_print_object(struct ctl_ctx *ctx, json_t *obj)
{
    static const char *const head[] = {"FIELD", "VALUE"};
    struct table *t = table_new(2, head);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char buf[1024];
        const char *cells[] = {key, ctl_field(obj, key, buf, sizeof(buf))};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}
