/* txn.h - SIP transaction layer (RFC 3261 §17, with RFC 6026's Accepted state).
 *
 * Server transactions (§17.2): non-INVITE (Trying, Proceeding, Completed + Timer J) and INVITE
 * (Proceeding, Accepted + Timer L, Completed with Timer G retransmissions and Timer H, Confirmed
 * + Timer I). A retransmitted request is absorbed and the last response re-sent.
 *
 * Client transactions (§17.1): non-INVITE (Trying, Proceeding with Timer E retransmissions and
 * Timer F, Completed + Timer K) and INVITE (Calling with Timer A retransmissions and Timer B,
 * Proceeding, Accepted + Timer M, Completed + Timer D, ACK for non-2xx generated here).
 * Retransmissions happen on UDP only. Responses match by top Via branch and CSeq method;
 * requests by branch + sent-by + method (z9hG4bK, §17.2.3) with the RFC 2543 fallback.
 *
 * Work in progress (no final response / no final result yet) is counted exactly: it is the
 * node's load (work_num). */
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
    unsigned t2_ms; /* maximum retransmit interval for non-INVITE requests and INVITE responses, 4000 */
    unsigned t4_ms; /* maximum duration a message remains in the network, 5000 */
};

/* Caller frees with txn_layer_destroy(). NULL on allocation failure. */
struct txn_layer *txn_layer_create(struct loop *loop, struct transport *tp, const struct txn_config *cfg);
/* Frees every transaction (no messages are sent, no callbacks run except owners' gone callbacks). */
void txn_layer_destroy(struct txn_layer *tl);

const struct txn_config *txn_layer_config(const struct txn_layer *tl);

/* Transactions alive / still in progress (the node's load, work_num). */
size_t txn_layer_count(const struct txn_layer *tl);
size_t txn_layer_pending(const struct txn_layer *tl);

/* ---- server transactions ------------------------------------------------------------------ */

/* Matching key of a request for its server transaction, written into buf. Returns 0 or -1.
 * Exposed for tests. */
int txn_server_key(const osip_message_t *req, char *buf, size_t n);

/* An incoming request other than ACK. When it matches a live server transaction it is a
 * retransmission: the last response (if any) is re-sent, *absorbed = 1, NULL is returned and the
 * caller frees req. Otherwise a new transaction takes ownership of req and is returned
 * (*absorbed = 0); NULL with *absorbed = 0 means out of memory (caller frees req). */
struct sip_txn *txn_server_new(struct txn_layer *tl, osip_message_t *req,
                               const struct sip_source *src, int *absorbed);

/* RFC 3261 §8.2.2.2, for a request this node answers as the UAS: 1 when it is a merged request
 * -- no To tag, and another live server transaction that asked before carries the same From tag,
 * Call-ID and CSeq (number and method) under another branch (the request forked upstream and
 * came by a second path): answer it 482. Otherwise t is remembered for its lifetime and 0 is
 * returned (also for a request with a To tag or without a From tag). O(1); ask only for a
 * transaction the node answers itself, never for one it forwards (asking twice is harmless). */
int txn_server_is_merged(struct sip_txn *t);

/* An incoming ACK. Returns 1 when it belongs to an INVITE server transaction whose final
 * response was not a 2xx (absorbed: the caller frees req), 0 otherwise (an ACK for a 2xx is
 * end-to-end: the caller routes it). */
int txn_server_ack(struct txn_layer *tl, const osip_message_t *ack);

/* The INVITE server transaction a CANCEL refers to (§9.2), or NULL. */
struct sip_txn *txn_server_find_invite(struct txn_layer *tl, const osip_message_t *cancel);

/* The request. A non-INVITE server transaction drops it once it has sent its final response
 * (NULL then). For client transactions: the request as sent. */
osip_message_t *txn_request(const struct sip_txn *t);
const struct sip_source *txn_source(const struct sip_txn *t);
/* Keep a copy of the bytes the request was parsed from (for forwarding by textual edits).
 * Returns 0 or -ENOMEM. txn_raw() gives them back (NULL when not kept). */
int txn_keep_raw(struct sip_txn *t, const char *buf, size_t len);
const char *txn_raw(const struct sip_txn *t, size_t *len);

/* The identity (canonical AOR, "sip:user@domain") a server transaction's request authenticated
 * as (auth/auth.c), or NULL when it did not authenticate. set copies it; returns 0 or -ENOMEM. */
int txn_set_identity(struct sip_txn *t, const char *aor);
const char *txn_identity(const struct sip_txn *t);

