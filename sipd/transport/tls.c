/* tls.c - GnuTLS sessions for the stream transport; see tls.h for the design.
 *
 * Why GnuTLS: libmicrohttpd's HTTPS (the REST API) is built on it, so one TLS library, one set
 * of credentials and one priority string serve SIP and REST (docs/tls.md). */
#include "tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/log.h"

/* One handshake message may not make GnuTLS buffer more than this (a certificate chain fits
 * easily); the default is far larger. */
#define TLS_MAX_HANDSHAKE_PACKET (48 * 1024)

struct tls_ctx {
    struct tls_config cfg;
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    int has_ca;
    char *cert_file, *key_file, *ca_file;
};

struct tls_session {
    gnutls_session_t s;
    char peer_ip[64]; /* the name to verify: GnuTLS keeps the pointer, not a copy */
};

static void set_err(char *err, size_t errlen, const char *what, const char *file, int rc)
{
    snprintf(err, errlen, "%s '%s': %s", what, file, gnutls_strerror(rc));
}

struct tls_ctx *tls_ctx_create(const struct tls_config *cfg, char *err, size_t errlen)
{
    if (!cfg->cert_file || !cfg->cert_file[0] || !cfg->key_file || !cfg->key_file[0]) {
        snprintf(err, errlen, "tls: tls.cert and tls.key are both needed");
        return NULL;
    }
    struct tls_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "tls: out of memory");
        return NULL;
    }
    ctx->cfg = *cfg;
    ctx->cert_file = strdup(cfg->cert_file);
    ctx->key_file = strdup(cfg->key_file);
    ctx->ca_file = cfg->ca_file && cfg->ca_file[0] ? strdup(cfg->ca_file) : NULL;
    ctx->cfg.cert_file = ctx->cert_file;
    ctx->cfg.key_file = ctx->key_file;
    ctx->cfg.ca_file = ctx->ca_file;
    int rc = gnutls_certificate_allocate_credentials(&ctx->cred);
    if (rc < 0 || !ctx->cert_file || !ctx->key_file || (cfg->ca_file && cfg->ca_file[0] && !ctx->ca_file)) {
        snprintf(err, errlen, "tls: out of memory");
        goto fail;
    }
    rc = gnutls_certificate_set_x509_key_file(ctx->cred, ctx->cert_file, ctx->key_file,
                                              GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        snprintf(err, errlen, "tls.cert '%s' / tls.key '%s': %s", ctx->cert_file, ctx->key_file,
                 gnutls_strerror(rc));
        goto fail;
    }
    if (ctx->ca_file) {
        rc = gnutls_certificate_set_x509_trust_file(ctx->cred, ctx->ca_file, GNUTLS_X509_FMT_PEM);
        if (rc <= 0) {
            if (rc == 0)
                snprintf(err, errlen, "tls.ca '%s': no certificate in it", ctx->ca_file);
            else
                set_err(err, errlen, "tls.ca", ctx->ca_file, rc);
            goto fail;
        }
        ctx->has_ca = 1;
    } else {
        /* servers we connect to are verified against the system's store; none there just means
         * outbound TLS fails verification (logged per connection) */
        rc = gnutls_certificate_set_x509_system_trust(ctx->cred);
        if (rc < 0)
            LOG_WARN("tls: no system trust store (%s): outbound TLS needs tls.ca", gnutls_strerror(rc));
    }
    const char *where = NULL;
    rc = gnutls_priority_init(&ctx->prio, TLS_PRIORITY, &where);
    if (rc < 0) {
        snprintf(err, errlen, "tls: priority '%s': %s", TLS_PRIORITY, gnutls_strerror(rc));
        goto fail;
    }
    return ctx;
fail:
    tls_ctx_free(ctx);
    return NULL;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->prio)
        gnutls_priority_deinit(ctx->prio);
    if (ctx->cred)
        gnutls_certificate_free_credentials(ctx->cred);
    free(ctx->cert_file);
    free(ctx->key_file);
    free(ctx->ca_file);
    free(ctx);
}

