/* reload.c - what a SIGHUP changes on a running sipd.
 *
 * The file is read again onto the defaults and compared with the file as it was at start (not
 * with the running configuration, which also holds the flags): only keys the operator changed in
 * the file are considered, and a key a flag set at start keeps the flag's value, as it would on a
 * restart with the same command line. Of the changed keys, the ones that are safe to change under
 * load are applied (the log level; the registrar's limits, read per REGISTER; new static group
 * topics, created like at start); the others (listen addresses, roles, database, node identity,
 * timers fixed into live objects...) are logged one line each as not applied. The whole new
 * configuration is validated first, so a broken file changes nothing. */
#include "reload.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "server.h"

#define MAX_KEYS 128

struct reload {
    struct server *srv;
    char path[PATH_MAX];
    struct sipd_config running;   /* what is in force */
    struct sipd_config from_file; /* defaults + the file, as last read */
    /* keys whose running value differs from the file's at start: set by a flag */
    const char *flag_section[MAX_KEYS], *flag_key[MAX_KEYS];
    size_t nflags;
};

static void note_flag(void *arg, const char *section, const char *key)
{
    struct reload *r = arg;
    if (r->nflags < MAX_KEYS) {
        r->flag_section[r->nflags] = section;
        r->flag_key[r->nflags++] = key;
    }
}

static int load(const char *path, struct sipd_config *out, char *err, size_t errlen)
{
    config_defaults(out);
    return config_load_file(out, path, err, errlen);
}

struct reload *reload_create(struct server *srv, const struct sipd_config *running, const char *path)
{
    struct reload *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = srv;
    r->running = *running;
    if (path && path[0]) {
        char err[512];
        char abs[PATH_MAX];
        /* absolute: a daemon has changed to / by the time a SIGHUP comes */
        snprintf(r->path, sizeof r->path, "%s", realpath(path, abs) ? abs : path);
        if (load(path, &r->from_file, err, sizeof err) < 0) {
            LOG_ERROR("%s", err);
            free(r);
            return NULL;
        }
        r->from_file.foreground = running->foreground; /* -f, not a key an operator reloads */
        config_diff(&r->from_file, running, note_flag, r);
    }
    return r;
}

static int is_flag_set(const struct reload *r, const char *section, const char *key)
{
    for (size_t i = 0; i < r->nflags; i++)
        if (!strcmp(r->flag_section[i], section) && !strcmp(r->flag_key[i], key))
            return 1;
    return 0;
}

/* The topic of each "TOPIC=MEMBERS" of a broker.groups spec is in spec? */
static int spec_has_topic(const char *spec, const char *topic, size_t len)
{
    for (const char *p = spec; (p = strstr(p, topic)) != NULL; p += len) {
        int starts = p == spec || strchr("; \t", p[-1]);
        const char *e = p + len;
        while (*e == ' ' || *e == '\t')
            e++;
        if (starts && *e == '=')
            return 1;
    }
    return 0;
}

/* The groups of next that old does not name, as a spec of their own, in out. How many. */
static int new_groups(const char *old, const char *next, char *out, size_t outlen)
{
    int n = 0;
    size_t used = 0;
    out[0] = '\0';
    for (const char *g = next; *g;) {
        const char *end = strchr(g, ';');
        size_t glen = end ? (size_t)(end - g) : strlen(g);
        const char *t = g + strspn(g, " \t");
        size_t tlen = strcspn(t, " \t=");
        if (memchr(g, '=', glen) && tlen && t + tlen <= g + glen) {
            char topic[512];
            snprintf(topic, sizeof topic, "%.*s", (int)tlen, t);
            if (!spec_has_topic(old, topic, tlen) && used + glen + 2 < outlen) {
                used += (size_t)snprintf(out + used, outlen - used, "%s%.*s", n ? ";" : "", (int)glen, g);
                n++;
            }
        }
        g += glen + (end ? 1 : 0);
    }
    return n;
}

/* Is a group of old missing from next, word for word (removed, or its members changed)? */
static int groups_edited(const char *old, const char *next)
{
    for (const char *g = old; *g;) {
        g += strspn(g, " \t;");
        size_t glen = strcspn(g, ";");
        while (glen && (g[glen - 1] == ' ' || g[glen - 1] == '\t'))
            glen--;
        char entry[sizeof ((struct sipd_config *)0)->im_groups];
        snprintf(entry, sizeof entry, "%.*s", (int)glen, g);
        if (glen && !strstr(next, entry))
            return 1;
        g += glen;
        g += strcspn(g, ";");
    }
    return 0;
}

