/* control.c - what the control plane (api/, docs/api.md "Topics, subscriptions, messages") asks
 * of the broker beyond the store: the subscriptions it holds, and ending them when their group
 * goes or their subscriber leaves it. Publishing a notice is in publish.c (it is a publish). */
#include <stdlib.h>
#include <string.h>

#include "im_internal.h"

const struct im_retention *broker_retention(const struct broker *b)
{
    return &b->cfg.ret;
}

static const char *state_of(const struct isub *s)
{
    if (s->final_reason)
        return "terminating";
    return s->state == SUB_WAITING ? "waiting" : "active";
}

size_t broker_subs_visit(struct broker *b, const char *topic, const char *aor,
                         broker_sub_visit_fn fn, void *arg)
{
    size_t n = 0, bk;
    for (struct hmap_entry *e = hmap_first(&b->subs, &bk); e; e = hmap_next(&b->subs, e, &bk)) {
        const struct isub *s = e->val;
        if (s->dead || (topic && strcmp(s->topic->uri, topic) != 0) ||
            (aor && strcmp(s->subscriber, aor) != 0))
            continue;
        struct broker_sub_info info = {
            .topic = s->topic->uri,
            .aor = s->subscriber,
            .device = device_of(s->instance, s->contact),
            .call_id = s->d.call_id,
            .remote_tag = s->d.remote_tag,
            .local_tag = s->d.local_tag,
            .event_id = s->d.event_id ? s->d.event_id : "",
            .acked_seq = s->P,
            .state = state_of(s),
            .expires_at = s->expires_at,
        };
        fn(arg, &info);
        n++;
    }
    return n;
}

/* End the subscriptions of topic (of aor only, unless NULL) with reason. im_sub_terminate may
 * remove (and free) a subscription, and with the topic's last one the topic: the list is copied
 * first. */
static void end_subs(struct broker *b, const char *topic, const char *aor, const char *reason)
{
    struct btopic *t = im_topic_get(b, topic, 0);
    if (!t || t->nsubs == 0)
        return;
    struct isub **v = malloc(t->nsubs * sizeof *v);
    if (!v)
        return;
    size_t n = 0;
    for (struct isub *s = t->subs; s && n < t->nsubs; s = s->tnext)
        if (!aor || strcmp(s->subscriber, aor) == 0)
            v[n++] = s;
    for (size_t i = 0; i < n; i++)
        ref_get(&v[i]->ref);
    for (size_t i = 0; i < n; i++) {
        if (!v[i]->dead)
            im_sub_terminate(v[i], reason);
        ref_put(&v[i]->ref);
    }
    free(v);
}

void broker_group_deleted(struct broker *b, const char *topic)
{
    end_subs(b, topic, NULL, "noresource");
}

void broker_member_removed(struct broker *b, const char *topic, const char *aor)
{
    end_subs(b, topic, aor, "rejected");
}
