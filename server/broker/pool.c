/*
 * pool.c - the broker's thread pools (relay.c, staff.c, files.c): a queue of items and threads
 * that take them in order, each doing blocking network work of its own. A stop lets
 * the threads finish what is queued, then joins them.
 */
#include <time.h>
#include "internal.h"

int64_t hoso__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hoso__pool_start(hoso__pool *p, unsigned threads, void *(*main)(void *arg), void *arg)
{
    pthread_mutex_lock(&p->lock);
    p->stop = 0;
    pthread_mutex_unlock(&p->lock);
    if (threads > HOSO__POOL_MAX)
        threads = HOSO__POOL_MAX;
    for (p->n = 0; p->n < threads; p->n++)
        if (pthread_create(&p->th[p->n], NULL, main, arg) != 0)
            break;
    return p->n > 0 ? 0 : HOSO_EINTERNAL;
}

void hoso__pool_stop(hoso__pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    p->n = 0;
}

int hoso__pool_put(hoso__pool *p, hoso__qitem *it)
{
    it->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->stop || p->n == 0) {
        pthread_mutex_unlock(&p->lock);
        return HOSO_EUNAVAILABLE;
    }
    if (p->tail != NULL)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

hoso__qitem *hoso__pool_take(hoso__pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->head == NULL && !p->stop)
        pthread_cond_wait(&p->cond, &p->lock);
    hoso__qitem *it = p->head;
    if (it != NULL) {
        p->head = it->next;
        if (p->head == NULL)
            p->tail = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    return it;
}
