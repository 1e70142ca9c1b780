/* https.c - the REST API over HTTPS (api.tls), and the rule that keeps the token off the wire in
 * clear text: plain HTTP is served on a loopback address only, unless api.allow_plain_remote says
 * otherwise (docs/tls.md).
 *
 * libmicrohttpd's HTTPS is GnuTLS, the library SIP over TLS uses (sipd/transport/tls.c): the
 * same certificate and key files (tls.cert, tls.key) and the same TLS 1.2/1.3-only priority
 * string serve both. libmicrohttpd takes the PEM text in memory, read here once at start. */
#include "api_impl.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sipd/transport/addr.h"
#include "../sipd/transport/tls.h"
#include "api.h"

/* The whole of a (small) PEM file as a string; NULL with err. Caller frees. */
static char *read_pem(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s '%s': %s", key, path, strerror(errno));
        return NULL;
    }
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len < cap - 1)
            break;
        if (cap >= 1024 * 1024) { /* no certificate chain is this big */
            free(buf);
            buf = NULL;
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (buf)
        buf[len] = '\0';
    if (!buf || failed || !strstr(buf, "-----BEGIN")) {
        snprintf(err, errlen, "%s '%s': %s", key, path,
                 failed ? "read error" : buf ? "not a PEM file" : "too big or out of memory");
        free(buf);
        return NULL;
    }
    return buf;
}

/* Is api.listen ("127.0.0.1:5080", "[::1]:5080") a loopback address? Unparseable: no (the
 * listener's own parser reports it). */
static int is_loopback(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    struct sockaddr_storage sa;
    socklen_t salen;
    if (!colon || sockaddr_from_host_port(listen, (size_t)(colon - listen), 0, &sa, &salen) < 0)
        return 0;
    if (sa.ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)&sa)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&sa)->sin6_addr);
}

int api_https_setup(struct api *api, const struct api_config *cfg, char *err, size_t errlen)
{
    if (!cfg->tls_cert_file || !cfg->tls_key_file) {
        if (is_loopback(cfg->listen) || cfg->allow_plain_remote)
            return 0;
        snprintf(err, errlen,
                 "api.listen %s is not a loopback address and the API is plain HTTP: the token "
                 "would cross the network in clear text; set api.tls = true (with tls.cert and "
                 "tls.key), listen on 127.0.0.1 / [::1], or set api.allow_plain_remote = true",
                 cfg->listen);
        return -1;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "api.tls: this libmicrohttpd was built without HTTPS");
        return -1;
    }
    api->https_cert = read_pem("tls.cert", cfg->tls_cert_file, err, errlen);
    api->https_key = api->https_cert ? read_pem("tls.key", cfg->tls_key_file, err, errlen) : NULL;
    if (!api->https_key) {
        api_https_free(api);
        return -1;
    }
    return 0;
}

void api_https_options(const struct api *api, struct MHD_OptionItem *out)
{
    int n = 0;
    if (api->https_key) {
        out[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, api->https_key};
        out[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, api->https_cert};
        out[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITY};
    }
    out[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

void api_https_free(struct api *api)
{
    if (api->https_key) /* the key's bytes do not linger in freed memory */
        memset(api->https_key, 0, strlen(api->https_key));
    free(api->https_key);
    free(api->https_cert);
    api->https_key = api->https_cert = NULL;
}
