/* test_config.c - configuration file and overrides. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "suites.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/sipd-test-conf-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    if (write(fd, text, strlen(text)) < 0) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

static void test_config_file_sets_keys_in_sections(void)
{
    struct sipd_config c;
    config_defaults(&c);
    char *p = write_tmp("# comment\n[sipd]\nroles = registrar, proxy\nlisten=udp:127.0.0.1:5099\n"
                        "[registrar]\nmin_expires = 10\n\n[database]\nconninfo = dbname=sipd\n");
    char err[256];
    CU_ASSERT_EQUAL(config_load_file(&c, p, err, sizeof err), 0);
    unlink(p);
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.role_mask, ROLE_REGISTRAR | ROLE_PROXY);
    CU_ASSERT_STRING_EQUAL(c.listen, "udp:127.0.0.1:5099");
    CU_ASSERT_EQUAL(c.min_expires, 10);
    CU_ASSERT_STRING_EQUAL(c.db, "dbname=sipd");
    CU_ASSERT_EQUAL(c.max_expires, 86400); /* untouched default */
}

static void test_config_errors_name_the_key_and_line(void)
{
    struct sipd_config c;
    config_defaults(&c);
    char err[256];
    char *p = write_tmp("[registrar]\nmin_expires = 10\nmax_expirez = 5\n");
    CU_ASSERT_EQUAL(config_load_file(&c, p, err, sizeof err), -1);
    unlink(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "registrar.max_expirez"));
    CU_ASSERT_EQUAL(config_set(&c, "registrar", "min_expires", "-1", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "registrar.min_expires"));
    CU_ASSERT_EQUAL(config_set_dotted(&c, "transport.max_connections=12", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.max_connections, 12);
    CU_ASSERT_EQUAL(config_set_dotted(&c, "nodot=1", err, sizeof err), -1);
}

