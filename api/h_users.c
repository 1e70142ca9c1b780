/* h_users.c - /api/v1/users: the users who may authenticate with digest (docs/auth.md, docs/api.md
 * "Users").
 *
 * A password arrives in a body, is turned into HA1s here (on the HTTP thread: hashing is pure)
 * and goes no further: the store keeps HA1 = H(user ":" realm ":" password) for MD5 and SHA-256,
 * the answers show only the AOR and the realm, and nothing here logs a body. The request's body
 * buffer is wiped once the password is hashed. */
#include "api_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/digest.h"
#include "store/store.h"

#define USER_PASSWORD_MAX 256

static json_t *user_json(const char *aor, const char *realm)
{
    return json_pack("{s:s, s:s}", "aor", aor, "realm", realm);
}

/* Fill j->s[1..3] with the realm (the AOR's domain) and the HA1s of aor (j->s[0], canonical) and
 * password. 0 or -1. */
static int hash_into(struct api_job *j, const char *password)
{
    const char *aor = j->s[0];
    const char *at = strchr(aor, '@');
    char user[512], md5[DIGEST_MAX_HEX + 1], sha[DIGEST_MAX_HEX + 1];
    snprintf(user, sizeof user, "%.*s", (int)(at - aor - 4), aor + 4);
    int rc = digest_ha1(DIGEST_MD5, user, at + 1, password, md5) < 0 ||
                     digest_ha1(DIGEST_SHA256, user, at + 1, password, sha) < 0
                 ? -1
                 : 0;
    if (rc == 0) {
        j->s[1] = strdup(at + 1);
        j->s[2] = strdup(md5);
        j->s[3] = strdup(sha);
        rc = j->s[1] && j->s[2] && j->s[3] ? 0 : -1;
    }
    explicit_bzero(md5, sizeof md5);
    explicit_bzero(sha, sizeof sha);
    return rc;
}

/* The password of a body: a string of 1..USER_PASSWORD_MAX bytes without NUL or line break, or
 * NULL after answering 400. */
static const char *password_of(struct api_req *r, json_t *body)
{
    const char *pw = json_string_value(json_object_get(body, "password"));
    if (!pw || !*pw || json_string_length(json_object_get(body, "password")) != strlen(pw) ||
        strlen(pw) > USER_PASSWORD_MAX || strpbrk(pw, "\r\n")) {
        api_reply_error(r, 400, "bad field",
                        "password is required: 1 to %d bytes, no line break", USER_PASSWORD_MAX);
        return NULL;
    }
    return pw;
}

static void wipe_body(struct api_req *r)
{
    if (r->body)
        explicit_bzero(r->body, r->body_len);
}

/* ---- writes ---- */

static void on_written(void *arg, int status)
{
    struct api_job *j = arg;
    if (status == 0)
        api_job_done(j, (int)j->n[0], user_json(j->s[0], j->s[1]));
    else if (status == 409)
        api_job_error(j, 409, "exists", "%.256s is a user already", j->s[0]);
    else if (status == 404)
        api_job_error(j, 404, "not found", "%.256s is no user", j->s[0]);
    else
        api_job_error(j, api_store_http_status(status), "store error",
                      "the user could not be written");
}

static void put_run(struct api_job *j)
{
    struct auth_user u = {.aor = j->s[0], .realm = j->s[1], .ha1_md5 = j->s[2],
                          .ha1_sha256 = j->s[3]};
    store_user_put(j->api->ctx.store, &u, j->n[0] == 201, on_written, j);
}

/* A job writing aor with password's HA1s: create (201) or change (200). */
static void write_user(struct api_req *r, char *aor, const char *password, int code)
{
    struct api_job *j = api_job_new(r->api, put_run);
    if (!j) {
        free(aor);
        api_job_call(r, NULL);
        return;
    }
    j->s[0] = aor;
    j->n[0] = code;
    hash_into(j, password); /* on failure a field stays NULL: the store refuses it (500) */
    api_job_call(r, j);
}

void api_h_user_add(struct api_req *r)
{
    static const char *const allowed[] = {"user", "password", NULL};
    json_t *body = api_body_object(r, allowed);
    if (!body)
        return;
    const char *user = json_string_value(json_object_get(body, "user"));
    char *aor = user && strlen(user) <= 256 ? api_aor(user) : NULL;
    const char *pw = NULL;
    if (!aor)
        api_reply_error(r, 400, "bad field",
                        "user is required: a SIP AOR with a user and a domain (alice@example.com)");
    else if ((pw = password_of(r, body)) != NULL)
        write_user(r, aor, pw, 201);
    if (!pw)
        free(aor);
    json_decref(body);
    wipe_body(r);
}

void api_h_user_patch(struct api_req *r)
{
    static const char *const allowed[] = {"password", NULL};
    char *aor = api_path_aor(r, API_PATH_AOR);
    json_t *body = aor ? api_body_object(r, allowed) : NULL;
    const char *pw = body ? password_of(r, body) : NULL;
    if (pw)
        write_user(r, aor, pw, 200);
    else
        free(aor);
    json_decref(body);
    wipe_body(r);
}

static void on_deleted(void *arg, int status)
{
    struct api_job *j = arg;
    if (status == 0)
        api_job_done(j, 204, NULL);
    else if (status == 404)
        api_job_error(j, 404, "not found", "%.256s is no user", j->s[0]);
    else
        api_job_error(j, api_store_http_status(status), "store error",
                      "the user could not be removed");
}

static void delete_run(struct api_job *j)
{
    store_user_delete(j->api->ctx.store, j->s[0], on_deleted, j);
}

void api_h_user_delete(struct api_req *r)
{
    struct api_job *j = api_path_job(r, API_PATH_AOR, delete_run);
    if (j)
        api_job_call(r, j);
}

/* ---- reads ---- */

static void on_user(void *arg, int status, const struct auth_user *u)
{
    struct api_job *j = arg;
    if (status == 0 && u)
        api_job_done(j, 200, user_json(u->aor, u->realm));
    else if (status == 404)
        api_job_error(j, 404, "not found", "%.256s is no user", j->s[0]);
    else
        api_job_error(j, api_store_http_status(status), "store error",
                      "the user could not be read");
}

static void get_run(struct api_job *j) { store_user_get(j->api->ctx.store, j->s[0], on_user, j); }

void api_h_user_get(struct api_req *r)
{
    struct api_job *j = api_path_job(r, API_PATH_AOR, get_run);
    if (j)
        api_job_call(r, j);
}

/* One more than the page is asked for, so that "next" is null on the last page. */
static void on_users(void *arg, int status, const struct auth_user *v, size_t n)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the users could not be read");
        return;
    }
    size_t limit = (size_t)j->n[0];
    json_t *items = json_array();
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(items, user_json(v[i].aor, v[i].realm));
    json_t *next = api_next_link("/api/v1/users", limit, n > limit ? v[limit - 1].aor : NULL);
    api_job_done(j, 200, json_pack("{s:o, s:o}", "items", items, "next", next));
}

static void list_run(struct api_job *j)
{
    store_users_list(j->api->ctx.store, j->s[0], (size_t)j->n[0] + 1, on_users, j);
}

void api_h_users_list(struct api_req *r)
{
    struct api_job *j = api_list_job(r, list_run);
    if (j)
        api_job_call(r, j);
}