struct pass {
    struct reload *r;
    struct sipd_config next_run; /* the running configuration with what can be applied */
    const struct sipd_config *next_file;
    int applied, refused;
};

static int is_key(const char *section, const char *key, const char *s2, const char *k2)
{
    return !strcmp(section, s2) && !strcmp(key, k2);
}

static void on_changed(void *arg, const char *section, const char *key)
{
    struct pass *p = arg;
    struct sipd_config *nr = &p->next_run;
    const struct sipd_config *nf = p->next_file;
    if (is_flag_set(p->r, section, key)) {
        LOG_WARN("reload: %s.%s changed in the file but is set on the command line: not applied",
                 section, key);
        p->refused++;
        return;
    }
    if (is_key(section, key, "sipd", "log_level")) {
        memcpy(nr->log_level, nf->log_level, sizeof nr->log_level);
    } else if (is_key(section, key, "registrar", "min_expires")) {
        nr->min_expires = nf->min_expires;
    } else if (is_key(section, key, "registrar", "max_expires")) {
        nr->max_expires = nf->max_expires;
    } else if (is_key(section, key, "registrar", "default_expires")) {
        nr->default_expires = nf->default_expires;
    } else if (is_key(section, key, "registrar", "max_contacts")) {
        nr->max_contacts = nf->max_contacts;
    } else if (is_key(section, key, "broker", "groups") && (nr->role_mask & ROLE_BROKER)) {
        memcpy(nr->im_groups, nf->im_groups, sizeof nr->im_groups);
    } else {
        LOG_WARN("reload: %s.%s changed: not applied (restart sipd to apply it)", section, key);
        p->refused++;
        return;
    }
    p->applied++;
}

int reload_run(struct reload *r)
{
    if (!r->path[0]) {
        LOG_WARN("reload: SIGHUP received but sipd runs without --config: nothing to re-read");
        return 0;
    }
    char err[512];
    struct pass p = {.r = r, .next_run = r->running};
    struct sipd_config *file = malloc(sizeof *file);
    if (!file) {
        LOG_ERROR("reload: out of memory");
        return -1;
    }
    if (load(r->path, file, err, sizeof err) < 0) {
        LOG_ERROR("reload: %s; nothing applied", err);
        free(file);
        return -1;
    }
    file->foreground = r->from_file.foreground;
    p.next_file = file;
    config_diff(&r->from_file, file, on_changed, &p);
    if (config_finish(&p.next_run, err, sizeof err) < 0) {
        LOG_ERROR("reload: %s; nothing applied", err);
        free(file);
        return -1;
    }
    char groups[sizeof file->im_groups];
    int ngroups = new_groups(r->running.im_groups, p.next_run.im_groups, groups, sizeof groups);
    if (ngroups && server_add_groups(r->srv, groups) < 0) {
        LOG_ERROR("reload: broker.groups: the new groups were not created; nothing else applied");
        free(file);
        return -1;
    }
    if (strcmp(p.next_run.log_level, r->running.log_level) != 0) {
        log_level_parse(p.next_run.log_level, &log_current_level);
        LOG_INFO("reload: sipd.log_level = %s applied", p.next_run.log_level);
    }
    if (p.next_run.min_expires != r->running.min_expires ||
        p.next_run.max_expires != r->running.max_expires ||
        p.next_run.default_expires != r->running.default_expires ||
        p.next_run.max_contacts != r->running.max_contacts) {
        server_reload_limits(r->srv, &p.next_run);
        LOG_INFO("reload: registrar limits applied min_expires=%d max_expires=%d default_expires=%d "
                 "max_contacts=%d", p.next_run.min_expires, p.next_run.max_expires,
                 p.next_run.default_expires, p.next_run.max_contacts);
    }
    if (ngroups)
        LOG_INFO("reload: broker.groups: %d new group topic(s) being created", ngroups);
    if (groups_edited(r->running.im_groups, p.next_run.im_groups))
        LOG_WARN("reload: broker.groups: removed groups and new members of existing ones are not "
                 "applied (the topics live in the store: use sipctl or the API)");
    r->running = p.next_run;
    r->from_file = *file;
    free(file);
    LOG_INFO("reload: configuration %s re-read: %d change(s) applied, %d not applied", r->path,
             p.applied, p.refused);
    return p.applied;
}

void reload_destroy(struct reload *r) { free(r); }
