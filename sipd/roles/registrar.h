/* registrar.h - the registrar role: RFC 3261 §10.3 bindings, RFC 3327 Path, RFC 5626
 * instance/reg-id, kept in the location service (store.h).
 *
 * registrar_apply() is the rule engine: a pure function from (request, current bindings) to the
 * new binding set or an error status, so unit tests exercise every rule without a network. */
#ifndef SIPD_REGISTRAR_H
#define SIPD_REGISTRAR_H

#include <osipparser2/osip_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/binding.h"
#include "../transport/transport.h"

struct registrar_config {
    int min_expires;     /* 423 below this (except 0) */
    int max_expires;     /* longer requests are shortened to this */
    int default_expires; /* when neither the Contact nor the Expires header says */
    int max_contacts;    /* bindings per AOR */
    const char *const *domains; /* NULL-terminated; NULL or empty = accept every domain */
    const char *node_name; /* --name with a database: written in each binding's node; NULL = none */
};

struct reg_contact {
    char *uri;      /* as sent, without <> */
    int expires;    /* contact "expires" param, -1 when absent */
    int q;          /* q * 1000, -1 when absent */
    char *instance; /* +sip.instance without <> and quotes, NULL when absent */
    int reg_id;     /* 0 when absent */
};

struct reg_request {
    char *aor;
    char *call_id;
    uint32_t cseq;
    int header_expires; /* Expires header, -1 when absent */
    int is_wildcard;    /* Contact: * */
    struct reg_contact *contacts;
    size_t ncontacts;
    char *path;         /* Path values joined with ",", NULL when none */
    int supports_path;
    char *user_agent;
    char *received;     /* "udp:1.2.3.4:5060" */
    uint64_t conn_id;
    int64_t now;        /* unix seconds */
    const char *node;   /* the accepting node's name (registrar_config.node_name), not owned */
};

struct reg_outcome {
    int status;          /* 0 = success (200), else the SIP status of the error */
    const char *reason;  /* static reason phrase for errors, or NULL */
    int min_expires;     /* for 423 */
};

/* Turn a REGISTER into a reg_request (allocations owned by out; free with reg_request_free()).
 * Returns 0, or a SIP status (400/404/403/420 ...) with oc->reason set; unsupported (420) puts the
 * offending option into unsupported[]. */
int registrar_parse(const struct registrar_config *cfg, const osip_message_t *req,
                    const struct sip_source *src, int64_t now, struct reg_request *out,
                    struct reg_outcome *oc, char *unsupported, size_t unsupported_len);
void reg_request_free(struct reg_request *r);

/* The rules. Fills out with the complete new binding set and returns 0, or returns an error
 * status (also in oc). Nothing in cur is modified. */
int registrar_apply(const struct registrar_config *cfg, const struct reg_request *r,
                    const struct binding *cur, size_t ncur, struct binding_list *out,
                    struct reg_outcome *oc);

struct sbuf;
/* Append "Contact: <uri>;expires=N[;q=][;+sip.instance=][;reg-id=]\r\n" for every binding
 * (expires relative to now). */
void registrar_format_contacts(struct sbuf *out, const struct binding *b, size_t n, int64_t now);

/* ---- the role on the event loop ------------------------------------------------------------ */
struct registrar;
struct store;
struct sip_txn;

/* Caller frees with registrar_destroy(). cfg is copied (domains must outlive the registrar). */
struct registrar *registrar_create(struct store *st, const struct registrar_config *cfg);
void registrar_destroy(struct registrar *reg);
/* New expiry bounds and max_contacts (a SIGHUP reload); the next REGISTER uses them. */
void registrar_set_limits(struct registrar *reg, const struct registrar_config *cfg);
/* Told after every successful REGISTER that leaves bindings (after the 200 was sent), with the
 * AOR's bindings as stored; valid only during the call. */
typedef void (*registrar_hook_cb)(void *arg, const char *aor, const struct binding *b, size_t n);
void registrar_set_hook(struct registrar *reg, registrar_hook_cb cb, void *arg);
/* Handle a REGISTER server transaction; always ends with a final response (now or later). */
void registrar_handle(struct registrar *reg, struct sip_txn *t);

#endif
