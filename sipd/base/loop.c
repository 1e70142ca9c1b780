/* loop.c - epoll + timer heap event loop; see loop.h. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct fd_entry {
    loop_fd_cb cb;
    void *arg;
    int in_use;
};

struct loop {
    int epfd;
    int running;
    uint64_t now_ms;
    struct timer_heap timers;
    struct fd_entry *fds; /* indexed by fd */
    int nfds;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct loop *loop_create(void)
{
    struct loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    timer_heap_init(&loop->timers);
    loop->now_ms = mono_ms();
    return loop;
}

void loop_destroy(struct loop *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    timer_heap_free(&loop->timers);
    free(loop->fds);
    free(loop);
}

static int ensure_fd_slot(struct loop *loop, int fd)
{
    if (fd < loop->nfds)
        return 0;
    int n = loop->nfds ? loop->nfds : 64;
    while (n <= fd)
        n *= 2;
    struct fd_entry *nf = realloc(loop->fds, (size_t)n * sizeof *nf);
    if (!nf)
        return -ENOMEM;
    for (int i = loop->nfds; i < n; i++)
        nf[i] = (struct fd_entry){0};
    loop->fds = nf;
    loop->nfds = n;
    return 0;
}

int loop_fd_add(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
    if (fd < 0)
        return -EBADF;
    int rc = ensure_fd_slot(loop, fd);
    if (rc)
        return rc;
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    loop->fds[fd] = (struct fd_entry){.cb = cb, .arg = arg, .in_use = 1};
    return 0;
}

int loop_fd_mod(struct loop *loop, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return -errno;
    return 0;
}

void loop_fd_del(struct loop *loop, int fd)
{
    if (fd < 0 || fd >= loop->nfds || !loop->fds[fd].in_use)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->fds[fd] = (struct fd_entry){0};
}

uint64_t loop_now_ms(struct loop *loop) { return loop->now_ms; }

uint64_t loop_update_time(struct loop *loop)
{
    loop->now_ms = mono_ms();
    return loop->now_ms;
}

int loop_timer_start(struct loop *loop, struct timer *t, uint64_t delay_ms, timer_cb cb, void *arg)
{
    return timer_heap_start(&loop->timers, t, loop->now_ms + delay_ms, cb, arg);
}

void loop_timer_stop(struct loop *loop, struct timer *t) { timer_heap_stop(&loop->timers, t); }

size_t loop_timer_count(struct loop *loop) { return timer_heap_count(&loop->timers); }

void loop_stop(struct loop *loop) { loop->running = 0; }

int loop_run(struct loop *loop)
{
    struct epoll_event evs[128];
    loop->running = 1;
    while (loop->running) {
        loop_update_time(loop);
        timer_heap_run(&loop->timers, loop->now_ms);
        if (!loop->running)
            break;
        uint64_t due = timer_heap_next_due(&loop->timers);
        int timeout = -1;
        if (due != UINT64_MAX) {
            uint64_t now = loop_update_time(loop);
            timeout = due <= now ? 0 : (due - now > 60000 ? 60000 : (int)(due - now));
        }
        int n = epoll_wait(loop->epfd, evs, 128, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            LOG_ERROR("epoll_wait failed errno=%d", errno);
            return -errno;
        }
        loop_update_time(loop);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            /* An earlier callback in this batch may have removed (or replaced) this fd. */
            if (fd >= loop->nfds || !loop->fds[fd].in_use)
                continue;
            struct fd_entry e = loop->fds[fd];
            e.cb(loop, fd, evs[i].events, e.arg);
        }
    }
    return 0;
}