/* The To tag this server transaction uses for responses it builds (stable for it). */
const char *txn_local_tag(const struct sip_txn *t);
/* The final response's code sent (server) / received (client), else 0. */
int txn_final_code(const struct sip_txn *t);
int txn_is_invite(const struct sip_txn *t);

/* Called once when the transaction is freed, so a transaction user holding a pointer to it can
 * let go. One owner per transaction; NULL cb to clear. */
typedef void (*txn_gone_cb)(void *arg, struct sip_txn *t);
void txn_set_owner(struct sip_txn *t, txn_gone_cb cb, void *arg);
/* The owner's arg given to txn_set_owner(), or NULL. */
void *txn_owner(const struct sip_txn *t);

/* Send resp (ownership taken) within the server transaction. A final response completes it
 * (an INVITE 2xx moves it to Accepted, where further 2xx may still be sent). Returns 0 or
 * -errno. */
int txn_respond(struct sip_txn *t, osip_message_t *resp);

/* Fast path for body-less responses: render the response text directly (sip_response_text)
 * with extra_headers (complete "Name: value\r\n" lines, or NULL) and send it. */
int txn_respond_text(struct sip_txn *t, int code, const char *reason, const char *extra_headers);

/* Build a response with one optional extra header and send it. */
int txn_respond_simple(struct sip_txn *t, int code, const char *reason, const char *extra_header,
                       const char *extra_value);

/* Send already-serialised response bytes (e.g. a forwarded response) with this status code.
 * The bytes are copied. */
int txn_respond_bytes(struct sip_txn *t, int code, const char *buf, size_t len);

/* ---- client transactions ------------------------------------------------------------------ */

/* What a client transaction tells its user. resp is NULL for TXN_TIMEOUT (code 408) and
 * TXN_TRANSPORT_ERROR (code 503); it is only valid during the call and the user may modify it
 * (e.g. pop the top Via to forward it). raw/raw_len are the bytes it was parsed from (NULL/0
 * when not given), for forwarding by textual edits. Every provisional response,
 * the final response and (INVITE, Accepted state) retransmitted 2xx responses are reported;
 * retransmitted non-2xx finals are absorbed here (and ACKed again). */
enum txn_event { TXN_RESPONSE, TXN_TIMEOUT, TXN_TRANSPORT_ERROR };
typedef void (*txn_client_cb)(void *arg, struct sip_txn *ct, enum txn_event ev,
                              osip_message_t *resp, const char *raw, size_t raw_len, int code);

/* A new branch parameter value ("z9hG4bK" + random) into buf (n >= 32). */
void txn_new_branch(char *buf, size_t n);

/* Start a client transaction: send req (ownership taken; its top Via must carry a fresh
 * z9hG4bK branch) to dst, retransmitting on UDP. A transport error is reported through cb
 * from the loop (never before this returns). Returns the transaction or NULL (out of memory;
 * req freed). */
struct sip_txn *txn_client_new(struct txn_layer *tl, osip_message_t *req, const struct sip_source *dst,
                               txn_client_cb cb, void *arg);

/* The same for a request already serialised (a forwarded request edited as text): method and
 * branch are its CSeq method and top Via branch; buf/len are copied. The parsed form is only
 * built if an ACK or CANCEL has to be derived from it. */
struct sip_txn *txn_client_new_bytes(struct txn_layer *tl, const char *method, const char *branch,
                                     const char *buf, size_t len, const struct sip_source *dst,
                                     txn_client_cb cb, void *arg);

/* Stop reporting to the user (it is going away); the transaction finishes on its own. A 2xx
 * that reaches a detached INVITE client transaction is then reported as a stray (see
 * txn_client_response) so that the proxy forwards it statelessly. */
void txn_client_detach(struct sip_txn *ct);

/* Has this INVITE client transaction received a provisional response (so CANCEL may be sent)? */
int txn_client_has_provisional(const struct sip_txn *ct);

/* The CANCEL for an INVITE client transaction (§9.1): same Request-URI, Call-ID, From, To, CSeq
 * number, top Via and Route. Caller owns the message. NULL on failure. */
osip_message_t *txn_client_build_cancel(const struct sip_txn *ct);

/* Where the client transaction sends its request. */
const struct sip_source *txn_client_dest(const struct sip_txn *ct);

/* An incoming response. Returns 1 when a client transaction took it, 0 when none matched (a
 * stray: the caller may forward a 2xx statelessly). The caller frees resp either way. */
int txn_client_response(struct txn_layer *tl, osip_message_t *resp, const char *raw, size_t raw_len,
                        const struct sip_source *src);

#endif
