/* events.c - the /api/v1/events stream (Server-Sent Events).
 *
 * The loop formats an event once (api_event) into a bounded ring; each stream (one HTTP thread
 * per client) copies what it has not sent yet. A client too slow to keep up loses the oldest
 * events, never blocks the loop: it is told how many with a comment line. With no client
 * streaming, api_events_wanted() is 0 and callers skip formatting altogether. */
#include "api_impl.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING_SIZE 1024          /* events kept for slow readers */
#define KEEPALIVE_MS 15000
#define MAX_EVENT_BYTES 2048

struct api_events {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t seq;               /* events ever pushed; the next one gets seq */
    char *ring[RING_SIZE];      /* ring[s % RING_SIZE] holds event s, for s in [seq-RING_SIZE, seq) */
    int closed;
    int streams;                /* open streams (read by the loop without the lock) */
};

struct stream {
    struct api_events *ev;
    uint64_t next;              /* the next event to send */
    int greeted;
};

struct api_events *api_events_create(void)
{
    struct api_events *ev = calloc(1, sizeof *ev);
    if (!ev)
        return NULL;
    pthread_mutex_init(&ev->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cv, &ca);
    pthread_condattr_destroy(&ca);
    return ev;
}

void api_events_close(struct api_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    ev->closed = 1;
    pthread_cond_broadcast(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

void api_events_destroy(struct api_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < RING_SIZE; i++)
        free(ev->ring[i]);
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

int api_events_wanted(const struct api *api)
{
    return api && __atomic_load_n(&api->events->streams, __ATOMIC_RELAXED) > 0;
}

void api_event(struct api *api, const char *type, const char *json)
{
    if (!api_events_wanted(api))
        return;
    size_t n = strlen(type) + strlen(json) + 20;
    if (n > MAX_EVENT_BYTES || strchr(json, '\n') || strchr(type, '\n'))
        return; /* our own formatting never makes these: a bug, not worth a broken stream */
    char *text = malloc(n);
    if (!text)
        return;
    snprintf(text, n, "event: %s\ndata: %s\n\n", type, json);
    struct api_events *ev = api->events;
    pthread_mutex_lock(&ev->mu);
    size_t slot = ev->seq % RING_SIZE;
    free(ev->ring[slot]);
    ev->ring[slot] = text;
    ev->seq++;
    pthread_cond_broadcast(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

/* Copy events s->next.. into buf while they fit; ev->mu held. Returns bytes written. */
static size_t copy_events(struct stream *s, char *buf, size_t max)
{
    struct api_events *ev = s->ev;
    size_t off = 0;
    if (ev->seq - s->next > RING_SIZE) {
        uint64_t lost = ev->seq - RING_SIZE - s->next;
        off = (size_t)snprintf(buf, max, ": %llu events dropped (reader too slow)\n\n",
                               (unsigned long long)lost);
        s->next = ev->seq - RING_SIZE;
    }
    while (s->next < ev->seq) {
        const char *t = ev->ring[s->next % RING_SIZE];
        size_t n = strlen(t);
        if (off + n > max)
            break;
        memcpy(buf + off, t, n);
        off += n;
        s->next++;
    }
    return off;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    struct api_events *ev = s->ev;
    if (!s->greeted) {
        s->greeted = 1;
        return snprintf(buf, max, ": sipd event stream\nretry: 2000\n\n");
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += KEEPALIVE_MS / 1000;
    pthread_mutex_lock(&ev->mu);
    while (!ev->closed && s->next == ev->seq)
        if (pthread_cond_timedwait(&ev->cv, &ev->mu, &until) == ETIMEDOUT)
            break;
    ssize_t n;
    if (ev->closed)
        n = MHD_CONTENT_READER_END_OF_STREAM;
    else if (s->next == ev->seq)
        n = snprintf(buf, max, ": keep-alive\n\n");
    else
        n = (ssize_t)copy_events(s, buf, max);
    pthread_mutex_unlock(&ev->mu);
    return n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    __atomic_sub_fetch(&s->ev->streams, 1, __ATOMIC_RELAXED);
    free(s);
}

struct MHD_Response *api_events_response(struct api *api)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ev = api->events;
    pthread_mutex_lock(&s->ev->mu);
    s->next = s->ev->seq;
    pthread_mutex_unlock(&s->ev->mu);
    __atomic_add_fetch(&s->ev->streams, 1, __ATOMIC_RELAXED);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, MAX_EVENT_BYTES * 2, reader, s, stream_free);
    if (!resp)
        stream_free(s);
    return resp;
}

void api_h_events(struct api_req *r)
{
    r->is_stream = 1;
    r->status = 200;
}