const struct tls_config *tls_ctx_config(const struct tls_ctx *ctx) { return &ctx->cfg; }

static struct tls_session *session_new(struct tls_ctx *ctx, int fd, unsigned flags)
{
    struct tls_session *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    int rc = gnutls_init(&t->s, flags | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    if (rc < 0) {
        LOG_WARN("tls: session init failed: %s", gnutls_strerror(rc));
        free(t);
        return NULL;
    }
    if ((rc = gnutls_priority_set(t->s, ctx->prio)) < 0 ||
        (rc = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, ctx->cred)) < 0) {
        LOG_WARN("tls: session setup failed: %s", gnutls_strerror(rc));
        tls_session_free(t);
        return NULL;
    }
    gnutls_handshake_set_max_packet_length(t->s, TLS_MAX_HANDSHAKE_PACKET);
    gnutls_transport_set_int(t->s, fd);
    return t;
}

struct tls_session *tls_session_server(struct tls_ctx *ctx, int fd)
{
    struct tls_session *t = session_new(ctx, fd, GNUTLS_SERVER);
    if (t && ctx->has_ca) {
        /* a client certificate is required, and verified against tls.ca during the handshake */
        gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert(t->s, NULL, 0);
    }
    return t;
}

struct tls_session *tls_session_client(struct tls_ctx *ctx, int fd, const char *peer_ip)
{
    struct tls_session *t = session_new(ctx, fd, GNUTLS_CLIENT);
    if (t) { /* chain to tls.ca (or the system store) and a subjectAltName naming peer_ip */
        snprintf(t->peer_ip, sizeof t->peer_ip, "%s", peer_ip);
        gnutls_session_set_verify_cert(t->s, t->peer_ip, 0);
    }
    return t;
}

void tls_session_free(struct tls_session *t)
{
    if (!t)
        return;
    gnutls_deinit(t->s);
    free(t);
}

int tls_session_handshake(struct tls_session *t, const char **reason)
{
    for (;;) {
        int rc = gnutls_handshake(t->s);
        if (rc == GNUTLS_E_SUCCESS)
            return 0;
        if (rc == GNUTLS_E_AGAIN)
            return -EAGAIN;
        if (rc == GNUTLS_E_INTERRUPTED || (rc < 0 && !gnutls_error_is_fatal(rc)))
            continue; /* e.g. a warning alert: go on */
        *reason = gnutls_strerror(rc);
        /* tell the peer why (protocol_version for TLS 1.1, ...): one non-blocking try */
        gnutls_alert_send_appropriate(t->s, rc);
        return -EPROTO;
    }
}

int tls_session_wants_write(const struct tls_session *t)
{
    return gnutls_record_get_direction(t->s) == 1;
}

/* A GnuTLS return code as recv/send would say it. */
static ssize_t as_errno(ssize_t rc)
{
    if (rc >= 0)
        return rc;
    if (rc == GNUTLS_E_AGAIN)
        errno = EAGAIN;
    else if (rc == GNUTLS_E_INTERRUPTED)
        errno = EINTR;
    else
        errno = EIO;
    return -1;
}

ssize_t tls_session_recv(struct tls_session *t, void *buf, size_t len)
{
    ssize_t rc = gnutls_record_recv(t->s, buf, len);
    if (rc == GNUTLS_E_PREMATURE_TERMINATION)
        return 0; /* the peer closed without close_notify: for SIP, a close like any other */
    if (rc == GNUTLS_E_REHANDSHAKE || rc == GNUTLS_E_WARNING_ALERT_RECEIVED) {
        errno = EINTR; /* nothing to read from this record: ask again */
        return -1;
    }
    return as_errno(rc);
}

ssize_t tls_session_send(struct tls_session *t, const void *buf, size_t len)
{
    return as_errno(gnutls_record_send(t->s, buf, len));
}

size_t tls_session_pending(struct tls_session *t) { return gnutls_record_check_pending(t->s); }

void tls_session_bye(struct tls_session *t) { gnutls_bye(t->s, GNUTLS_SHUT_WR); }
