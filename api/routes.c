/* routes.c - every route the API serves, in one table (docs/api.md; api/openapi.yaml describes
 * the same list, and a test checks that they agree). */
#include "api_impl.h"

const struct api_route api_routes[] = {
    {"GET", "/healthz", api_h_healthz, "the process runs its loop"},
    {"GET", "/readyz", api_h_readyz, "ready to take work (503 while starting, draining, stopping or without its store)"},
    {"GET", "/api/v1/events", api_h_events, "Server-Sent Events: heartbeats, node state changes, registrations"},
    {"GET", "/api/v1/nodes", api_h_nodes_list, "every node of the node table"},
    {"GET", "/api/v1/nodes/{name}", api_h_node_get, "one node"},
    {"POST", "/api/v1/nodes/{name}/drain", api_h_node_drain, "drain a node: no new work, what runs finishes"},
};
const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];
