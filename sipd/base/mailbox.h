/* mailbox.h - how another thread hands work to the event loop: a locked queue of (fn, arg) and an
 * eventfd in the loop's epoll set. fn runs on the loop thread, in the order posted.
 *
 * The HTTP server (api/) runs on libmicrohttpd's threads and never touches the loop's data: every
 * request that needs it becomes a mail, and the answer goes back by the poster's own means (the
 * API waits on a condition variable of its job object). */
#ifndef SIPD_BASE_MAILBOX_H
#define SIPD_BASE_MAILBOX_H

struct loop;
struct mailbox;

typedef void (*mailbox_fn)(void *arg);

/* Registers an eventfd on loop. NULL on failure (errno set). Loop thread only. */
struct mailbox *mailbox_create(struct loop *loop);

/* Unregisters from the loop and frees the mailbox. Mails still queued are not run: each one's
 * `drop` (given to mailbox_post, may be NULL) is called with its arg instead, so their owners can
 * free them. Loop thread only, after every poster has stopped posting. */
void mailbox_destroy(struct mailbox *mb);

/* Any thread. fn(arg) will run on the loop thread; if the mailbox is destroyed first,
 * drop(arg) runs instead (from mailbox_destroy). Returns 0, or -ENOMEM. */
int mailbox_post(struct mailbox *mb, mailbox_fn fn, mailbox_fn drop, void *arg);

#endif
