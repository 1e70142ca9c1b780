/* cpim.c - message/cpim bodies of `im` NOTIFYs; see cpim.h. */
#include "cpim.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../base/sbuf.h"

void cpim_datetime(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "1970-01-01T00:00:00Z");
}

void cpim_media_type(const char *content_type, char *buf, size_t n)
{
    size_t k = 0;
    const char *p = content_type ? content_type : "";
    while (*p == ' ' || *p == '\t')
        p++;
    for (; *p && *p != ';' && *p != ' ' && *p != '\t' && k + 1 < n; p++)
        buf[k++] = (char)tolower((unsigned char)*p);
    if (n)
        buf[k] = '\0';
}

void cpim_render(struct sbuf *out, const struct cpim_fields *f)
{
    char date[32];
    cpim_datetime(f->date, date, sizeof date);
    sbuf_printf(out, "From: <%s>\r\nTo: <%s>\r\nDateTime: %s\r\nNS: im <" CPIM_NS_URN ">\r\n"
                     "im.Seq: %" PRId64 "\r\n",
                f->from, f->to, date, f->seq);
    if (f->group_topic)
        sbuf_printf(out, "im.Topic: <%s>\r\n", f->group_topic);
    if (f->gap_lo > 0)
        sbuf_printf(out, "im.Gap: %" PRId64 "-%" PRId64 "\r\n", f->gap_lo, f->gap_hi);
    if (f->truncated) {
        char mt[128];
        cpim_media_type(f->content_type, mt, sizeof mt);
        char text[256];
        int tl = snprintf(text, sizeof text,
                          "[sipd: message of %zu bytes (%s) not delivered over UDP; subscribe over "
                          "TCP to receive it]",
                          f->body_len, mt);
        sbuf_printf(out, "im.Truncated: %zu %s\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                    f->body_len, mt, tl, text);
        return;
    }
    sbuf_printf(out, "\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", f->content_type,
                f->body_len);
    sbuf_append(out, f->body, f->body_len);
}
