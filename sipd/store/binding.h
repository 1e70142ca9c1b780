/* binding.h - a registrar binding (RFC 3261 §10, RFC 3327 Path, RFC 5626 instance/reg-id).
 *
 * All strings are heap copies owned by the binding (NULL when absent); binding_clear() frees them. */
#ifndef SIPD_BINDING_H
#define SIPD_BINDING_H

#include <stddef.h>
#include <stdint.h>

struct binding {
    char *aor;          /* canonical address-of-record, "sip:user@domain" */
    char *contact;      /* contact URI as registered (without <>, without header params) */
    char *call_id;
    uint32_t cseq;
    int64_t expires_at; /* unix time, seconds */
    int q;              /* q-value * 1000 (0..1000), -1 when the Contact gave none */
    char *path;         /* Path header values joined with ",", in received order */
    char *instance;     /* +sip.instance value, with its <> and quotes removed */
    int reg_id;         /* reg-id, 0 when absent */
    char *user_agent;
    char *received;     /* where the REGISTER came from: "udp:1.2.3.4:5060" / "tcp:[::1]:5070" */
    uint64_t conn_id;   /* local TCP connection id that carried it (0 = none; node-local) */
    char *node;         /* name of the node that accepted it (NULL = this one) */
    int64_t updated_at; /* unix time of last change */
};

struct binding_list {
    struct binding *v;
    size_t len, cap;
};

void binding_clear(struct binding *b);
/* Deep copy src into dst (dst is overwritten, not freed). Returns 0 or -ENOMEM. */
int binding_copy(struct binding *dst, const struct binding *src);

void binding_list_init(struct binding_list *l);
void binding_list_free(struct binding_list *l);
/* Append a deep copy. Returns 0 or -ENOMEM. */
int binding_list_push_copy(struct binding_list *l, const struct binding *b);
/* Append, taking ownership of b's strings (b is zeroed). Returns 0 or -ENOMEM. */
int binding_list_push_move(struct binding_list *l, struct binding *b);

#endif
