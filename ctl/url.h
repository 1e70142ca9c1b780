/* url.h - API paths with percent-encoded parts: an AOR or a topic in a path is one segment
 * (`sip:alice@example.com` -> `sip%3Aalice%40example.com`), and so is a value in a query. */
#ifndef SIPCTL_URL_H
#define SIPCTL_URL_H

/* A copy of S with every byte outside RFC 3986's unreserved set percent-encoded
 * (curl_easy_escape). Caller frees with free(). NULL on allocation failure. */
char *ctl_url_escape(const char *s);

/* FMT with each "%e" replaced by the next argument percent-encoded and each "%s" by the next
 * argument as is ("%%" is a '%'). E.g. ctl_api_path("/api/v1/nodes/%e/drain", name).
 * Caller frees with free(). NULL on allocation failure or an unknown directive. */
char *ctl_api_path(const char *fmt, ...);

/* BASE (no trailing '/') followed by PATH (which starts with '/'). Caller frees. */
char *ctl_url_join(const char *base, const char *path);

#endif
