/* binding.c - binding helpers; see binding.h. */
#include "binding.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void free_strings(struct binding *b)
{
    free(b->aor);
    free(b->contact);
    free(b->call_id);
    free(b->path);
    free(b->instance);
    free(b->user_agent);
    free(b->received);
    free(b->node);
}

void binding_clear(struct binding *b)
{
    free_strings(b);
    memset(b, 0, sizeof *b);
}

static int dup_field(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

int binding_copy(struct binding *dst, const struct binding *src)
{
    *dst = *src;
    int rc = 0;
    rc |= dup_field(&dst->aor, src->aor);
    rc |= dup_field(&dst->contact, src->contact);
    rc |= dup_field(&dst->call_id, src->call_id);
    rc |= dup_field(&dst->path, src->path);
    rc |= dup_field(&dst->instance, src->instance);
    rc |= dup_field(&dst->user_agent, src->user_agent);
    rc |= dup_field(&dst->received, src->received);
    rc |= dup_field(&dst->node, src->node);
    if (rc) {
        binding_clear(dst);
        return -ENOMEM;
    }
    return 0;
}

void binding_list_init(struct binding_list *l)
{
    l->v = NULL;
    l->len = l->cap = 0;
}

void binding_list_free(struct binding_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        binding_clear(&l->v[i]);
    free(l->v);
    binding_list_init(l);
}

static int reserve(struct binding_list *l)
{
    if (l->len < l->cap)
        return 0;
    size_t n = l->cap ? l->cap * 2 : 1;
    struct binding *nv = realloc(l->v, n * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    l->v = nv;
    l->cap = n;
    return 0;
}

int binding_list_push_copy(struct binding_list *l, const struct binding *b)
{
    if (reserve(l))
        return -ENOMEM;
    if (binding_copy(&l->v[l->len], b))
        return -ENOMEM;
    l->len++;
    return 0;
}

int binding_list_push_move(struct binding_list *l, struct binding *b)
{
    if (reserve(l))
        return -ENOMEM;
    l->v[l->len++] = *b;
    memset(b, 0, sizeof *b);
    return 0;
}
