/* reload.h - SIGHUP: re-read the configuration file and apply what can change safely. */
#ifndef SIPD_RELOAD_H
#define SIPD_RELOAD_H

#include "config.h"

struct server;
struct reload;

/* running: the configuration sipd started with (file and flags merged); path: its --config file,
 * NULL or "" when there is none. Both are copied. Caller frees with reload_destroy(). NULL only
 * when out of memory or when path cannot be read any more (logged). */
struct reload *reload_create(struct server *srv, const struct sipd_config *running, const char *path);

/* Re-read the file. Applied: sipd.log_level, the registrar's min/max/default_expires and
 * max_contacts, new broker.groups topics. Every other changed key is logged as not applied (it
 * needs a restart), and so is a key the command line set (flags win over the file). A file that
 * does not parse or validate changes nothing. Returns how many keys were applied, or -1. */
int reload_run(struct reload *r);

void reload_destroy(struct reload *r);

#endif
