/*
 * index.c - a hub's subscriptions: a chained hash table of hub members keyed by
 * (kind, key), an owner id or an agency code. Lookups cost one bucket whatever the
 * number of connections; the table doubles when chains grow past two on average.
 * Worker thread only, like the hub that owns it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "push.h"

#define INITIAL_BUCKETS 256

static uint32_t hash_key(int kind, const char *key)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static h2o_linklist_t *new_buckets(size_t n)
{
    h2o_linklist_t *b = malloc(n * sizeof(*b));
    if (b != NULL)
        for (size_t i = 0; i < n; i++)
            h2o_linklist_init_anchor(&b[i]);
    return b;
}

int hoso__index_init(hoso_sub_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    if ((ix->buckets = new_buckets(INITIAL_BUCKETS)) == NULL)
        return HOSO_ENOMEM;
    ix->nbuckets = INITIAL_BUCKETS;
    return 0;
}

void hoso__index_dispose(hoso_sub_index *ix)
{
    free(ix->buckets);
    memset(ix, 0, sizeof(*ix));
}

static void grow(hoso_sub_index *ix)
{
    size_t n = ix->nbuckets * 2;
    h2o_linklist_t *nb = new_buckets(n);
    if (nb == NULL)
        return; /* without memory the chains just get longer */
    for (size_t i = 0; i < ix->nbuckets; i++) {
        while (!h2o_linklist_is_empty(&ix->buckets[i])) {
            hoso_hub_member *m = H2O_STRUCT_FROM_MEMBER(hoso_hub_member, sub, ix->buckets[i].next);
            h2o_linklist_unlink(&m->sub);
            h2o_linklist_insert(&nb[m->hash & (n - 1)], &m->sub);
        }
    }
    free(ix->buckets);
    ix->buckets = nb;
    ix->nbuckets = n;
}

int hoso__index_add(hoso_sub_index *ix, hoso_hub_member *m, int kind, const char *key)
{
    if (h2o_linklist_is_linked(&m->sub))
        return 0;
    if (ix->n >= 2 * ix->nbuckets)
        grow(ix);
    m->kind = kind;
    snprintf(m->key, sizeof(m->key), "%s", key);
    m->hash = hash_key(kind, m->key);
    h2o_linklist_insert(&ix->buckets[m->hash & (ix->nbuckets - 1)], &m->sub);
    ix->n++;
    return 1;
}

int hoso__index_remove(hoso_sub_index *ix, hoso_hub_member *m)
{
    if (!h2o_linklist_is_linked(&m->sub))
        return 0;
    h2o_linklist_unlink(&m->sub);
    ix->n--;
    return 1;
}

void hoso__index_each(const hoso_sub_index *ix, int kind, const char *key,
                      void (*fn)(void *ctx, hoso_hub_member *m), void *ctx)
{
    uint32_t hash = hash_key(kind, key);
    h2o_linklist_t *bucket = &ix->buckets[hash & (ix->nbuckets - 1)];
    for (h2o_linklist_t *l = bucket->next; l != bucket; l = l->next) {
        hoso_hub_member *m = H2O_STRUCT_FROM_MEMBER(hoso_hub_member, sub, l);
        if (m->hash == hash && m->kind == kind && strcmp(m->key, key) == 0)
            fn(ctx, m);
    }
}
