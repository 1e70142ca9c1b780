/* stats.h - the SIP layer's counters: requests received by method, responses sent by method and
 * class (sipd_requests_received_total, sipd_responses_sent_total; docs/metrics.md).
 *
 * A method becomes a small slot number once (the transaction keeps it), so counting is an array
 * index: the label sets are the fixed methods of sipd's world plus "other", and the response
 * classes 1xx..6xx. Series are created the first time they are counted, so /metrics shows only
 * what happened. */
#ifndef SIPD_SIP_STATS_H
#define SIPD_SIP_STATS_H

/* The slot of a method name (case-sensitive, RFC 3261 §7.1); unknown methods share one. */
unsigned sip_stats_method_slot(const char *method);

/* A request (retransmissions included) arrived and parsed. */
void sip_stats_request_received(unsigned slot);
/* A response with this status code was sent for a request of this method slot (not counted:
 * retransmissions of the same response). */
void sip_stats_response_sent(unsigned slot, int code);

#endif
