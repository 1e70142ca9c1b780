/* test_fuzz_found.c - what the fuzzers of tests/fuzz/ found, kept as unit tests (one per
 * finding, named after the behaviour that was wrong). */
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_impl.h"
#include "suites.h"

/* fuzz_api: a path segment with bytes that are not UTF-8 (POST /api/v1/topics/%90.../members)
 * made the 400's detail invalid for JSON: the answer had no body at all. Also a "%.200s" that
 * cuts a multi-byte character. The answer must stay {"error": ..., "detail": ...}. */
static void test_api_error_detail_with_bytes_not_utf8_is_still_json(void)
{
    static const char *const segments[] = {
        "s\x90\x8f\xc5\x8b" "ea@example.com", /* the fuzzer's input */
        "\xff\xfe", "\xed\xa0\x80@x", "\xc0\xaf@x", "\xf4\x90\x80\x80@x",
    };
    struct api api;
    memset(&api, 0, sizeof api);
    pthread_mutex_init(&api.mu, NULL);
    api.stopping = 1;
    char cut[400];
    memset(cut, 'a', 199);
    strcpy(cut + 199, "\xc3\xa9\xc3\xa9"); /* no user: 400, and %.200s keeps half of the é */
    for (size_t i = 0; i <= sizeof segments / sizeof segments[0]; i++) {
        struct api_req r;
        memset(&r, 0, sizeof r);
        r.api = &api;
        r.method = "POST";
        r.params[0] = strdup(i < sizeof segments / sizeof segments[0] ? segments[i] : cut);
        r.body = strdup("{\"member\":\"sip:c@example.com\"}");
        r.body_len = strlen(r.body);
        api_h_topic_member_add(&r);
        /* refused as a bad topic (not UTF-8: api_aor), never queued (503 here) */
        CU_ASSERT_EQUAL(r.status, 400);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r.text);
        json_t *v = json_loadb(r.text, r.text_len, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL(v);
        CU_ASSERT_TRUE(json_is_string(json_object_get(v, "error")));
        CU_ASSERT_TRUE(json_is_string(json_object_get(v, "detail")));
        json_decref(v);
        free(r.text);
        free(r.body);
        free(r.params[0]);
    }
    pthread_mutex_destroy(&api.mu);
}

/* fuzz_api (noted with the finding above): api_aor() took an AOR with bytes that are not UTF-8
 * ("sip:b\xe9@example.com", Latin-1), which the store kept and every JSON listing then dropped
 * (a topic nobody could see). UTF-8 users are fine, raw or %-escaped. */
static void test_api_aor_takes_utf8_only(void)
{
    static const char *const bad[] = {"sip:b\xe9@example.com", "b\xe9@example.com",
                                      "sip:bob@ex\xff" "ample.com", "sip:b\x01ob@example.com",
                                      "sip:b%E9@example.com", "sip:b%01ob@example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *a = api_aor(bad[i]);
        CU_ASSERT_PTR_NULL(a);
        free(a);
    }
    char *a = api_aor("bob@example.com");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_STRING_EQUAL(a, "sip:bob@example.com");
    free(a);
    a = api_aor("sip:b%C3%A9@example.com"); /* UTF-8, escaped: taken */
    CU_ASSERT_PTR_NOT_NULL(a);
    free(a);
    a = api_aor("sip:b\xc3\xa9@example.com"); /* UTF-8, raw: taken */
    CU_ASSERT_PTR_NOT_NULL(a);
    free(a);
}

void register_fuzz_found_suites(void)
{
    CU_pSuite s = CU_add_suite("fuzz_found", NULL, NULL);
    CU_add_test(s, "api: a 400 quoting bytes not UTF-8 is still JSON",
                test_api_error_detail_with_bytes_not_utf8_is_still_json);
    CU_add_test(s, "api: an AOR is UTF-8 without control characters, else refused",
                test_api_aor_takes_utf8_only);
}
