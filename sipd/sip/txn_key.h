/* txn_key.h - the keys the transaction layer (txn.c) files its transactions under: RFC 3261
 * §17.1.3 (client), §17.2.3 (server, with the RFC 2543 fallback) and §8.2.2.2 (a request's
 * origin, for merged requests). Private to sip/: txn.c and its unit test use it.
 *
 * Each function writes a NUL-terminated key into buf (n bytes) and returns its length, or -1
 * when the message lacks what the key needs or the key does not fit. */
#ifndef SIPD_SIP_TXN_KEY_H
#define SIPD_SIP_TXN_KEY_H

#include <stddef.h>

#include <osipparser2/osip_message.h>

/* Server transaction key, with `method` standing for the request's own (ACK and CANCEL look
 * up their INVITE with "INVITE"). */
int txn_key_server(const osip_message_t *req, const char *method, char *buf, size_t n);

/* Client transaction key: the branch we sent and the method. */
int txn_key_client(const char *branch, const char *method, char *buf, size_t n);

/* The branch parameter of m's top Via ("" when it has no value), or NULL. */
const char *txn_key_top_branch(const osip_message_t *m);

/* §8.2.2.2 origin of a request outside a dialog: From tag, Call-ID, CSeq number and method.
 * -1 also when the request has no From tag (an RFC 2543 client) or a To tag. */
int txn_key_origin(const osip_message_t *req, char *buf, size_t n);

#endif
