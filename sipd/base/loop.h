/* loop.h - the event loop: epoll for file descriptors, a timer heap for time events.
 *
 * One loop per process owns all SIP state. Callbacks run on the loop thread only. */
#ifndef SIPD_LOOP_H
#define SIPD_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

#include "timers.h"

struct loop;

typedef void (*loop_fd_cb)(struct loop *loop, int fd, uint32_t events, void *arg);

/* Returns NULL on failure (errno set). Caller frees with loop_destroy(). */
struct loop *loop_create(void);
void loop_destroy(struct loop *loop);

/* events: EPOLLIN/EPOLLOUT/... Returns 0 or -errno. */
int loop_fd_add(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_fd_mod(struct loop *loop, int fd, uint32_t events);
void loop_fd_del(struct loop *loop, int fd);

/* Monotonic milliseconds, cached once per loop iteration. */
uint64_t loop_now_ms(struct loop *loop);
/* Refresh the cached time now (for use in long callbacks). */
uint64_t loop_update_time(struct loop *loop);

/* Arm t to fire delay_ms from now. Returns 0 or -ENOMEM. */
int loop_timer_start(struct loop *loop, struct timer *t, uint64_t delay_ms, timer_cb cb, void *arg);
void loop_timer_stop(struct loop *loop, struct timer *t);
size_t loop_timer_count(struct loop *loop);

/* Run until loop_stop(). Returns 0 or -errno on a fatal epoll error. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
