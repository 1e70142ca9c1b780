/* suites.h - every unit test file registers its suites through one of these. */
#ifndef SIPD_TEST_SUITES_H
#define SIPD_TEST_SUITES_H

void register_timers_suites(void);
void register_hmap_suites(void);
void register_ref_suites(void);
void register_mailbox_suites(void);
void register_framing_suites(void);
void register_msg_suites(void);
void register_uri_suites(void);
void register_txn_suites(void);
void register_registrar_suites(void);
void register_store_suites(void);
void register_store_im_suites(void);
void register_store_nodes_suites(void);
void register_store_subs_suites(void);
void register_self_suites(void);
void register_peers_suites(void);
void register_config_suites(void);
void register_resolve_suites(void);
void register_rewrite_suites(void);
void register_proxy_suites(void);
void register_uac_suites(void);
void register_presence_suites(void);
void register_broker_suites(void);
void register_cluster_suites(void);
void register_metrics_suites(void);
void register_limits_suites(void);
void register_fuzz_found_suites(void);
void register_api_nodes_suites(void);
void register_api_suites(void);
void register_sipctl_suites(void);
void register_tls_suites(void);
void register_digest_suites(void);
void register_store_users_suites(void);
void register_store_rules_suites(void);

#endif
