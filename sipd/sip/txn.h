/* txn.h - SIP transaction layer (RFC 3261 §17).
 *
 * Now: non-INVITE server transactions (§17.2.2): a retransmitted request is absorbed and the last
 * response re-sent; Timer J keeps a completed transaction 64*T1 on UDP (T4 on TCP, where the RFC
 * allows 0: it catches a request re-sent over a new connection). A completed transaction keeps
 * only its key and the response bytes.
 * Matching by branch (z9hG4bK, §17.2.3) with the RFC 2543 fallback. */
#ifndef SIPD_TXN_H
#define SIPD_TXN_H

#include <osipparser2/osip_parser.h>
#include <stddef.h>

#include "../transport/transport.h"

struct loop;
struct txn_layer;
struct sip_txn;

struct txn_config {
    unsigned t1_ms; /* RTT estimate, default 500 */
    unsigned t2_ms; /* maximum retransmit interval for non-INVITE, default 4000 */
    unsigned t4_ms; /* maximum duration a message remains in the network, default 5000 */
};

/* Caller frees with txn_layer_destroy(). NULL on allocation failure. */
struct txn_layer *txn_layer_create(struct loop *loop, struct transport *tp, const struct txn_config *cfg);
/* Frees every transaction (no responses are sent). */
void txn_layer_destroy(struct txn_layer *tl);

/* Matching key of a request for its server transaction, written into buf. Returns 0 or -1 (buf
 * too small / request unusable). Exposed for tests. */
int txn_server_key(const osip_message_t *req, char *buf, size_t n);

/* An incoming request (not ACK). When it matches a live server transaction it is a
 * retransmission: the last response (if any) is re-sent, *absorbed = 1, NULL is returned and the
 * caller frees req. Otherwise a new transaction takes ownership of req and is returned
 * (*absorbed = 0); NULL with *absorbed = 0 means out of memory (caller frees req). */
struct sip_txn *txn_server_new(struct txn_layer *tl, osip_message_t *req,
                               const struct sip_source *src, int *absorbed);

/* The request; NULL once the transaction has sent its final response. */
osip_message_t *txn_request(const struct sip_txn *t);
const struct sip_source *txn_source(const struct sip_txn *t);
/* The To tag this transaction uses for responses it builds (stable for the transaction). */
const char *txn_local_tag(const struct sip_txn *t);

/* Send resp (ownership taken) within the transaction. A final response completes it; after that
 * the transaction may be freed at any time (do not use t again). Returns 0 or -errno (the
 * transaction is completed either way for a final response). */
int txn_respond(struct sip_txn *t, osip_message_t *resp);

/* Fast path for body-less responses: render the response text directly (sip_response_text)
 * with extra_headers (complete "Name: value\r\n" lines, or NULL) and send it. */
int txn_respond_text(struct sip_txn *t, int code, const char *reason, const char *extra_headers);

/* Build a response with one optional extra header and send it. extra_header/extra_value may be NULL. */
int txn_respond_simple(struct sip_txn *t, int code, const char *reason, const char *extra_header,
                       const char *extra_value);

/* Transactions alive / still without a final response (the node's load, work_num). */
size_t txn_layer_count(const struct txn_layer *tl);
size_t txn_layer_pending(const struct txn_layer *tl);

#endif
