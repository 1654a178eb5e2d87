/*
 * throttle.c - how often one account or one source address may try to sign in, and
 * one address may register.
 *
 * Each key (an account id, or a source address, by kind) counts its attempts that
 * count: failed sign-ins, or registrations. Past a free allowance every further one
 * doubles the wait before the key may try again (1 s, 2 s, 4 s ... up to a cap),
 * so a guesser gets a few hundred tries a day instead of thousands a minute, and a
 * citizen who mistyped twice never notices. A successful sign-in clears its account's
 * count; an address's count only fades, after a quiet while, so that one valid account
 * of the guesser's own cannot wipe the address's record.
 *
 * An attempt counts when it arrives, before any password is hashed, under the same
 * lock that checks the wait: a hundred guesses sent at once are held to the
 * allowance like a hundred sent one by one. The attempt that turns out right gives
 * its count back (hoso_throttle_refund) or clears its account.
 *
 * Each kind has a table of its own, so that dossier codes or registrations can never
 * push sign-in records out. A table holds keyed BLAKE2b hashes of the keys (the key
 * is drawn at start), never the keys: no id number or address stays in memory, and
 * nobody outside can pick keys that land in one neighbourhood. It has a fixed size;
 * when a slot's neighbourhood is full the entry idle longest gives way, a key made to
 * wait only when all of its neighbours wait too, and then the one whose wait ends
 * first: under a flood of keys the table forgets a little rather than refuse
 * everyone. One mutex: sign-ins are rare next to reads.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "runtime.h"

#define SLOTS 16384 /* per kind, a power of two */
#define PROBE 8

typedef struct policy {
    unsigned allowance; /* attempts that cost nothing */
    int64_t base_ms;    /* the first wait past the allowance, doubled each time */
    int64_t max_ms;     /* the longest wait */
    int64_t fade_ms;    /* a key quiet this long starts over */
} policy;

/* An account is what a guesser targets: it gets little slack and long waits. An address
 * may be a carrier's NAT shared by thousands of phones, so it gets more slack and waits
 * of a minute at most: enough to turn a flood from one address into a trickle without
 * locking a province's mobile users out for a quarter of an hour. */
static const policy POLICIES[] = {
    [HOSO_THROTTLE_ACCOUNT] = {5, 1000, 15 * 60 * 1000, 15 * 60 * 1000},
    [HOSO_THROTTLE_ADDRESS] = {50, 1000, 60 * 1000, 15 * 60 * 1000},
    [HOSO_THROTTLE_REGISTER] = {300, 1000, 60 * 1000, 10 * 60 * 1000},
    /* Guessing the last four digits of a phone takes up to 10,000 tries: after 5 wrong
     * ones a code waits, doubling up to an hour. */
    [HOSO_THROTTLE_LOOKUP_CODE] = {5, 1000, 60 * 60 * 1000, 60 * 60 * 1000},
    /* Rates: allowance is the burst, base_ms the time one token takes to come back. */
    [HOSO_THROTTLE_BOT] = {120, 100, 0, 0},
};

typedef struct slot {
    uint64_t hash; /* 0: free */
    uint32_t count;
    int64_t last_ms, until_ms;
} slot;

static struct {
    pthread_mutex_t lock;
    int keyed;
    uint8_t key[crypto_generichash_KEYBYTES];
    slot slots[HOSO_THROTTLE_KINDS][SLOTS];
} T = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Under T.lock. */
static uint64_t key_hash(int kind, const char *key)
{
    uint8_t out[8];
    uint8_t k = (uint8_t)kind;
    crypto_generichash_state st;
    if (!T.keyed) {
        randombytes_buf(T.key, sizeof(T.key));
        T.keyed = 1;
    }
    crypto_generichash_init(&st, T.key, sizeof(T.key), sizeof out);
    crypto_generichash_update(&st, &k, 1);
    crypto_generichash_update(&st, (const uint8_t *)key, strlen(key));
    crypto_generichash_final(&st, out, sizeof out);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h != 0 ? h : 1;
}

