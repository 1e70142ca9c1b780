/* url.c - building API paths (see url.h). */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

char *ctl_url_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    if (!e)
        return NULL;
    char *copy = strdup(e); /* ours to free() with the rest, not curl_free() */
    curl_free(e);
    return copy;
}

char *ctl_api_path(const char *fmt, ...)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        return NULL;
    int is_bad = 0;
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p && !is_bad; p++) {
        if (*p != '%') {
            fputc(*p, out);
            continue;
        }
        p++;
        if (*p == '%') {
            fputc('%', out);
        } else if (*p == 's') {
            fputs(va_arg(ap, const char *), out);
        } else if (*p == 'e') {
            char *e = ctl_url_escape(va_arg(ap, const char *));
            if (e)
                fputs(e, out);
            is_bad = !e;
            free(e);
        } else {
            is_bad = 1;
        }
    }
    va_end(ap);
    fclose(out);
    if (is_bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *ctl_url_join(const char *base, const char *path)
{
    size_t n = strlen(base) + strlen(path) + 1;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s%s", base, path);
    return u;
}
