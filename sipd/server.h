/* server.h - one sipd node: transports, transaction layer, store and roles wired on one loop. */
#ifndef SIPD_SERVER_H
#define SIPD_SERVER_H

#include "config.h"

struct server;
struct loop;

/* Build everything and bind the listeners. Returns NULL after logging the cause. */
struct server *server_create(struct loop *loop, const struct sipd_config *cfg);

/* Start serving the control plane (api/: its threads), after a daemon has forked. 0, or -1
 * after logging the cause. */
int server_start_api(struct server *srv);

/* Begin a graceful stop: no new work; the loop stops when in-flight transactions and store
 * operations are done or shutdown_grace_ms has passed. */
void server_shutdown(struct server *srv);

void server_destroy(struct server *srv);

/* A SIGHUP reload (reload.c): the registrar's expiry bounds and max_contacts from cfg. */
void server_reload_limits(struct server *srv, const struct sipd_config *cfg);
/* A SIGHUP reload: create the group topics of spec (broker.groups syntax). 0, or -1 (no broker
 * role, or a malformed spec, logged). */
int server_add_groups(struct server *srv, const char *spec);

#endif
