/* fuzz_broker.c - libFuzzer target for the broker: every input that parses as a SUBSCRIBE,
 * MESSAGE or PUBLISH request is handed to the im package (initial or in-dialog) exactly as
 * server.c does, on a real transaction layer and memory store; input that parses as a response
 * goes to the client transactions (answers to the broker's NOTIFYs). Responses and NOTIFYs go to
 * 127.0.0.1:9 (discard). The world is rebuilt every 2000 inputs so state stays bounded.
 *
 *   tests/fuzz/build.sh && mkdir -p c && ./fuzz_broker -max_total_time=60 c tests/fuzz/corpus */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/loop.h"
#include "roles/im/broker.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "store/store.h"
#include "transport/transport.h"
#include "loop_fixture.h" /* tests/unit/ */

static struct loop_fixture w; /* loop, transport (UDP on 127.0.0.1) and transaction layer */
static struct store *st;
static struct broker *br;
static unsigned runs;

static void world_up(void)
{
    static const char *const domains[] = {"example.com", NULL};
    struct loop_fixture_config lc = {.t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000, .listen_udp = true};
    if (loop_fixture_open(&w, &lc) != 0)
        abort();
    st = store_create(w.loop, NULL);
    struct broker_config bc = {.default_expires = 600, .min_expires = 60, .max_expires = 3600,
                               .max_message_bytes = 4096, .max_queue = 4,
                               .max_subscriptions = 10000,
                               .ret = {.count = 8, .age_s = 0}, .domains = domains};
    br = broker_create(w.loop, w.tp, w.tl, st, &bc);
}

static void world_down(void)
{
    store_im_set_listener(st, NULL, NULL);
    store_destroy(st);
    broker_destroy(br);
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
        const char *meth = m->sip_method;
        int is_sub = strcmp(meth, "SUBSCRIBE") == 0;
        int is_pub = strcmp(meth, "MESSAGE") == 0 || strcmp(meth, "PUBLISH") == 0;
        int absorbed = 0;
        struct sip_txn *t = (is_sub || is_pub) ? txn_server_new(w.tl, m, &src, &absorbed) : NULL;
        if (!t) {
            osip_message_free(m); /* not ours, a retransmission (absorbed), or out of memory */
        } else {
            txn_keep_raw(t, buf, size);
            struct sip_event ev; /* as the server parsed it */
            sip_event_of(m, &ev);
            osip_generic_param_t *tag = NULL;
            int in_dialog = osip_to_get_tag(m->to, &tag) == 0 && tag && tag->gvalue;
            if (is_sub && in_dialog) {
                if (!broker_handle_in_dialog(br, t, &ev))
                    txn_respond_simple(t, 481, NULL, NULL, NULL);
            } else if (is_sub) {
                broker_handle_subscribe(br, t, &ev);
            } else {
                broker_handle_publish(br, t, &ev);
            }
        }
    } else if (m) {
        osip_message_free(m);
    }
    free(buf);
    return 0;
}
