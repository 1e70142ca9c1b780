/* test_sipctl.c - the pure parts of sipctl (ctl/): where options come from and which wins,
 * table layout, API paths with percent-encoded URIs, the Server-Sent Events parser and the
 * shell's word splitting. The network parts are covered by tests/integration/t_sipctl.sh. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../ctl/options.h"
#include "../../ctl/sse.h"
#include "../../ctl/table.h"
#include "../../ctl/url.h"
#include "../../ctl/words.h"
#include "suites.h"

/* ---- options ---- */

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/sipctl-test-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        if (fd >= 0)
            close(fd);
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

/* Parse ARGS (a NULL-terminated list after "sipctl") with SRC; returns the exit status. */
static int parse(struct ctl_options *o, const struct ctl_sources *src, char *err, const char *a0,
                 const char *a1, const char *a2, const char *a3, const char *a4)
{
    static char *argv[8];
    const char *in[] = {"sipctl", a0, a1, a2, a3, a4, NULL};
    int argc = 0;
    while (in[argc]) {
        argv[argc] = (char *)in[argc];
        argc++;
    }
    argv[argc] = NULL;
    bool help;
    return ctl_options_parse(o, argc, argv, src, &help, err, 256);
}

static void test_sipctl_defaults_without_any_source(void)
{
    struct ctl_sources src = {0};
    struct ctl_options o;
    char err[256];
    CU_ASSERT_EQUAL(parse(&o, &src, err, "nodes", NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(o.url, "http://127.0.0.1:5080");
    CU_ASSERT_PTR_NULL(o.token);
    CU_ASSERT_FALSE(o.is_json);
    CU_ASSERT_EQUAL(o.cmd_argc, 1);
    CU_ASSERT_STRING_EQUAL(o.cmd_argv[0], "nodes");
    ctl_options_free(&o);
}

static void test_sipctl_flags_beat_env_beat_config_file(void)
{
    char *tokfile = write_tmp("from-token-file\n");
    char text[256];
    snprintf(text, sizeof(text), "# sipctl\nurl = http://file:1/\ntoken_file = %s\n", tokfile);
    char *cfg = write_tmp(text);
    struct ctl_sources src = {.config_paths = {"/nonexistent/sipctl.conf", cfg}};
    struct ctl_options o;
    char err[256];

    CU_ASSERT_EQUAL(parse(&o, &src, err, "nodes", NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(o.url, "http://file:1"); /* trailing '/' dropped */
    CU_ASSERT_STRING_EQUAL(o.token, "from-token-file");
    ctl_options_free(&o);

    src.env_url = "http://env:2";
    src.env_token = "env-token";
    CU_ASSERT_EQUAL(parse(&o, &src, err, "nodes", NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(o.url, "http://env:2");
    CU_ASSERT_STRING_EQUAL(o.token, "env-token");
    ctl_options_free(&o);

    CU_ASSERT_EQUAL(parse(&o, &src, err, "--url", "http://flag:3", "--token=flag-token", "topics",
                          NULL),
                    CTL_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(o.url, "http://flag:3");
    CU_ASSERT_STRING_EQUAL(o.token, "flag-token");
    CU_ASSERT_EQUAL(o.cmd_argc, 1);
    CU_ASSERT_STRING_EQUAL(o.cmd_argv[0], "topics");
    ctl_options_free(&o);
    unlink(cfg);
    unlink(tokfile);
    free(cfg);
    free(tokfile);
}

/* https: --cacert FILE (or cacert = in the config file; the flag wins) and --insecure. */
static void test_sipctl_https_options(void)
{
    char *cfg = write_tmp("url = https://127.0.0.1:5080\ncacert = /etc/sipd/ca-from-file.pem\n");
    struct ctl_sources src = {.config_paths = {cfg}};
    struct ctl_options o;
    char err[256];
    CU_ASSERT_EQUAL(parse(&o, &src, err, "stats", NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(o.url, "https://127.0.0.1:5080");
    CU_ASSERT_STRING_EQUAL(o.cacert, "/etc/sipd/ca-from-file.pem");
    CU_ASSERT_FALSE(o.is_insecure);
    ctl_options_free(&o);
    CU_ASSERT_EQUAL(parse(&o, &src, err, "--cacert", "/tmp/ca.pem", "--insecure", "stats", NULL),
                    CTL_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(o.cacert, "/tmp/ca.pem");
    CU_ASSERT_TRUE(o.is_insecure);
    CU_ASSERT_EQUAL(o.cmd_argc, 1);
    ctl_options_free(&o);
    CU_ASSERT_EQUAL(parse(&o, &src, err, "--cacert", NULL, NULL, NULL, NULL), CTL_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--cacert"));
    unlink(cfg);
    free(cfg);
}

static void test_sipctl_default_token_file_only_when_no_token(void)
{
    char *tokfile = write_tmp("  packaged-token  \nsecond line\n");
    struct ctl_sources src = {.default_token_file = tokfile};
    struct ctl_options o;
    char err[256];
    CU_ASSERT_EQUAL(parse(&o, &src, err, "nodes", NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(o.token, "packaged-token");
    ctl_options_free(&o);
    src.env_token = "mine";
    CU_ASSERT_EQUAL(parse(&o, &src, err, "nodes", NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    CU_ASSERT_STRING_EQUAL(o.token, "mine");
    ctl_options_free(&o);
    src.env_token = NULL;
    src.default_token_file = "/nonexistent/api-token"; /* unreadable: simply no token */
    CU_ASSERT_EQUAL(parse(&o, &src, err, "nodes", NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    CU_ASSERT_PTR_NULL(o.token);
    ctl_options_free(&o);
    unlink(tokfile);
    free(tokfile);
}

static void test_sipctl_json_flag_anywhere_and_usage_errors(void)
{
    struct ctl_sources src = {0};
    struct ctl_options o;
    char err[256];
    CU_ASSERT_EQUAL(parse(&o, &src, err, "node", "show", "--json", "n1", NULL), CTL_EXIT_OK);
    CU_ASSERT_TRUE(o.is_json);
    CU_ASSERT_EQUAL(o.cmd_argc, 3);
    CU_ASSERT_STRING_EQUAL(o.cmd_argv[2], "n1");
    ctl_options_free(&o);
    CU_ASSERT_EQUAL(parse(&o, &src, err, "--url", NULL, NULL, NULL, NULL), CTL_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--url needs a value"));
    CU_ASSERT_EQUAL(parse(&o, &src, err, "--frob", "nodes", NULL, NULL, NULL), CTL_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--frob"));
    CU_ASSERT_EQUAL(parse(&o, &src, err, "--url", "ftp://x", "nodes", NULL, NULL), CTL_EXIT_USAGE);
    /* no command: the shell */
    CU_ASSERT_EQUAL(parse(&o, &src, err, "--json", NULL, NULL, NULL, NULL), CTL_EXIT_OK);
    CU_ASSERT_EQUAL(o.cmd_argc, 0);
    ctl_options_free(&o);
}

static void test_sipctl_config_errors_name_file_and_line(void)
{
    char *cfg = write_tmp("url = http://a:1\ntokn = x\n");
    struct ctl_sources src = {.config_paths = {cfg}};
    struct ctl_options o;
    char err[256];
    CU_ASSERT_EQUAL(parse(&o, &src, err, "nodes", NULL, NULL, NULL, NULL), CTL_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "tokn"));
    unlink(cfg);
    free(cfg);
    cfg = write_tmp("just words\n");
    src.config_paths[0] = cfg;
    CU_ASSERT_EQUAL(parse(&o, &src, err, "nodes", NULL, NULL, NULL, NULL), CTL_EXIT_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":1:"));
    unlink(cfg);
    free(cfg);
}

/* ---- tables ---- */

static char *render(struct table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    table_print(t, f);
    fclose(f);
    return buf;
}

static void test_sipctl_table_pads_columns_and_right_aligns_numbers(void)
{
    static const char *const head[] = {"NAME", "WORK", "STATE"};
    struct table *t = table_new(3, head);
    table_align_right(t, 1);
    table_add_row(t, (const char *const[]){"node-one", "4", "active"});
    table_add_row(t, (const char *const[]){"n2", "1000", NULL});
    char *s = render(t);
    CU_ASSERT_STRING_EQUAL(s, "NAME      WORK  STATE\n"
                              "node-one     4  active\n"
                              "n2        1000  -\n");
    CU_ASSERT_EQUAL(table_rows(t), 2);
    free(s);
    table_free(t);
}

static void test_sipctl_table_no_trailing_spaces_and_one_line_per_row(void)
{
    static const char *const head[] = {"A", "BODY"};
    struct table *t = table_new(2, head);
    table_add_row(t, (const char *const[]){"1", "two\nlines\tand tab"});
    table_add_row(t, (const char *const[]){"22", ""});
    char *s = render(t);
    CU_ASSERT_STRING_EQUAL(s, "A   BODY\n"
                              "1   two lines and tab\n"
                              "22\n");
    free(s);
    table_free(t);
}

static void test_sipctl_table_counts_characters_not_bytes(void)
{
    CU_ASSERT_EQUAL(table_text_width("caf\xc3\xa9"), 4);
    static const char *const head[] = {"X", "Y"};
    struct table *t = table_new(2, head);
    table_add_row(t, (const char *const[]){"caf\xc3\xa9", "1"});
    table_add_row(t, (const char *const[]){"ab", "2"});
    for (int i = 0; i < 40; i++) /* grows past the first allocation */
        table_add_row(t, (const char *const[]){"x", "y"});
    char *s = render(t);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "caf\xc3\xa9  1\nab    2\n"));
    CU_ASSERT_EQUAL(table_rows(t), 42);
    free(s);
    table_free(t);
}

/* ---- paths ---- */

static void test_sipctl_paths_percent_encode_uris(void)
{
    char *e = ctl_url_escape("sip:alice@example.com");
    CU_ASSERT_STRING_EQUAL(e, "sip%3Aalice%40example.com");
    free(e);
    char *p = ctl_api_path("/api/v1/topics/%e/members/%e", "sip:team;x=1@example.com",
                           "bob smith@example.com");
    CU_ASSERT_STRING_EQUAL(p, "/api/v1/topics/sip%3Ateam%3Bx%3D1%40example.com/members/"
                              "bob%20smith%40example.com");
    free(p);
    p = ctl_api_path("/api/v1/subscriptions?%s=%e", "user", "sip:a/b?c@x");
    CU_ASSERT_STRING_EQUAL(p, "/api/v1/subscriptions?user=sip%3Aa%2Fb%3Fc%40x");
    free(p);
    p = ctl_api_path("/api/v1/nodes/%e/drain", "n-1.a_b~c");
    CU_ASSERT_STRING_EQUAL(p, "/api/v1/nodes/n-1.a_b~c/drain"); /* unreserved stay */
    free(p);
    CU_ASSERT_PTR_NULL(ctl_api_path("/bad/%d", 3));
    p = ctl_url_join("http://127.0.0.1:5080", "/api/v1/nodes?after=3");
    CU_ASSERT_STRING_EQUAL(p, "http://127.0.0.1:5080/api/v1/nodes?after=3");
    free(p);
}

/* ---- Server-Sent Events ---- */

struct seen {
    char text[512];
    int n;
};

static void on_event(const char *event, const char *data, void *arg)
{
    struct seen *s = arg;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof(s->text) - used, "[%s|%s]", event, data);
    s->n++;
}

static void test_sipctl_sse_events_across_chunks(void)
{
    struct seen s = {.text = ""};
    struct sse_parser p;
    sse_init(&p, on_event, &s);
    const char *stream = ": keep-alive\n\nevent: heartbeat\r\ndata: {\"node\":\"n1\"}\r\n\r\n"
                         "event: node\ndata: a\ndata:b\nid: 7\n\ndata: plain\n\nevent: x\n";
    /* one byte at a time: every split point is a chunk boundary somewhere */
    for (const char *c = stream; *c; c++)
        CU_ASSERT_EQUAL(sse_feed(&p, c, 1), 0);
    CU_ASSERT_EQUAL(s.n, 3);
    CU_ASSERT_STRING_EQUAL(s.text, "[heartbeat|{\"node\":\"n1\"}][node|a\nb][message|plain]");
    sse_free(&p);
}

/* ---- shell words ---- */

static void test_sipctl_shell_splits_words_with_quotes(void)
{
    char line[] = "  publish sip:team@x 'hello  world' \"it's\" a\\ b  ";
    char *w[8];
    CU_ASSERT_EQUAL(ctl_shell_split(line, w, 8), 5);
    CU_ASSERT_STRING_EQUAL(w[0], "publish");
    CU_ASSERT_STRING_EQUAL(w[1], "sip:team@x");
    CU_ASSERT_STRING_EQUAL(w[2], "hello  world");
    CU_ASSERT_STRING_EQUAL(w[3], "it's");
    CU_ASSERT_STRING_EQUAL(w[4], "a b");
    char bad[] = "topic create 'oops";
    CU_ASSERT_EQUAL(ctl_shell_split(bad, w, 8), -1);
    char many[] = "a b c";
    CU_ASSERT_EQUAL(ctl_shell_split(many, w, 2), -1);
    char empty[] = "   ";
    CU_ASSERT_EQUAL(ctl_shell_split(empty, w, 8), 0);
}

void register_sipctl_suites(void)
{
    CU_pSuite s = CU_add_suite("sipctl", NULL, NULL);
    CU_add_test(s, "defaults without any source", test_sipctl_defaults_without_any_source);
    CU_add_test(s, "flags beat env beat config file", test_sipctl_flags_beat_env_beat_config_file);
    CU_add_test(s, "https: --cacert, cacert =, --insecure", test_sipctl_https_options);
    CU_add_test(s, "default token file only when no token",
                test_sipctl_default_token_file_only_when_no_token);
    CU_add_test(s, "--json anywhere; usage errors",
                test_sipctl_json_flag_anywhere_and_usage_errors);
    CU_add_test(s, "config errors name file and line",
                test_sipctl_config_errors_name_file_and_line);
    CU_add_test(s, "table pads columns, right-aligns numbers",
                test_sipctl_table_pads_columns_and_right_aligns_numbers);
    CU_add_test(s, "table: no trailing spaces, one line per row",
                test_sipctl_table_no_trailing_spaces_and_one_line_per_row);
    CU_add_test(s, "table counts characters not bytes",
                test_sipctl_table_counts_characters_not_bytes);
    CU_add_test(s, "paths percent-encode URIs", test_sipctl_paths_percent_encode_uris);
    CU_add_test(s, "SSE events across chunks", test_sipctl_sse_events_across_chunks);
    CU_add_test(s, "shell splits words with quotes", test_sipctl_shell_splits_words_with_quotes);
}