static void test_config_finish_validates_roles_and_listen(void)
{
    struct sipd_config c;
    char err[256];
    config_defaults(&c);
    strcpy(c.roles, "registrar,bogus");
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sipd.roles"));
    config_defaults(&c);
    strcpy(c.roles, "registrar,balancer"); /* the balancer is a node of its own */
    strcpy(c.db, "dbname=x");
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "node of its own"));
    config_defaults(&c);
    strcpy(c.roles, "balancer"); /* and needs the cluster's database */
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--db"));
    strcpy(c.db, "dbname=x");
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.role_mask, ROLE_BALANCER);
    strcpy(c.roles, "balancer");
    CU_ASSERT_EQUAL(config_set_dotted(&c, "cluster.promote_load=0.75", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.promote_permille, 750);
    CU_ASSERT_EQUAL(config_set_dotted(&c, "cluster.promote_load=1.5", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cluster.promote_load"));
    CU_ASSERT_EQUAL(config_set_dotted(&c, "cluster.promote_load=x", err, sizeof err), -1);
    /* rates are decimals per second, kept in thousandths (docs/auth.md "Failed attempts") */
    config_defaults(&c);
    CU_ASSERT_EQUAL(c.auth_user_fail_rate, 100);
    CU_ASSERT_EQUAL(c.auth_fail_rate, 1000);
    CU_ASSERT_EQUAL(config_set_dotted(&c, "auth.user_fail_rate=0.2", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.auth_user_fail_rate, 200);
    CU_ASSERT_EQUAL(config_set_dotted(&c, "auth.fail_rate=2.5", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.auth_fail_rate, 2500);
    CU_ASSERT_EQUAL(config_set_dotted(&c, "auth.fail_rate=-1", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "auth.fail_rate"));
    config_defaults(&c);
    strcpy(c.roles, "all");
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.role_mask & ROLE_BALANCER, 0);
    config_defaults(&c);
    strcpy(c.listen, "udp:127.0.0.1:5060,sctp:1.2.3.4:5");
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sipd.listen"));
    config_defaults(&c);
    strcpy(c.listen, "udp:[::1]:5060,tcp:0.0.0.0:5060");
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.role_mask, ROLE_ALL);
}

/* sipd --init-db without --schema-dir: the first existing candidate wins (installed, then the
 * source tree, ...); a configured directory is kept as given; none found names every one tried. */
static void test_config_schema_dir_first_existing_unless_set(void)
{
    char base[] = "/tmp/sipd-test-schema-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(base));
    char installed[64], src[64], missing[64];
    snprintf(installed, sizeof installed, "%s/installed", base);
    snprintf(src, sizeof src, "%s/src", base);
    snprintf(missing, sizeof missing, "%s/missing", base);
    CU_ASSERT_EQUAL_FATAL(mkdir(src, 0700), 0);
    struct sipd_config c;
    char err[512];
    const char *const cands[] = {installed, NULL, src, "schema"};

    config_defaults(&c);
    CU_ASSERT_EQUAL(config_pick_schema_dir(&c, cands, 4, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(c.schema_dir, src); /* installed one absent: the source tree's */
    CU_ASSERT_EQUAL_FATAL(mkdir(installed, 0700), 0);
    config_defaults(&c);
    CU_ASSERT_EQUAL(config_pick_schema_dir(&c, cands, 4, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(c.schema_dir, installed); /* both: the installed one first */
    config_defaults(&c);
    CU_ASSERT_EQUAL(config_set_dotted(&c, "database.schema_dir=/elsewhere", err, sizeof err), 0);
    CU_ASSERT_EQUAL(config_pick_schema_dir(&c, cands, 4, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(c.schema_dir, "/elsewhere"); /* configured: kept, even if absent */

    const char *const none[] = {missing, NULL, "/nonexistent/sipd/schema"};
    config_defaults(&c);
    CU_ASSERT_EQUAL(config_pick_schema_dir(&c, none, 3, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(c.schema_dir, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, missing));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ", /nonexistent/sipd/schema)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--schema-dir"));
    rmdir(installed);
    rmdir(src);
    rmdir(base);
}

static void note_key(void *arg, const char *section, const char *key)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s.%s;", section, key);
}

/* config_diff (a SIGHUP reload compares the file before and after): only the keys that differ,
 * strings and numbers alike, in table order */
static void test_config_diff_names_changed_keys(void)
{
    struct sipd_config a, b;
    char err[256], seen[256] = "";
    config_defaults(&a);
    config_defaults(&b);
    CU_ASSERT_EQUAL(config_diff(&a, &b, note_key, seen), 0);
    CU_ASSERT_STRING_EQUAL(seen, "");
    CU_ASSERT_EQUAL(config_set_dotted(&b, "sipd.log_level=debug", err, sizeof err), 0);
    CU_ASSERT_EQUAL(config_set_dotted(&b, "registrar.max_contacts=3", err, sizeof err), 0);
    CU_ASSERT_EQUAL(config_set_dotted(&b, "proxy.record_route=no", err, sizeof err), 0);
    CU_ASSERT_EQUAL(config_set_dotted(&b, "cluster.promote_load=0.5", err, sizeof err), 0);
    CU_ASSERT_EQUAL(config_set_dotted(&a, "sipd.domain=example.com", err, sizeof err), 0);
    CU_ASSERT_EQUAL(config_diff(&a, &b, note_key, seen), 5);
    CU_ASSERT_STRING_EQUAL(seen, "sipd.domain;sipd.log_level;registrar.max_contacts;"
                                 "proxy.record_route;cluster.promote_load;");
    CU_ASSERT_EQUAL(config_diff(&a, &b, NULL, NULL), 5);
}

void register_config_suites(void)
{
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "file sets keys in sections", test_config_file_sets_keys_in_sections);
    CU_add_test(s, "errors name the key and line", test_config_errors_name_the_key_and_line);
    CU_add_test(s, "finish validates roles and listen", test_config_finish_validates_roles_and_listen);
    CU_add_test(s, "schema dir: first existing unless set", test_config_schema_dir_first_existing_unless_set);
    CU_add_test(s, "diff names the changed keys", test_config_diff_names_changed_keys);
}
