/* fuzz_message.c - libFuzzer target for everything that reads network bytes: stream framing,
 * oSIP parsing, request/response validation, Via handling, response building, the raw 400 for
 * unparseable requests, and the textual forwarding edits.
 *
 *   tests/fuzz/build.sh && ./fuzz_message -max_total_time=60 tests/fuzz/corpus */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "sip/msg.h"
#include "sip/rewrite.h"
#include "transport/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        sip_msg_init();
        init = 1;
    }
    if (size > 70000)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';

    size_t flen;
    sip_frame_next(buf, size, 65536, &flen);
    size_t hdr = sip_find_header_end(buf, size), cl;
    if (hdr)
        sip_content_length(buf, hdr, &cl);

    char out[4096];
    sip_raw_bad_request(buf, size, "fuzz", out, sizeof out);

    osip_message_t *m = sip_parse(buf, size);
    if (m) {
        struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
        sockaddr_from_host_port("192.0.2.1", 9, 5060, &src.peer, &src.peerlen);
        const char *reason;
        if (MSG_IS_RESPONSE(m)) {
            sip_response_check(m);
            struct sbuf b;
            sbuf_init(&b);
            sip_rewrite_pop_via(buf, size, &b);
            sbuf_free(&b);
        } else if (sip_request_answerable(m)) {
            sip_via_apply_source(m, &src);
            int st = sip_request_check(m, &reason);
            struct sbuf b;
            sbuf_init(&b);
            sip_response_text(m, st ? st : 200, st ? reason : NULL, "tag", "X: y\r\n", &b);
            sbuf_reset(&b);
            struct fwd_edit e = {.new_ruri = "sip:x@192.0.2.2", .prepend = "Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKf\r\n",
                                 .top_via_value = "SIP/2.0/UDP 1.1.1.1", .drop_routes = 2, .max_forwards = 9};
            sip_rewrite_request(buf, size, &e, &b);
            sbuf_reset(&b);
            struct resp_edit r = {.code = st ? st : 180, .reason = "R", .top_via_value = "SIP/2.0/UDP 1.1.1.1",
                                  .to_tag = "tag", .with_record_route = 1, .extra_headers = "X: y\r\n"};
            sip_rewrite_response(buf, size, &r, &b);
            sbuf_free(&b);
            struct sip_source d;
            sip_response_dest(m, &src, &d);
        }
        osip_message_free(m);
    }
    free(buf);
    return 0;
}
