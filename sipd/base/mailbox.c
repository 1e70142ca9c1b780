/* mailbox.c - see mailbox.h. One mutex around a singly linked FIFO; the eventfd counter only says
 * "look at the queue". The loop takes the whole queue at once and runs it outside the lock, so a
 * poster never waits for a mail's fn to run. */
#include "mailbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop.h"

struct mail {
    struct mail *next;
    mailbox_fn fn, drop;
    void *arg;
};

struct mailbox {
    struct loop *loop;
    int fd;
    pthread_mutex_t mu;
    struct mail *head, **tail;
};

/* Detach everything queued (in order) under the lock. */
static struct mail *take_all(struct mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    struct mail *m = mb->head;
    mb->head = NULL;
    mb->tail = &mb->head;
    pthread_mutex_unlock(&mb->mu);
    return m;
}

static void on_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)events;
    struct mailbox *mb = arg;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
        return;
    for (struct mail *m = take_all(mb), *next; m; m = next) {
        next = m->next;
        m->fn(m->arg);
        free(m);
    }
}

struct mailbox *mailbox_create(struct loop *loop)
{
    struct mailbox *mb = calloc(1, sizeof *mb);
    if (!mb)
        return NULL;
    mb->loop = loop;
    mb->tail = &mb->head;
    pthread_mutex_init(&mb->mu, NULL);
    mb->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = mb->fd < 0 ? -errno : loop_fd_add(loop, mb->fd, EPOLLIN, on_ready, mb);
    if (rc < 0) {
        if (mb->fd >= 0)
            close(mb->fd);
        pthread_mutex_destroy(&mb->mu);
        free(mb);
        errno = -rc;
        return NULL;
    }
    return mb;
}

void mailbox_destroy(struct mailbox *mb)
{
    if (!mb)
        return;
    loop_fd_del(mb->loop, mb->fd);
    close(mb->fd);
    for (struct mail *m = take_all(mb), *next; m; m = next) {
        next = m->next;
        if (m->drop)
            m->drop(m->arg);
        free(m);
    }
    pthread_mutex_destroy(&mb->mu);
    free(mb);
}

int mailbox_post(struct mailbox *mb, mailbox_fn fn, mailbox_fn drop, void *arg)
{
    struct mail *m = malloc(sizeof *m);
    if (!m)
        return -ENOMEM;
    *m = (struct mail){.fn = fn, .drop = drop, .arg = arg};
    pthread_mutex_lock(&mb->mu);
    *mb->tail = m;
    mb->tail = &m->next;
    pthread_mutex_unlock(&mb->mu);
    uint64_t one = 1;
    ssize_t w = write(mb->fd, &one, sizeof one); /* EAGAIN: the counter is full, a wake-up is due anyway */
    (void)w;
    return 0;
}
