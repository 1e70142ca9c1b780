/* job.c - a request's trip to the loop and back.
 *
 * The HTTP thread makes a job (inputs copied in: the loop never points into the request), posts
 * it through the mailbox and waits on the job's condition variable. The loop runs job->run,
 * which ends, at once or from a store callback, in api_job_done(). Two references: the waiting
 * thread's and the loop's. A thread that gives up (API_JOB_TIMEOUT_MS, answered 504) drops its
 * reference; the loop's answer then lands in a job nobody reads and is freed with it. All job
 * state is guarded by api->mu; the condition variable is per job. */
#include "api_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mailbox.h"
#include "store/store.h"

struct api_job *api_job_new(struct api *api, api_job_fn fn)
{
    struct api_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->api = api;
    j->run = fn;
    j->refs = 2;
    j->status = 500;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    return j;
}

static void job_free(struct api_job *j);

struct api_job *api_job_for(struct api_req *r, api_job_fn fn)
{
    struct api_job *j = api_job_new(r->api, fn);
    for (size_t i = 0; j && i < API_MAX_PARAMS; i++) {
        if (r->params[i] && !(j->s[i] = strdup(r->params[i]))) {
            job_free(j);
            return NULL;
        }
    }
    return j;
}

static void job_free(struct api_job *j)
{
    for (size_t i = 0; i < sizeof j->s / sizeof j->s[0]; i++)
        free(j->s[i]);
    json_decref(j->in);
    json_decref(j->out);
    free(j->text);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* After api_stop() the api lives on until the loop has dropped its last job (a store callback
 * may still bring one back): the loop side frees it then. */
static void loop_ref_put_locked(struct api *api, int *free_api)
{
    *free_api = --api->loop_jobs == 0 && api->stopped;
}

/* Drop one reference; api->mu held. Returns 1 when the job was freed. */
static int job_unref_locked(struct api_job *j)
{
    if (--j->refs > 0)
        return 0;
    job_free(j);
    return 1;
}

static void unlink_pending(struct api_job *j)
{
    if (!j->prev_pending)
        return;
    *j->prev_pending = j->next_pending;
    if (j->next_pending)
        j->next_pending->prev_pending = j->prev_pending;
    j->prev_pending = NULL;
    j->next_pending = NULL;
}

/* Loop thread: run it unless the api is stopping (then it was answered already). */
static void job_run(void *arg)
{
    struct api_job *j = arg;
    pthread_mutex_lock(&j->api->mu);
    int skip = j->done;
    pthread_mutex_unlock(&j->api->mu);
    if (skip) {
        api_job_done(j, 503, NULL);
        return;
    }
    j->run(j);
}

/* The mailbox went away with the job still queued: answered 503 (unless it was already), and
 * the loop's reference goes, as in api_job_done(). */
static void job_drop(void *arg)
{
    api_job_done(arg, 503, NULL);
}

/* The answer, once: JSON out or text (both owned from here on). */
static void finish(struct api_job *j, int status, json_t *out, char *text, size_t len,
                   const char *ctype)
{
    struct api *api = j->api;
    int free_api;
    pthread_mutex_lock(&api->mu);
    unlink_pending(j);
    if (!j->done) {
        j->done = 1;
        j->status = status;
        j->out = out;
        j->text = text;
        j->text_len = len;
        j->ctype = ctype;
        out = NULL;
        text = NULL;
        pthread_cond_signal(&j->cv);
    }
    job_unref_locked(j);
    loop_ref_put_locked(api, &free_api);
    pthread_mutex_unlock(&api->mu);
    json_decref(out);
    free(text);
    if (free_api)
        api_free(api);
}

void api_job_done(struct api_job *j, int status, json_t *out)
{
    finish(j, status, out, NULL, 0, NULL);
}

void api_job_text(struct api_job *j, int status, const char *content_type, char *text, size_t len)
{
    finish(j, status, NULL, text, len, content_type);
}

void api_job_error(struct api_job *j, int status, const char *err, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    api_job_done(j, status, json_pack("{s:s, s:s}", "error", err, "detail", detail));
}

int api_store_http_status(int status)
{
    if (status == 0)
        return 0;
    return status == STORE_EUNAVAIL ? 503 : 500;
}

void api_job_stop_all(struct api *api)
{
    pthread_mutex_lock(&api->mu);
    while (api->pending) {
        struct api_job *j = api->pending;
        unlink_pending(j);
        j->done = 1;
        j->status = 503;
        pthread_cond_signal(&j->cv);
    }
    pthread_mutex_unlock(&api->mu);
}

void api_job_call(struct api_req *r, struct api_job *j)
{
    struct api *api = r->api;
    if (!j) {
        api_reply_error(r, 500, "out of memory", "the request could not be queued");
        return;
    }
    pthread_mutex_lock(&api->mu);
    if (api->stopping) {
        pthread_mutex_unlock(&api->mu);
        j->refs = 1;
        job_free(j);
        api_reply_error(r, 503, "stopping", "this node is stopping");
        return;
    }
    j->next_pending = api->pending;
    if (api->pending)
        api->pending->prev_pending = &j->next_pending;
    api->pending = j;
    j->prev_pending = &api->pending;
    api->loop_jobs++;
    pthread_mutex_unlock(&api->mu);

    if (mailbox_post(api->mb, job_run, job_drop, j) < 0) {
        pthread_mutex_lock(&api->mu);
        api->loop_jobs--;
        unlink_pending(j);
        job_free(j);
        pthread_mutex_unlock(&api->mu);
        api_reply_error(r, 500, "out of memory", "the request could not be queued");
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += API_JOB_TIMEOUT_MS / 1000;
    until.tv_nsec += (long)(API_JOB_TIMEOUT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&api->mu);
    while (!j->done && pthread_cond_timedwait(&j->cv, &api->mu, &until) != ETIMEDOUT)
        ;
    int status = j->done ? j->status : 504;
    json_t *out = j->done ? j->out : NULL;
    char *text = j->done ? j->text : NULL;
    size_t text_len = j->text_len;
    const char *ctype = j->ctype;
    j->out = NULL;
    j->text = NULL;
    if (!j->done) {
        j->done = 1; /* the loop's late answer is dropped */
        unlink_pending(j);
    }
    job_unref_locked(j);
    pthread_mutex_unlock(&api->mu);

    if (text)
        api_reply_text(r, status, ctype, text, text_len);
    else if (status == 504)
        api_reply_error(r, 504, "timeout", "the node did not answer within %d ms", API_JOB_TIMEOUT_MS);
    else if (status == 503 && !out) {
        r->retry_after_s = 5;
        api_reply_error(r, 503, "unavailable", "this node is stopping or its store is unreachable");
    } else
        api_reply_json(r, status, out);
}
