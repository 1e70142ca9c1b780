/* store_fixture.c - the store suites' shared loop and suite scaffolding; see store_fixture.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_fixture.h"

struct store_fixture fx;
int outstanding;
static int timed_out;

void one_done(void)
{
    if (--outstanding == 0)
        loop_stop(fx.loop);
}

static void on_safety(struct timer *t, void *arg)
{
    (void)t;
    (void)arg;
    timed_out = 1;
    loop_stop(fx.loop);
}

struct store *make_store(void)
{
    return store_create(fx.loop, fx.backend == BACKEND_POSTGRES ? "postgresql://" : NULL);
}

int wait_all(void)
{
    if (outstanding == 0)
        return 0;
    struct timer safety = {0};
    timed_out = 0;
    loop_timer_start(fx.loop, &safety, SAFETY_MS, on_safety, NULL);
    loop_run(fx.loop);
    loop_timer_stop(fx.loop, &safety);
    if (!timed_out)
        return 0;
    store_destroy(fx.st);
    fx.st = make_store();
    outstanding = 0;
    return -1;
}

struct poll_ctx {
    struct store *st;
    struct timer t;
    int is_available;
};

static void on_poll(struct timer *t, void *arg)
{
    struct poll_ctx *p = arg;
    if (store_is_available(p->st)) {
        p->is_available = 1;
        loop_stop(fx.loop);
        return;
    }
    loop_timer_start(fx.loop, t, 5, on_poll, p);
}

int wait_available(struct store *st)
{
    struct poll_ctx p = {.st = st};
    struct timer safety = {0};
    if (store_is_available(st))
        return 1;
    timed_out = 0;
    loop_timer_start(fx.loop, &p.t, 5, on_poll, &p);
    loop_timer_start(fx.loop, &safety, SAFETY_MS, on_safety, NULL);
    loop_run(fx.loop);
    loop_timer_stop(fx.loop, &p.t);
    loop_timer_stop(fx.loop, &safety);
    return p.is_available;
}

int wait_until(int (*is_done)(const void *arg), const void *arg)
{
    if (is_done(arg))
        return 0;
    struct timer safety = {0};
    timed_out = 0;
    loop_timer_start(fx.loop, &safety, SAFETY_MS, on_safety, NULL);
    while (!is_done(arg) && !timed_out)
        loop_run(fx.loop);
    loop_timer_stop(fx.loop, &safety);
    return is_done(arg) ? 0 : -1;
}

static void on_sleep(struct timer *t, void *arg)
{
    (void)t;
    (void)arg;
    loop_stop(fx.loop);
}

void run_for(uint64_t ms)
{
    struct timer t = {0};
    loop_timer_start(fx.loop, &t, ms, on_sleep, NULL);
    loop_run(fx.loop);
    loop_timer_stop(fx.loop, &t);
}

int admin_exec(const char *sql)
{
    PGresult *r = PQexec(fx.admin, sql);
    ExecStatusType s = PQresultStatus(r);
    int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "admin: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

long admin_scalar(const char *sql)
{
    PGresult *r = PQexec(fx.admin, sql);
    long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "admin: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

/* ---- suites ---------------------------------------------------------------------------------- */

int fx_mem_init(void)
{
    fx.backend = BACKEND_MEMORY;
    fx.loop = loop_create();
    fx.st = fx.loop ? make_store() : NULL;
    return fx.st ? 0 : -1;
}

void fx_mem_setup(void)
{
    store_destroy(fx.st);
    fx.st = make_store();
    outstanding = 0;
}

int fx_clean(void)
{
    store_destroy(fx.st);
    fx.st = NULL;
    loop_destroy(fx.loop);
    fx.loop = NULL;
    if (fx.admin)
        PQfinish(fx.admin);
    fx.admin = NULL;
    if (fx.backend == BACKEND_POSTGRES)
        log_current_level = fx.saved_level;
    return 0;
}

int fx_pg_init(const char *name)
{
    const char *top = getenv("top_srcdir");
    snprintf(fx.schema_dir, sizeof fx.schema_dir, "%s", top && *top ? top : ".");
    strncat(fx.schema_dir, "/schema", sizeof fx.schema_dir - strlen(fx.schema_dir) - 1);
    fx.backend = BACKEND_POSTGRES;
    fx.saved_level = log_current_level;
    log_current_level = LOG_LVL_ERROR; /* the cases provoke warnings on purpose */
    if (store_init_db("postgresql://", fx.schema_dir) != 0)
        return -1;
    fx.admin = PQconnectdb("postgresql://");
    if (PQstatus(fx.admin) != CONNECTION_OK) {
        fprintf(stderr, "%s: %s", name, PQerrorMessage(fx.admin));
        return -1;
    }
    fx.loop = loop_create();
    fx.st = fx.loop ? make_store() : NULL;
    if (!fx.st || !wait_available(fx.st)) {
        fprintf(stderr, "%s: the store did not connect\n", name);
        return -1;
    }
    return 0;
}

void fx_pg_setup(const char *truncate)
{
    outstanding = 0;
    admin_exec(truncate);
    if (!store_is_available(fx.st))
        wait_available(fx.st);
}

void fx_register_suites(const char *mem_name, const char *pg_name, CU_InitializeFunc pg_init,
                        CU_SetUpFunc pg_setup, const struct test_case *shared, size_t nshared,
                        const struct test_case *mem, size_t nmem, const struct test_case *pg,
                        size_t npg)
{
    CU_pSuite s = CU_add_suite_with_setup_and_teardown(mem_name, fx_mem_init, fx_clean,
                                                       fx_mem_setup, NULL);
    for (size_t i = 0; s && i < nshared; i++)
        CU_add_test(s, shared[i].name, shared[i].fn);
    for (size_t i = 0; s && i < nmem; i++)
        CU_add_test(s, mem[i].name, mem[i].fn);
    if (!getenv("PGHOST"))
        return;
    s = CU_add_suite_with_setup_and_teardown(pg_name, pg_init, fx_clean, pg_setup, NULL);
    for (size_t i = 0; s && i < nshared; i++)
        CU_add_test(s, shared[i].name, shared[i].fn);
    for (size_t i = 0; s && i < npg; i++)
        CU_add_test(s, pg[i].name, pg[i].fn);
}
