/* migrate.c - store_init_db (sipd --init-db): apply the schema migrations NNN_*.sql the database
 * has not seen, in order, recorded in schema_migrations, under an advisory lock so that several
 * nodes installed at once take turns. Synchronous (PQexec): never called from the loop. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "pg_impl.h"

/* ---- schema migrations (sipd --init-db; synchronous) ----------------------------------------- */

struct migration {
    long version;
    char *name;
};

static int cmp_migration(const void *pa, const void *pb)
{
    const struct migration *a = pa, *b = pb;
    return (a->version > b->version) - (a->version < b->version);
}

/* "NNN_words.sql" -> NNN, or -1. */
static long migration_version(const char *name)
{
    size_t nd = strspn(name, "0123456789");
    size_t len = strlen(name);
    if (nd == 0 || nd > 9 || name[nd] != '_' || len < nd + 5 || strcmp(name + len - 4, ".sql"))
        return -1;
    return strtol(name, NULL, 10);
}

static void free_migrations(struct migration *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static int list_migrations(const char *dir, struct migration **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "sipd: cannot open schema directory %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct migration *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        long version = migration_version(e->d_name);
        if (version < 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct migration *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = -1;
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n].version = version;
        v[n].name = strdup(e->d_name);
        if (!v[n].name) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        fprintf(stderr, "sipd: out of memory listing %s\n", dir);
        free_migrations(v, n);
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "sipd: no migrations (NNN_*.sql) in schema directory %s\n", dir);
        free(v);
        return -1;
    }
    qsort(v, n, sizeof *v, cmp_migration);
    for (size_t i = 1; i < n; i++) {
        if (v[i].version == v[i - 1].version) {
            fprintf(stderr, "sipd: schema directory %s: %s and %s have the same number\n", dir,
                    v[i - 1].name, v[i].name);
            free_migrations(v, n);
            return -1;
        }
    }
    *out = v;
    *nout = n;
    return 0;
}

/* The whole file as a string, or NULL after printing why. */
static char *read_migration(const char *dir, const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "sipd: path too long: %s/%s\n", dir, name);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sipd: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    char *text = NULL;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        (uintmax_t)sb.st_size > PG_MIGRATION_MAX_BYTES) {
        fprintf(stderr, "sipd: %s: not a regular file of at most %u bytes\n", path,
                PG_MIGRATION_MAX_BYTES);
    } else if (!(text = malloc((size_t)sb.st_size + 1))) {
        fprintf(stderr, "sipd: out of memory reading %s\n", path);
    } else if (fread(text, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        fprintf(stderr, "sipd: cannot read %s\n", path);
        free(text);
        text = NULL;
    } else {
        text[sb.st_size] = '\0';
        if (strlen(text) != (size_t)sb.st_size) {
            fprintf(stderr, "sipd: %s contains a NUL byte\n", path);
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

/* Run one command; 0 if it succeeded, else print "what: error" and return -1. */
static int init_exec(PGconn *c, const char *sql, int nparams, const char *const *values,
                     const char *what, PGresult **out)
{
    PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, values, NULL, NULL, 0)
                          : PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
        fprintf(stderr, "sipd: %s failed: %s", what, r ? PQresultErrorMessage(r)
                                                        : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int is_applied(const PGresult *applied, long version)
{
    int n = PQntuples(applied);
    for (int i = 0; i < n; i++) {
        int64_t v;
        if (pg_get_i64(applied, i, 0, 0, INT32_MAX, &v) == 0 && v == version)
            return 1;
    }
    return 0;
}

static int apply_migration(PGconn *c, const char *dir, const struct migration *m)
{
    char *text = read_migration(dir, m->name);
    if (!text)
        return -1;
    char version[24], what[512];
    snprintf(version, sizeof version, "%ld", m->version);
    snprintf(what, sizeof what, "migration %s/%s", dir, m->name);
    const char *values[2] = {version, m->name};
    int rc = init_exec(c, "BEGIN", 0, NULL, "BEGIN", NULL);
    if (rc == 0)
        rc = init_exec(c, text, 0, NULL, what, NULL);
    if (rc == 0)
        rc = init_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)",
                       2, values, "recording the migration", NULL);
    if (rc == 0)
        rc = init_exec(c, "COMMIT", 0, NULL, what, NULL);
    else
        PQclear(PQexec(c, "ROLLBACK"));
    free(text);
    if (rc == 0)
        LOG_INFO("schema migration applied version=%ld file=%s", m->version, m->name);
    return rc;
}

int store_init_db(const char *conninfo, const char *schema_dir)
{
    struct migration *v;
    size_t n;
    if (list_migrations(schema_dir, &v, &n))
        return -1;
    static const char *const keys[] = {"fallback_application_name", "client_encoding", "dbname",
                                       NULL};
    const char *vals[] = {"sipd-init-db", "UTF8", conninfo ? conninfo : "", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "sipd: cannot connect to PostgreSQL: %s",
                c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        free_migrations(v, n);
        return -1;
    }
    PQsetNoticeProcessor(c, pg_notice_quiet, NULL);

    /* One migrator at a time (several nodes may be installed at once). */
    const char *key[1] = {PG_INIT_LOCK_KEY};
    PGresult *applied = NULL;
    int rc = init_exec(c, "SELECT pg_advisory_lock($1::bigint)", 1, key, "taking the schema lock",
                       NULL);
    if (rc == 0)
        rc = init_exec(c,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version integer PRIMARY KEY,"
                       " name text,"
                       " applied_at timestamptz DEFAULT now())",
                       0, NULL, "creating schema_migrations", NULL);
    if (rc == 0)
        rc = init_exec(c, "SELECT version FROM schema_migrations", 0, NULL,
                       "reading schema_migrations", &applied);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!is_applied(applied, v[i].version))
            rc = apply_migration(c, schema_dir, &v[i]);
    }
    PQclear(applied);
    PQfinish(c); /* releases the advisory lock */
    free_migrations(v, n);
    return rc;
}
