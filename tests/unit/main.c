/* main.c - CUnit runner for every unit suite. Prints "unit: N passed, M failed" last and exits
 * non-zero when any test failed. SIPD_TEST_SUITE=name runs one suite. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "suites.h"

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    log_current_level = getenv("SIPD_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN;
    register_timers_suites();
    register_hmap_suites();
    register_ref_suites();
    register_mailbox_suites();
    register_framing_suites();
    register_msg_suites();
    register_uri_suites();
    register_txn_suites();
    register_registrar_suites();
    register_store_suites();
    register_store_im_suites();
    register_store_nodes_suites();
    register_store_subs_suites();
    register_self_suites();
    register_peers_suites();
    register_config_suites();
    register_resolve_suites();
    register_rewrite_suites();
    register_proxy_suites();
    register_uac_suites();
    register_presence_suites();
    register_broker_suites();
    register_cluster_suites();
    register_metrics_suites();
    register_limits_suites();
    register_fuzz_found_suites();
    register_api_nodes_suites();
    register_api_suites();
    register_sipctl_suites();
    register_tls_suites();
    register_digest_suites();
    register_store_users_suites();
    register_store_rules_suites();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    const char *only = getenv("SIPD_TEST_SUITE");
    if (only && *only) {
        CU_pSuite s = CU_get_suite(only);
        if (!s) {
            fprintf(stderr, "no suite named %s\n", only);
            CU_cleanup_registry();
            return 2;
        }
        CU_basic_run_suite(s);
    } else {
        CU_basic_run_tests();
    }
    unsigned ran = CU_get_number_of_tests_run();
    unsigned failed = CU_get_number_of_tests_failed();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    printf("\nunit: %u passed, %u failed\n", ran - failed, failed + suites_failed);
    CU_cleanup_registry();
    return (failed || suites_failed) ? 1 : 0;
}
