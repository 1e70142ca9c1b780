/* uas.h - RFC 3261 §8.2 checks for a request this node answers itself, as a UAS (not one it
 * forwards): method inspection (§8.2.1), merged requests (§8.2.2.2), Require (§8.2.2.3),
 * content encoding (§8.2.3). The dispatcher (server.c) decides which requests are ours; these
 * answer the ones we refuse. */
#ifndef SIPD_UAS_H
#define SIPD_UAS_H

struct sip_txn;

/* A merged request (§8.2.2.2: the same From tag, Call-ID and CSeq as a transaction we are
 * answering, by another branch -- it forked upstream and came twice): 482. Returns 1 when it
 * answered. uas_refuses() asks it first; a role that checks its own Require (the registrar)
 * asks it alone. */
int uas_refuses_merged(struct sip_txn *t);

/* A merged request (above); then Require with an option-tag we do not support: 420 with
 * Unsupported naming it; a body with a Content-Encoding other than identity: 415 with
 * Accept-Encoding. Returns 1 when it answered (the transaction is done), 0 when the request may
 * be handled. Never for ACK or CANCEL. */
int uas_refuses(struct sip_txn *t);

/* A method not taken at this URI: 405 with Allow: allow when sipd knows the method (it is in
 * SIP_ALLOW_METHODS), else 501 with what sipd implements. */
void uas_refuse_method(struct sip_txn *t, const char *allow);

#endif
