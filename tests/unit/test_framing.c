/* test_framing.c - TCP stream framing: messages split and coalesced at every byte boundary. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "transport/framing.h"

static const char msg1[] = "REGISTER sip:example.com SIP/2.0\r\n"
                           "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
                           "Content-Length: 0\r\n\r\n";
static const char msg2[] = "MESSAGE sip:bob@example.com SIP/2.0\r\n"
                           "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK2\r\n"
                           "Content-Type: text/plain\r\n"
                           "l: 12\r\n\r\n"
                           "hello\r\n\r\nbob";

/* What a connection would see: a sequence of units. kind codes: M message, P ping. */
struct out {
    char kinds[16];
    size_t lens[16];
    int n;
    int error;
};

/* Feed stream in chunks (cut positions) through an accumulating buffer, as the transport does. */
static void feed(const char *stream, size_t total, const size_t *cuts, int ncuts, struct out *o)
{
    char buf[4096];
    size_t have = 0, pos = 0;
    memset(o, 0, sizeof *o);
    for (int c = 0; c <= ncuts; c++) {
        size_t end = c < ncuts ? cuts[c] : total;
        memcpy(buf + have, stream + pos, end - pos);
        have += end - pos;
        pos = end;
        size_t off = 0;
        for (;;) {
            size_t fl;
            enum frame_kind k = sip_frame_next(buf + off, have - off, 2000, &fl);
            if (k == FRAME_NEED_MORE)
                break;
            if (k == FRAME_TOO_BIG || k == FRAME_BAD) {
                o->error = k;
                return;
            }
            if (k == FRAME_MESSAGE || k == FRAME_PING) {
                o->kinds[o->n] = k == FRAME_MESSAGE ? 'M' : 'P';
                o->lens[o->n++] = fl;
            }
            off += fl;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
}

static void expect_two_messages_and_ping(const struct out *o)
{
    CU_ASSERT_EQUAL(o->error, 0);
    CU_ASSERT_EQUAL(o->n, 3);
    CU_ASSERT_EQUAL(o->kinds[0], 'M');
    CU_ASSERT_EQUAL(o->lens[0], strlen(msg1));
    CU_ASSERT_EQUAL(o->kinds[1], 'P');
    CU_ASSERT_EQUAL(o->kinds[2], 'M');
    CU_ASSERT_EQUAL(o->lens[2], strlen(msg2));
}

static void build_stream(char *s, size_t *len)
{
    *len = (size_t)sprintf(s, "%s\r\n\r\n%s", msg1, msg2);
}

static void test_framing_coalesced_in_one_read(void)
{
    char s[2048];
    size_t len;
    build_stream(s, &len);
    struct out o;
    feed(s, len, NULL, 0, &o);
    expect_two_messages_and_ping(&o);
}

static void test_framing_split_at_every_byte_boundary(void)
{
    char s[2048];
    size_t len;
    build_stream(s, &len);
    int bad = 0;
    for (size_t cut = 1; cut < len; cut++) {
        struct out o;
        feed(s, len, &cut, 1, &o);
        if (o.error || o.n != 3 || o.lens[0] != strlen(msg1) || o.kinds[1] != 'P' ||
            o.lens[2] != strlen(msg2))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_framing_one_byte_per_read(void)
{
    char s[2048];
    size_t len;
    build_stream(s, &len);
    size_t *cuts = malloc(len * sizeof *cuts);
    for (size_t i = 0; i < len - 1; i++)
        cuts[i] = i + 1;
    struct out o;
    feed(s, len, cuts, (int)len - 1, &o);
    expect_two_messages_and_ping(&o);
    free(cuts);
}

static void test_framing_body_with_crlfcrlf_inside_is_one_message(void)
{
    size_t fl;
    CU_ASSERT_EQUAL(sip_frame_next(msg2, strlen(msg2), 2000, &fl), FRAME_MESSAGE);
    CU_ASSERT_EQUAL(fl, strlen(msg2));
}

static void test_framing_incomplete_body_needs_more(void)
{
    size_t fl;
    CU_ASSERT_EQUAL(sip_frame_next(msg2, strlen(msg2) - 1, 2000, &fl), FRAME_NEED_MORE);
}

static void test_framing_lone_crlf_is_skipped(void)
{
    size_t fl;
    CU_ASSERT_EQUAL(sip_frame_next("\r\nREGISTER", 10, 2000, &fl), FRAME_CRLF);
    CU_ASSERT_EQUAL(fl, 2);
    CU_ASSERT_EQUAL(sip_frame_next("\r\n", 2, 2000, &fl), FRAME_NEED_MORE);
    CU_ASSERT_EQUAL(sip_frame_next("\r\n\r\n", 4, 2000, &fl), FRAME_PING);
}

static void test_framing_too_big_and_bad_length(void)
{
    size_t fl;
    char big[3000];
    memset(big, 'a', sizeof big);
    CU_ASSERT_EQUAL(sip_frame_next(big, sizeof big, 2000, &fl), FRAME_TOO_BIG);
    const char *huge = "MESSAGE sip:a SIP/2.0\r\nContent-Length: 999999\r\n\r\n";
    CU_ASSERT_EQUAL(sip_frame_next(huge, strlen(huge), 2000, &fl), FRAME_TOO_BIG);
    const char *neg = "MESSAGE sip:a SIP/2.0\r\nContent-Length: -5\r\n\r\n";
    CU_ASSERT_EQUAL(sip_frame_next(neg, strlen(neg), 2000, &fl), FRAME_BAD);
    const char *junk = "MESSAGE sip:a SIP/2.0\r\nContent-Length: 12abc\r\n\r\n";
    CU_ASSERT_EQUAL(sip_frame_next(junk, strlen(junk), 2000, &fl), FRAME_BAD);
    const char *two = "MESSAGE sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab";
    CU_ASSERT_EQUAL(sip_frame_next(two, strlen(two), 2000, &fl), FRAME_BAD);
}

static void test_framing_header_name_case_and_spaces(void)
{
    size_t cl;
    const char *h = "X sip:a SIP/2.0\r\ncontent-LENGTH : 7\r\n\r\n";
    CU_ASSERT_EQUAL(sip_content_length(h, strlen(h), &cl), 0);
    CU_ASSERT_EQUAL(cl, 7);
    const char *h2 = "X sip:a SIP/2.0\r\nContent-Type: a\r\n\r\n";
    CU_ASSERT_EQUAL(sip_content_length(h2, strlen(h2), &cl), 0);
    CU_ASSERT_EQUAL(cl, 0);
    /* a header that merely starts with "l" is not the compact Content-Length */
    const char *h3 = "X sip:a SIP/2.0\r\nLocation: 9\r\n\r\n";
    CU_ASSERT_EQUAL(sip_content_length(h3, strlen(h3), &cl), 0);
    CU_ASSERT_EQUAL(cl, 0);
}

void register_framing_suites(void)
{
    CU_pSuite s = CU_add_suite("framing", NULL, NULL);
    CU_add_test(s, "coalesced in one read", test_framing_coalesced_in_one_read);
    CU_add_test(s, "split at every byte boundary", test_framing_split_at_every_byte_boundary);
    CU_add_test(s, "one byte per read", test_framing_one_byte_per_read);
    CU_add_test(s, "CRLFCRLF inside a body stays in the message", test_framing_body_with_crlfcrlf_inside_is_one_message);
    CU_add_test(s, "incomplete body needs more", test_framing_incomplete_body_needs_more);
    CU_add_test(s, "lone CRLF skipped, CRLFCRLF is a ping", test_framing_lone_crlf_is_skipped);
    CU_add_test(s, "too big and bad Content-Length", test_framing_too_big_and_bad_length);
    CU_add_test(s, "header name case and spaces", test_framing_header_name_case_and_spaces);
}
