/* loop_fixture.h - a loop plus a transaction layer on loopback, for the unit tests (and the fuzz
 * targets) that drive the SIP layers through real sockets.
 *
 * One event loop, one transport (the same limits in every test) with an optional UDP listener on
 * 127.0.0.1 (port chosen by the kernel), and one transaction layer with the caller's timers. The
 * fixture owns the three; loop_fixture_close() frees them. No CUnit here, so a fuzz target can
 * link it too. */
#ifndef SIPD_TEST_LOOP_FIXTURE_H
#define SIPD_TEST_LOOP_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/loop.h"
#include "sip/txn.h"
#include "transport/transport.h"

struct loop_fixture_config {
    unsigned t1_ms, t2_ms, t4_ms; /* the transaction layer's timers */
    bool listen_udp;              /* open a UDP listener on 127.0.0.1:0 */
    transport_recv_cb on_recv;    /* what the transport delivers to; NULL: dropped */
    void *arg;                    /* on_recv's argument */
};

struct loop_fixture {
    struct loop *loop;
    struct transport *tp;
    struct txn_layer *tl;
    struct sockaddr_storage listener; /* the UDP listener's address (listen_udp only) */
    socklen_t listenerlen;            /* 0 without a listener */
};

/* Fills f. Returns 0, or -1 when something could not be created (f is then closed). */
int loop_fixture_open(struct loop_fixture *f, const struct loop_fixture_config *cfg);
/* Frees the transaction layer, the transport and the loop (in that order). */
void loop_fixture_close(struct loop_fixture *f);
/* Runs the loop for ms milliseconds of its clock, then returns. */
void loop_fixture_run_ms(struct loop_fixture *f, uint64_t ms);

#endif
