/* authlimit.c - failed-authentication rate limits; see authlimit.h and docs/auth.md. */
#include "authlimit.h"

#include <stdio.h>
#include <stdlib.h>

#include "../base/ratelimit.h"

struct auth_limit {
    struct ratelimit *sources; /* NULL: no per-source limit */
    struct ratelimit *users;   /* NULL: no per-user limit */
    struct source_list exempt;
    auth_limit_trust_cb is_trusted; /* NULL: none */
    void *trust_arg;
};

struct auth_limit *auth_limit_create(const struct auth_limit_config *cfg, char *err, size_t errlen)
{
    struct auth_limit *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char lerr[160];
    if (source_list_parse(&l->exempt, cfg->exempt ? cfg->exempt : "", lerr, sizeof lerr) < 0) {
        snprintf(err, errlen, "limits.exempt: %s", lerr);
        free(l);
        return NULL;
    }
    size_t keys = cfg->max_keys ? cfg->max_keys : 1;
    /* no limit: no table (it would be allocated and never used) */
    if (cfg->source_rate_milli)
        l->sources = ratelimit_create(&(struct ratelimit_config){
            .rate_milli_per_s = cfg->source_rate_milli, .burst = cfg->source_burst, .max_keys = keys});
    if (cfg->user_rate_milli)
        l->users = ratelimit_create(&(struct ratelimit_config){
            .rate_milli_per_s = cfg->user_rate_milli, .burst = cfg->user_burst, .max_keys = keys});
    if ((cfg->source_rate_milli && !l->sources) || (cfg->user_rate_milli && !l->users)) {
        snprintf(err, errlen, "out of memory for %zu keys", keys);
        auth_limit_destroy(l);
        return NULL;
    }
    return l;
}

void auth_limit_set_trusted(struct auth_limit *l, auth_limit_trust_cb cb, void *arg)
{
    l->is_trusted = cb;
    l->trust_arg = arg;
}

void auth_limit_destroy(struct auth_limit *l)
{
    if (!l)
        return;
    ratelimit_destroy(l->sources);
    ratelimit_destroy(l->users);
    free(l);
}

enum auth_limit_verdict auth_limit_begin(struct auth_limit *l, const struct sockaddr_storage *src,
                                         const char *user, size_t user_len, uint64_t now_ms,
                                         struct auth_limit_ticket *ticket, uint64_t *wait_ms)
{
    ticket->source_len = 0;
    ticket->user_paid = 0;
    if (l->sources && src && !source_list_match(&l->exempt, src) &&
        !(l->is_trusted && l->is_trusted(l->trust_arg, src))) {
        size_t kl = source_addr_key(src, ticket->source);
        if (kl && !ratelimit_take(l->sources, ticket->source, kl, now_ms, wait_ms))
            return AUTH_LIMIT_SOURCE;
        ticket->source_len = kl;
    }
    if (l->users) {
        if (!ratelimit_take(l->users, user, user_len, now_ms, wait_ms)) {
            if (ticket->source_len)
                ratelimit_give(l->sources, ticket->source, ticket->source_len);
            ticket->source_len = 0;
            return AUTH_LIMIT_USER;
        }
        ticket->user_paid = 1;
    }
    return AUTH_LIMIT_OK;
}

void auth_limit_end(struct auth_limit *l, const struct auth_limit_ticket *ticket, const char *user,
                    size_t user_len, enum auth_limit_outcome outcome)
{
    if (outcome == AUTH_LIMIT_FAILED)
        return;
    /* (only this attempt's token: the source's other failures, for other users, still count) */
    if (ticket->source_len)
        ratelimit_give(l->sources, ticket->source, ticket->source_len);
    if (ticket->user_paid) {
        if (outcome == AUTH_LIMIT_SUCCEEDED)
            ratelimit_forget(l->users, user, user_len);
        else
            ratelimit_give(l->users, user, user_len);
    }
}
