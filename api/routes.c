/* routes.c - every route the API serves, in one table (docs/api.md; api/openapi.yaml describes
 * the same list, and a test checks that they agree). */
#include "api_impl.h"

const struct api_route api_routes[] = {
    {"GET", "/healthz", api_h_healthz, "the process runs its loop"},
    {"GET", "/readyz", api_h_readyz, "ready to take work (503 while starting, draining, stopping or without its store)"},
    {"GET", "/metrics", api_h_metrics, "Prometheus text format: the node's counters, gauges and histograms"},
    {"GET", "/api/v1/stats", api_h_stats, "the numbers of /metrics as JSON"},
    {"GET", "/api/v1/events", api_h_events, "Server-Sent Events: heartbeats, node state changes, registrations"},
    {"GET", "/api/v1/nodes", api_h_nodes_list, "every node of the node table"},
    {"GET", "/api/v1/nodes/{name}", api_h_node_get, "one node"},
    {"POST", "/api/v1/nodes", api_h_node_add, "add a node row (down until a heartbeat finds it up)"},
    {"PATCH", "/api/v1/nodes/{name}", api_h_node_patch, "change a node's max_num or standby"},
    {"DELETE", "/api/v1/nodes/{name}", api_h_node_delete, "remove a node (refused while it is up and not drained)"},
    {"POST", "/api/v1/nodes/{name}/drain", api_h_node_drain, "drain a node: no new work, what runs finishes"},
    {"GET", "/api/v1/topics", api_h_topics_list, "group topics and user topics with messages or subscriptions"},
    {"POST", "/api/v1/topics", api_h_topic_create, "create a group topic with its members"},
    {"GET", "/api/v1/topics/{topic}", api_h_topic_get, "one topic: kind, last seq, members"},
    {"DELETE", "/api/v1/topics/{topic}", api_h_topic_delete, "delete a group topic, its members and messages"},
    {"POST", "/api/v1/topics/{topic}/members", api_h_topic_member_add, "add a member to a group topic"},
    {"DELETE", "/api/v1/topics/{topic}/members/{aor}", api_h_topic_member_remove, "remove a member from a group topic"},
    {"GET", "/api/v1/topics/{topic}/messages", api_h_messages_list, "a topic's stored messages by seq"},
    {"POST", "/api/v1/topics/{topic}/messages", api_h_message_post, "publish a system notice to a topic"},
    {"GET", "/api/v1/subscriptions", api_h_subscriptions_list, "im subscriptions by topic or by user"},
    {"POST", "/api/v1/nodes/{name}/activate", api_h_node_activate, "activate a node: neither draining nor standby"},
    {"GET", "/api/v1/nodes/{name}/heartbeats", api_h_node_heartbeats, "a node's recent heartbeats, newest first"},
    {"GET", "/api/v1/registrations", api_h_regs_list, "AORs with their number of bindings"},
    {"GET", "/api/v1/registrations/{aor}", api_h_reg_get, "an AOR's bindings"},
    {"DELETE", "/api/v1/registrations/{aor}", api_h_reg_delete, "remove an AOR's bindings (all, or ?contact=URI)"},
    {"GET", "/api/v1/presence/{aor}", api_h_presence_get, "a presentity's composed document and publications"},
    {"GET", "/api/v1/users", api_h_users_list, "users who may authenticate (AOR and realm; never a password or HA1)"},
    {"POST", "/api/v1/users", api_h_user_add, "add a user with a password (stored as HA1s only)"},
    {"GET", "/api/v1/users/{aor}", api_h_user_get, "one user"},
    {"PATCH", "/api/v1/users/{aor}", api_h_user_patch, "change a user's password"},
    {"DELETE", "/api/v1/users/{aor}", api_h_user_delete, "remove a user"},
};
const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];
