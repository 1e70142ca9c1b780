/* ref.h - the one way sipd keeps an object alive across callbacks: a reference count with a
 * destructor, embedded in the object (libre's mem_ref/mem_deref idea, without the allocator).
 *
 *     struct isub { ...; struct ref ref; };
 *     ref_init(&s->ref, isub_destroy);   count 1: the creator's reference (e.g. the index's)
 *     ref_get(&s->ref);                  before handing s to something that calls back later
 *     ref_put(&s->ref);                  when that is done; the last put runs isub_destroy
 *     static void isub_destroy(struct ref *r) { struct isub *s = ref_owner(r, struct isub, ref);
 *                                               ...; free(s); }
 *
 * The count says when the memory may go, not whether the object is still wanted: an object
 * removed while callbacks still hold it carries a flag of its own (`dead`, `ended`) that those
 * callbacks test before doing anything.
 *
 * Not atomic, on purpose: every object that embeds one lives on the event loop's thread (other
 * threads hand work to the loop through a queue, they never touch these objects). Header only:
 * the calls are a few instructions on hot paths (a message copy shared by many queues). */
#ifndef SIPD_BASE_REF_H
#define SIPD_BASE_REF_H

#include <assert.h>
#include <stddef.h>

struct ref {
    unsigned count;
    void (*destroy)(struct ref *r); /* frees the object that embeds r */
};

/* The object embedding ref member `member` of type `type`, from a pointer to that member. */
#define ref_owner(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Count 1 (the caller's reference); destroy runs when the last reference is put. */
static inline void ref_init(struct ref *r, void (*destroy)(struct ref *r))
{
    r->count = 1;
    r->destroy = destroy;
}

/* One more reference: the caller may use the object until its matching ref_put(). */
static inline void ref_get(struct ref *r)
{
    assert(r->count > 0);
    r->count++;
}

/* Give a reference back; the last one destroys the object (r is gone when this returns then). */
static inline void ref_put(struct ref *r)
{
    assert(r->count > 0);
    if (--r->count == 0)
        r->destroy(r);
}

/* Teardown only: the other holders will never put their references (the callbacks that held
 * them were cancelled or have run), so only the caller's is left; its ref_put() destroys. */
static inline void ref_drop_others(struct ref *r) { r->count = 1; }

#endif
