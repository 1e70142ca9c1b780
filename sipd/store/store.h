/* store.h - the data store behind every role: one interface, two backends.
 *
 *  - memory:   in-process hash tables (single node, the embedded default);
 *  - postgres: libpq asynchronous API on the event loop (a cluster shares one database).
 *
 * Every operation is asynchronous: it takes a completion callback that is called exactly once,
 * possibly before the call returns (memory backend), possibly later from the loop (postgres).
 * Callers must cope with both. Status codes given to callbacks:
 *     0               success
 *     > 0             a SIP status decided by the caller's update function (e.g. 423), passed through
 *     STORE_EUNAVAIL  the store cannot be reached (database down/reconnecting): answer 503
 *     STORE_EFAIL     any other store error (bad data, out of memory): answer 500
 * Results passed to callbacks are only valid during the callback; copy what you keep. */
#ifndef SIPD_STORE_H
#define SIPD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "binding.h"

struct loop;
struct store;

#define STORE_EUNAVAIL (-1)
#define STORE_EFAIL (-2)

/* Creates the memory store when conninfo is NULL or "", else the postgres store (which connects
 * asynchronously and keeps reconnecting; operations fail with STORE_EUNAVAIL meanwhile).
 * Returns NULL on allocation failure. Caller frees with store_destroy(). */
struct store *store_create(struct loop *loop, const char *conninfo);

/* Fails every operation still pending with STORE_EUNAVAIL (callbacks run), then frees. */
void store_destroy(struct store *st);

/* "memory" or "postgres". */
const char *store_backend_name(const struct store *st);

/* Is the store usable right now (postgres: connected)? */
int store_is_available(const struct store *st);

/* Operations accepted but not yet completed. */
size_t store_pending(const struct store *st);

/* ---- location service ---------------------------------------------------------------------- */

/* Read-modify-write of one AOR's bindings, atomic with respect to every other update of the
 * same AOR (in this process and, on postgres, in every process sharing the database).
 *
 * The store loads the AOR's current bindings that have not expired at `now` (unix seconds) and
 * calls update(arg, cur, ncur, out). The update function appends the complete new binding set
 * to `out` and returns 0, or returns a SIP status (> 0) to abort without changes. The store
 * then replaces the AOR's bindings with `out` and calls done(arg, status, result, nresult)
 * with the bindings as stored (status 0), or with the abort status / a STORE_E* error and no
 * bindings. The update function may be called more than once (postgres retries on conflict);
 * it must be a pure function of its inputs. */
typedef int (*store_update_fn)(void *arg, const struct binding *cur, size_t ncur,
                               struct binding_list *out);
typedef void (*store_bindings_cb)(void *arg, int status, const struct binding *b, size_t n);

void store_location_update(struct store *st, const char *aor, int64_t now, store_update_fn update,
                           store_bindings_cb done, void *arg);

/* Current (unexpired at `now`) bindings of one AOR, ordered by q descending then most recent. */
void store_location_lookup(struct store *st, const char *aor, int64_t now, store_bindings_cb done,
                           void *arg);

/* Remove every binding that expired at or before now. Returns via done(arg, status, NULL, 0);
 * the number removed is not reported. done may be NULL. */
typedef void (*store_status_cb)(void *arg, int status);
void store_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg);

/* Has this AOR ever had a binding here (a known user, offline now: 480 rather than 404)?
 * 1 yes, 0 no, -1 the backend cannot tell. Synchronous. */
int store_aor_known(const struct store *st, const char *aor);

/* Number of AORs / bindings currently held (memory: exact; postgres: last known, may be -1). */
long store_location_count(const struct store *st, long *nbindings);

/* ---- schema ---------------------------------------------------------------------------------- */

/* Synchronously apply the migrations in schema_dir (files NNN_*.sql, in order) that the database
 * has not seen yet, recording them in table schema_migrations. Idempotent. For `sipd --init-db`
 * only (blocks; never call from the loop). Returns 0, or -1 after printing the cause to stderr. */
int store_init_db(const char *conninfo, const char *schema_dir);

#endif
