/* test_config.c - configuration file and overrides. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    strcpy(c.listen, "udp:127.0.0.1:5060,sctp:1.2.3.4:5");
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sipd.listen"));
    config_defaults(&c);
    strcpy(c.listen, "udp:[::1]:5060,tcp:0.0.0.0:5060");
    CU_ASSERT_EQUAL(config_finish(&c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.role_mask, ROLE_ALL);
}

void register_config_suites(void)
{
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "file sets keys in sections", test_config_file_sets_keys_in_sections);
    CU_add_test(s, "errors name the key and line", test_config_errors_name_the_key_and_line);
    CU_add_test(s, "finish validates roles and listen", test_config_finish_validates_roles_and_listen);
}
