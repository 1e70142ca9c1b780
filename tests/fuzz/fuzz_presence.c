/* fuzz_presence.c - libFuzzer target for the presence package: every input that parses as a
 * PUBLISH or SUBSCRIBE request is handed to it (initial or in-dialog) as server.c does, on a real
 * transaction layer and memory store; input that parses as a response goes to the client
 * transactions (answers to NOTIFYs). Every 64 inputs presence_tick() runs with a clock that moves
 * 37 s, so publications and subscriptions expire and their NOTIFYs are built. Responses and
 * NOTIFYs go to 127.0.0.1:9 (discard). The world is rebuilt every 2000 inputs.
 *
 *   tests/fuzz/build.sh && mkdir -p q &&
 *   ./fuzz_presence -max_total_time=60 -dict=tests/fuzz/pidf.dict q tests/fuzz/corpus_presence */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/loop.h"
#include "roles/presence/presence.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "sip/uri.h"
#include "store/store.h"
#include "transport/transport.h"
#include "loop_fixture.h" /* tests/unit/ */

static struct loop_fixture w; /* loop, transport (UDP on 127.0.0.1) and transaction layer */
static struct store *st;
static struct presence *pres;
static unsigned runs;
static int64_t clock_s;

static void world_up(void)
{
    static const char *const domains[] = {"example.com", NULL};
    struct loop_fixture_config lc = {.t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000, .listen_udp = true};
    if (loop_fixture_open(&w, &lc) != 0)
        abort();
    st = store_create(w.loop, NULL);
    struct presence_config pc = {
        .publish_min_expires = 1, .publish_max_expires = 3600, .publish_default_expires = 600,
        .subscribe_min_expires = 1, .subscribe_max_expires = 3600,
        .subscribe_default_expires = 600, .domains = domains,
    };
    pres = presence_create(w.loop, w.tp, w.tl, st, &pc);
    clock_s = (int64_t)time(NULL);
}

static void world_down(void)
{
    store_destroy(st);
    presence_destroy(pres);
    loop_fixture_close(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        sip_msg_init();
        log_current_level = LOG_LVL_ERROR;
        world_up();
        init = 1;
    }
    if (size > 70000)
        return 0;
    if (++runs % 2000 == 0) {
        world_down();
        world_up();
    }
    if (runs % 64 == 0) {
        clock_s += 37;
        presence_tick(pres, clock_s);
    }
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    osip_message_t *m = sip_parse(buf, size);
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
    sockaddr_from_host_port("127.0.0.1", 9, 9, &src.peer, &src.peerlen);
    if (m && MSG_IS_RESPONSE(m)) {
        if (sip_response_check(m) == 0)
            txn_client_response(w.tl, m, buf, size, &src);
        osip_message_free(m);
    } else if (m && sip_request_check(m, &(const char *){NULL}) == 0 && m->sip_method &&
               m->req_uri && m->req_uri->host) {
        sip_via_apply_source(m, &src);
        int is_sub = strcmp(m->sip_method, "SUBSCRIBE") == 0;
        int is_pub = strcmp(m->sip_method, "PUBLISH") == 0;
        int absorbed = 0;
        struct sip_txn *t = (is_sub || is_pub) ? txn_server_new(w.tl, m, &src, &absorbed) : NULL;
        if (!t) {
            osip_message_free(m); /* not ours, a retransmission (absorbed), or out of memory */
        } else {
            struct sip_event ev; /* as the server parsed it */
            sip_event_of(m, &ev);
            osip_generic_param_t *tag = NULL;
            int in_dialog = osip_to_get_tag(m->to, &tag) == 0 && tag && tag->gvalue;
            if (is_sub && in_dialog) {
                if (!presence_handle_in_dialog(pres, t, &ev))
                    txn_respond_simple(t, 481, NULL, NULL, NULL);
            } else if (is_sub) {
                presence_handle_subscribe(pres, t, &ev);
            } else {
                presence_handle_publish(pres, t, &ev);
            }
        }
    } else if (m) {
        osip_message_free(m);
    }
    free(buf);
    return 0;
}
