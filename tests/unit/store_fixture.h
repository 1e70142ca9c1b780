/* store_fixture.h - what the store suites (test_store.c, test_store_im.c) share: a store on a real
 * event loop, driven until the callbacks a test expects have run, against either backend.
 *
 * Each suite file runs its shared cases in a memory suite and, when PGHOST is set (pg_virtualenv),
 * in a postgres suite that first applies schema/ with store_init_db() and empties its tables
 * before every test. Postgres completes asynchronously, so every test drives the loop until its
 * callbacks have run, with a SAFETY_MS timer: a hang fails the test, never the run. */
#ifndef SIPD_TEST_STORE_FIXTURE_H
#define SIPD_TEST_STORE_FIXTURE_H

#include <stdint.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "base/log.h"
#include "base/loop.h"
#include "store/store.h"

#define SAFETY_MS 5000

enum backend { BACKEND_MEMORY, BACKEND_POSTGRES };

struct store_fixture {
    enum backend backend;
    struct loop *loop;
    struct store *st;
    PGconn *admin; /* postgres: a plain blocking connection to set up and inspect */
    enum log_level saved_level;
    char schema_dir[4096];
};
extern struct store_fixture fx;

extern int outstanding; /* callbacks still expected: a test adds one per call it makes */

/* A callback the test expected came: the last one stops the loop. */
void one_done(void);

/* A new store of the fixture's backend on its loop. */
struct store *make_store(void);

/* Run the loop until every expected callback came, or SAFETY_MS passed. On a timeout the store
 * is destroyed (running the late callbacks while their test's data is still alive) and made
 * again. Returns 0, or -1 on timeout. */
int wait_all(void);

/* Run the loop until st is available (postgres: connected), at most SAFETY_MS. 1 if it is. */
int wait_available(struct store *st);

/* Run the loop until is_done(arg) (checked whenever the loop stops: a callback that makes it true
 * calls loop_stop), at most SAFETY_MS. 0, or -1 on timeout. */
int wait_until(int (*is_done)(const void *arg), const void *arg);

/* Let the loop (and the stores' timers) run for ms. */
void run_for(uint64_t ms);

/* postgres: run sql on the admin connection: 0 or -1 (printed); its one value, or -1. */
int admin_exec(const char *sql);
long admin_scalar(const char *sql);

/* One test case of a table. */
struct test_case {
    const char *name;
    CU_TestFunc fn;
};
#define TEST_CASE(fn) {#fn, fn}
#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* The suites' setup and teardown. pg_init: apply schema/, connect the admin connection and the
 * store (name: the suite, for messages); pg_setup: run `truncate` and wait for the store. */
int fx_mem_init(void);
void fx_mem_setup(void);
int fx_clean(void);
int fx_pg_init(const char *name);
void fx_pg_setup(const char *truncate);

/* Register suite mem_name with the shared then the memory cases and, when PGHOST is set, suite
 * pg_name with the shared then the postgres cases, using the file's pg_init and pg_setup. */
void fx_register_suites(const char *mem_name, const char *pg_name, CU_InitializeFunc pg_init,
                        CU_SetUpFunc pg_setup, const struct test_case *shared, size_t nshared,
                        const struct test_case *mem, size_t nmem, const struct test_case *pg,
                        size_t npg);

#endif