/* The key's slot, or (make) a slot for it; NULL when not found and !make. */
static slot *find(uint64_t h, int kind, int64_t now, int make)
{
    slot *oldest = NULL, *soonest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        slot *s = &T.slots[kind][(h + i) & (SLOTS - 1)];
        if (s->hash == h) {
            if (POLICIES[kind].fade_ms > 0 && now - s->last_ms >= POLICIES[kind].fade_ms && now >= s->until_ms)
                s->count = 0; /* quiet long enough: starts over */
            return s;
        }
        if (!make)
            continue;
        if (s->hash != 0 && now < s->until_ms) {
            if (soonest == NULL || s->until_ms < soonest->until_ms)
                soonest = s;
            continue;
        }
        if (s->hash == 0 || oldest == NULL || (oldest->hash != 0 && s->last_ms < oldest->last_ms))
            oldest = s;
    }
    if (!make)
        return NULL;
    if (oldest == NULL)
        oldest = soonest; /* every neighbour waits: the wait that ends first gives way */
    memset(oldest, 0, sizeof(*oldest));
    oldest->hash = h;
    return oldest;
}

int hoso_throttle_attempt(int kind, const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
    const policy *p = &POLICIES[kind];
    int err = 0;
    pthread_mutex_lock(&T.lock);
    slot *s = find(key_hash(kind, key), kind, now_ms, 1);
    if (now_ms < s->until_ms) {
        *retry_after_ms = s->until_ms - now_ms;
        err = HOSO_ERATE_LIMITED;
    } else {
        s->count++;
        s->last_ms = now_ms;
        if (s->count > p->allowance) {
            unsigned over = s->count - p->allowance - 1;
            int64_t wait = over >= 20 ? p->max_ms : p->base_ms << over;
            s->until_ms = now_ms + (wait < p->max_ms ? wait : p->max_ms);
        }
    }
    pthread_mutex_unlock(&T.lock);
    return err;
}

void hoso_throttle_refund(int kind, const char *key)
{
    const policy *p = &POLICIES[kind];
    pthread_mutex_lock(&T.lock);
    slot *s = find(key_hash(kind, key), kind, 0, 0);
    if (s != NULL && s->count > 0) {
        s->count--;
        if (s->count <= p->allowance)
            s->until_ms = 0;
    }
    pthread_mutex_unlock(&T.lock);
}

int hoso_throttle_rate(int kind, const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
    const policy *p = &POLICIES[kind];
    int err = 0;
    pthread_mutex_lock(&T.lock);
    slot *s = find(key_hash(kind, key), kind, now_ms, 1);
    if (s->last_ms == 0) {
        s->count = p->allowance; /* a new key starts with a full bucket */
        s->last_ms = now_ms;
    }
    /* Tokens come back one per base_ms, up to the burst. */
    int64_t back = (now_ms - s->last_ms) / p->base_ms;
    if (back > 0) {
        s->count = s->count + back > p->allowance ? p->allowance : s->count + (uint32_t)back;
        s->last_ms += back * p->base_ms;
    }
    if (s->count == 0) {
        *retry_after_ms = s->last_ms + p->base_ms - now_ms;
        err = HOSO_ERATE_LIMITED;
    } else {
        s->count--;
    }
    pthread_mutex_unlock(&T.lock);
    return err;
}

void hoso_throttle_clear(int kind, const char *key)
{
    pthread_mutex_lock(&T.lock);
    slot *s = find(key_hash(kind, key), kind, 0, 0);
    if (s != NULL)
        memset(s, 0, sizeof(*s));
    pthread_mutex_unlock(&T.lock);
}

void hoso_throttle_addr_key(const char *addr, char *out, size_t n)
{
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];
    /* One IPv6 subscriber gets a /64 and may use any address in it. */
    if (strchr(addr, ':') != NULL && inet_pton(AF_INET6, addr, &a6) == 1) {
        memset(a6.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a6, text, sizeof(text)) != NULL) {
            snprintf(out, n, "%s/64", text);
            return;
        }
    }
    snprintf(out, n, "%s", addr);
}
