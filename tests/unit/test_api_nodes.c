/* test_api_nodes.c - the pure helpers behind the node, registration and presence routes of the
 * REST API (api/h_nodes.c, api/aor.c): role lists, node names and AORs named in a path. The
 * routes themselves are driven over HTTP by tests/integration/t_api_nodes.sh. */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "api/api_impl.h"
#include "suites.h"

/* Roles as a body gives them -> "a,b", or refused (NULL). */
static void test_roles_parse_table(void)
{
    static const struct {
        const char *json;
        const char *want; /* NULL: refused */
    } cases[] = {
        {"[\"registrar\",\"proxy\"]", "registrar,proxy"},
        {"\"broker,proxy\"", "broker,proxy"},
        {"\" broker , balancer \"", "broker,balancer"},
        {"[\"redirect\"]", "redirect"},
        {"[\"proxy\",\"wizard\"]", NULL},
        {"\"proxy,wizard\"", NULL},
        {"\"Proxy\"", NULL},
        {"[]", NULL},
        {"\"\"", NULL},
        {"[1]", NULL},
        {"7", NULL},
        {"{\"a\":1}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        char out[128], why[160] = "";
        int rc = api_roles_parse(v, out, sizeof out, why, sizeof why);
        if (cases[i].want) {
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_STRING_EQUAL(out, cases[i].want);
        } else {
            CU_ASSERT_EQUAL(rc, -1);
            CU_ASSERT_TRUE(why[0] != '\0');
        }
        json_decref(v);
    }
}

/* Too many roles for the row's buffer is refused, not cut. */
static void test_roles_parse_refuses_an_overlong_list(void)
{
    json_t *v = json_string("registrar,proxy,broker,balancer,redirect,registrar,proxy");
    char out[24], why[160];
    CU_ASSERT_EQUAL(api_roles_parse(v, out, sizeof out, why, sizeof why), -1);
    json_decref(v);
}

static void test_node_name_table(void)
{
    CU_ASSERT_TRUE(api_node_name_ok("n1"));
    CU_ASSERT_TRUE(api_node_name_ok("edge-2.eu_west"));
    CU_ASSERT_FALSE(api_node_name_ok(""));
    CU_ASSERT_FALSE(api_node_name_ok("a b"));
    CU_ASSERT_FALSE(api_node_name_ok("a/b"));
    CU_ASSERT_FALSE(api_node_name_ok("é"));
    char long_name[70];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CU_ASSERT_FALSE(api_node_name_ok(long_name));
    long_name[63] = '\0';
    CU_ASSERT_TRUE(api_node_name_ok(long_name));
}

/* An AOR from a path: canonical as the registrar stores it, or NULL. */
static void test_aor_table(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"sip:alice@example.com", "sip:alice@example.com"},
        {"alice@example.com", "sip:alice@example.com"},
        {"SIP:Alice@Example.COM", "sip:Alice@example.com"},
        {"sips:bob@example.com;transport=tcp", "sips:bob@example.com"},
        {"sip:carol@example.com?subject=x", "sip:carol@example.com"},
        {"sip:dave@Example.com:5060", "sip:dave@example.com"},
        {"sip:erin@[2001:DB8::1]:5070", "sip:erin@[2001:db8::1]"},
        {"sip:frank@:5060", NULL},
        {"sip:example.com", NULL},
        {"tel:+123", NULL},
        {"http://x", NULL},
        {"sip:@example.com", NULL},
        {"", NULL},
        {"sip:a b@example.com", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = api_reg_aor(cases[i].in);
        if (cases[i].want) {
            CU_ASSERT_PTR_NOT_NULL(got);
            if (got)
                CU_ASSERT_STRING_EQUAL(got, cases[i].want);
        } else {
            CU_ASSERT_PTR_NULL(got);
        }
        free(got);
    }
}

void register_api_nodes_suites(void)
{
    CU_pSuite s = CU_add_suite("api_nodes", NULL, NULL);
    CU_add_test(s, "roles from a body: an array or \"a,b\" of known names (table)",
                test_roles_parse_table);
    CU_add_test(s, "an overlong role list is refused", test_roles_parse_refuses_an_overlong_list);
    CU_add_test(s, "node names (table)", test_node_name_table);
    CU_add_test(s, "AORs named in a path, canonical (table)", test_aor_table);
}
