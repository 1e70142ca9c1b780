/* fuzz_framing.c - libFuzzer target for the TCP framer (sipd/transport/framing.c) and the checks
 * made on each framed message before parsing (sipd/sip/admission.c).
 *
 * The input's first byte seeds the chunk sizes (1..64 bytes, or whole-stream), the rest is the
 * byte stream. It is fed chunk by chunk into a bounded buffer the way transport.c does, framing
 * after every chunk; the same stream is also framed in one piece. Invariants: every unit lies
 * within the bytes received, a message is its header section plus its Content-Length, and the
 * units (and the error that ends the stream, if any) are the same however the stream was cut.
 *
 *   tests/fuzz/build.sh && mkdir -p f && ./fuzz_framing -max_total_time=60 f tests/fuzz/corpus_framing */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/admission.h"
#include "transport/framing.h"

#define MAX_MSG 2048
#define MAX_UNITS 256

struct units {
    int kind[MAX_UNITS];
    size_t len[MAX_UNITS];
    int n;
    int end; /* FRAME_NEED_MORE at the end, or the error */
};

static struct admission *adm;

static void check_unit(const char *buf, size_t avail, enum frame_kind k, size_t flen)
{
    if (k == FRAME_NEED_MORE || k == FRAME_TOO_BIG || k == FRAME_BAD)
        return;
    if (flen == 0 || flen > avail)
        abort();
    if (k == FRAME_MESSAGE) {
        size_t hdr = sip_find_header_end(buf, flen), cl = 0;
        if (!hdr || sip_content_length(buf, hdr, &cl) < 0 || hdr + cl != flen || flen > MAX_MSG)
            abort();
        /* what server.c does with it next: the checks before parsing */
        char *copy = malloc(flen + 1), out[1024];
        memcpy(copy, buf, flen);
        copy[flen] = '\0';
        struct sip_source src = {.proto = SIP_PROTO_TCP};
        src.peer.ss_family = AF_INET;
        size_t n;
        enum admission_verdict v = admission_check(adm, &src, copy, flen, hdr, 0, out, sizeof out, &n);
        if ((v == ADMIT_ANSWER) != (n > 0) || n > sizeof out)
            abort();
        free(copy);
    }
}

/* Feed stream[0..len) in chunks; cut(i) gives the i-th chunk size (0 = the rest). */
static void feed(const char *stream, size_t len, uint8_t seed, struct units *u)
{
    char buf[MAX_MSG + 4096 + 1];
    size_t have = 0, pos = 0;
    uint32_t x = seed * 2654435761u + 1;
    memset(u, 0, sizeof *u);
    u->end = FRAME_NEED_MORE;
    while (pos < len) {
        x = x * 1103515245u + 12345u;
        size_t step = seed == 0 ? len - pos : 1 + (x >> 16) % 64;
        if (step > len - pos)
            step = len - pos;
        if (have + step > sizeof buf - 1) {
            u->end = FRAME_TOO_BIG; /* the transport's buffer bound */
            return;
        }
        memcpy(buf + have, stream + pos, step);
        have += step;
        pos += step;
        size_t off = 0;
        for (;;) {
            size_t flen;
            enum frame_kind k = sip_frame_next(buf + off, have - off, MAX_MSG, &flen);
            check_unit(buf + off, have - off, k, flen);
            if (k == FRAME_NEED_MORE)
                break;
            if (k == FRAME_TOO_BIG || k == FRAME_BAD) {
                u->end = k;
                return;
            }
            if (u->n < MAX_UNITS) {
                u->kind[u->n] = k;
                u->len[u->n] = flen;
                u->n++;
            }
            off += flen;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    if (!adm) {
        struct admission_config ac = {.rate_per_s = 0, .burst = 1, .reject_rate_per_s = 1,
                                      .max_sources = 4, .max_headers = 16,
                                      .max_header_line_bytes = 256, .max_body_udp_bytes = 100,
                                      .max_body_tcp_bytes = 1000, .exempt = ""};
        char err[128];
        adm = admission_create(&ac, err, sizeof err);
        if (!adm)
            abort();
    }
    const char *stream = (const char *)data + 1;
    size_t len = size - 1;
    struct units a, b;
    feed(stream, len, data[0], &a);
    feed(stream, len, 0, &b);
    /* the same units whatever the cuts; a buffer-bound stop may come earlier in one of them */
    int n = a.n < b.n ? a.n : b.n;
    for (int i = 0; i < n; i++)
        if (a.kind[i] != b.kind[i] || a.len[i] != b.len[i])
            abort();
    if (a.end != FRAME_TOO_BIG && b.end != FRAME_TOO_BIG && (a.n != b.n || a.end != b.end))
        abort();
    return 0;
}
