/*
 * log.c - hosod's log: one line per request, warnings and errors, each with a UTC
 * timestamp, as text or JSON, on stderr.
 *
 * Every line is built whole and written with one write(2), so lines from different
 * threads never interleave. Request lines are the exception that keeps the read path
 * fast: a worker gathers them in a buffer of its own and writes them once per turn of
 * its loop (hoso_log_thread_flush), so a busy worker makes one write for many
 * requests, never one each. What libraries (h2o, libuv, libwebsockets) and older code
 * print with stdio on stderr comes through a stdio cookie that turns it into log lines
 * and limits how often the same line may repeat: a client that makes h2o complain
 * about every frame it sends cannot grow the log without bound. Sanitizer reports are
 * written to fd 2 directly and are never held back.
 */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "runtime.h"

#define LINE_MAX_BYTES 2048
/* A line that repeats (digits aside) is written this many times per window, then
 * counted; the count is written with the first line of that shape after the window
 * (or of another shape that takes its slot), and when hosod stops. Lines that tell
 * of a crash (a failed assertion, h2o's "fatal:") are never held back. */
#define REPEAT_WINDOW_MS 60000
#define REPEAT_MAX 5
#define REPEAT_SLOTS 64
/* And no more than this many stderr lines per second in all. */
#define STDERR_PER_SECOND 50

static const char *const LEVELS[] = {"debug", "info", "warn", "error"};

static struct {
    hoso_log_level min;
    hoso_log_format format;
    int fd;
} L = {HOSO_LOG_INFO, HOSO_LOG_TEXT, 2};

int hoso_log_level_parse(const char *s, hoso_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, LEVELS[i]) == 0) {
            *out = (hoso_log_level)i;
            return 0;
        }
    return -1;
}

int hoso_log_enabled(hoso_log_level level)
{
    return level >= L.min;
}

/* ---------------------------------------------------------------------------------- */
/* Lines */

typedef struct line {
    char b[LINE_MAX_BYTES];
    size_t n;
} line;

/* Text stops this far from the end of a line: what is left is for the closing quote,
 * brace and newline, so a line cut short is still one line of valid JSON. */
#define LINE_ROOM (LINE_MAX_BYTES - 8)

static void put(line *l, const char *s, size_t n)
{
    if (l->n >= LINE_ROOM)
        return;
    if (n > LINE_ROOM - l->n)
        n = LINE_ROOM - l->n;
    memcpy(l->b + l->n, s, n);
    l->n += n;
}

/* Closing bytes, in the room kept for them. */
static void put_close(line *l, const char *s)
{
    size_t n = strlen(s);
    if (l->n + n < sizeof l->b) {
        memcpy(l->b + l->n, s, n);
        l->n += n;
    }
}

static void putf(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(line *l, const char *fmt, ...)
{
    va_list ap;
    if (l->n >= LINE_ROOM)
        return;
    size_t room = LINE_ROOM - l->n;
    va_start(ap, fmt);
    /* Writes at most room bytes and its NUL, which the kept room can hold. */
    int n = vsnprintf(l->b + l->n, room + 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->n += (size_t)n < room ? (size_t)n : room;
}

/* The length of the UTF-8 sequence at s (n bytes left): 1-4, 0 when it is cut off by
 * the end, -1 when it is not UTF-8. */
static int utf8_len(const unsigned char *s, size_t n)
{
    int k = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : -1;
    if (k < 0)
        return -1;
    for (int j = 1; j < k; j++) {
        if ((size_t)j >= n)
            return 0;
        if ((s[j] & 0xc0) != 0x80)
            return -1;
    }
    return k;
}

/* s as a JSON string body, or as text with control characters escaped. A character
 * is written whole or not at all, and bytes that are not UTF-8 are escaped, so a
 * line cut short is still valid UTF-8. */
static void put_escaped(line *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n && l->n + 6 <= LINE_ROOM; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            int k = utf8_len((const unsigned char *)s + i, n - i);
            if (k == 0)
                break;
            if (k < 0) {
                putf(l, "\\u%04x", c);
                continue;
            }
            put(l, s + i, (size_t)k);
            i += (size_t)k - 1;
        } else if (c == '"' && L.format == HOSO_LOG_JSON)
            put(l, "\\\"", 2);
        else if (c == '\\')
            put(l, "\\\\", 2);
        else if (c == '\n')
            put(l, "\\n", 2);
        else if (c < 0x20 || c == 0x7f)
            putf(l, "\\u%04x", c);
        else
            put(l, (const char *)&c, 1);
    }
}

/* This thread's last second, as text: a busy worker formats the date once a second,
 * not once a line. */
static __thread struct {
    time_t sec;
    char text[32];
} WHEN;

static void begin(line *l, hoso_log_level level, const char *msg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != WHEN.sec || WHEN.text[0] == '\0') {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(WHEN.text, sizeof WHEN.text, "%Y-%m-%dT%H:%M:%S", &tm);
        WHEN.sec = ts.tv_sec;
    }
    const char *when = WHEN.text;
    l->n = 0;
    if (L.format == HOSO_LOG_JSON)
        putf(l, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when, ts.tv_nsec / 1000000L, LEVELS[level]);
    else
        putf(l, "%s.%03ldZ %s ", when, ts.tv_nsec / 1000000L, LEVELS[level]);
    put_escaped(l, msg, strlen(msg));
    if (L.format == HOSO_LOG_JSON)
        put_close(l, "\"");
}

/* A field whose name no longer fits is left out whole, never cut. */
static int field_fits(const line *l, const char *key)
{
    return l->n + strlen(key) + 8 <= LINE_ROOM;
}

static void field_str(line *l, const char *key, const char *v)
{
    if (!field_fits(l, key))
        return;
    if (L.format == HOSO_LOG_JSON) {
        putf(l, ",\"%s\":\"", key);
        put_escaped(l, v, strlen(v));
        put_close(l, "\"");
    } else {
        putf(l, " %s=", key);
        put_escaped(l, v, strlen(v));
    }
}

/* v, or v / 1000 with three decimals when thousandths (microseconds as ms). */
static void field_num(line *l, const char *key, unsigned long long v, int thousandths)
{
    if (!field_fits(l, key) || l->n + strlen(key) + 32 > LINE_ROOM)
        return;
    putf(l, L.format == HOSO_LOG_JSON ? ",\"%s\":" : " %s=", key);
    if (thousandths)
        putf(l, "%llu.%03llu", v / 1000, v % 1000);
    else
        putf(l, "%llu", v);
}

static void write_all(const char *p, size_t left)
{
    while (left > 0) {
        ssize_t w = write(L.fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to complain */
        p += w;
        left -= (size_t)w;
    }
}

/* This thread's request lines not yet written. */
static __thread struct {
    char b[16384];
    size_t n;
} TB;

void hoso_log_thread_flush(void)
{
    if (TB.n > 0)
        write_all(TB.b, TB.n);
    TB.n = 0;
}

static void end(line *l)
{
    if (L.format == HOSO_LOG_JSON)
        put_close(l, "}");
    put_close(l, "\n");
}

/* Writes the line now, after this thread's buffered lines so the order holds. */
static void finish(line *l)
{
    end(l);
    hoso_log_thread_flush();
    write_all(l->b, l->n);
}

void hoso_log(hoso_log_level level, const char *fmt, ...)
{
    char msg[LINE_MAX_BYTES / 2];
    line l;
    va_list ap;
    if (level < L.min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    begin(&l, level, msg);
    finish(&l);
}

void hoso_log_request(const hoso_log_req *r)
{
    line l;
    if (HOSO_LOG_INFO < L.min)
        return;
    begin(&l, HOSO_LOG_INFO, "request");
    field_str(&l, "id", r->id);
    field_str(&l, "method", r->method);
    field_str(&l, "route", r->route);
    field_num(&l, "status", (unsigned long long)r->status, 0);
    field_num(&l, "ms", (unsigned long long)r->usec, 1);
    field_num(&l, "bytes", (unsigned long long)r->bytes, 0);
    end(&l);
    if (TB.n + l.n > sizeof(TB.b))
        hoso_log_thread_flush();
    memcpy(TB.b + TB.n, l.b, l.n);
    TB.n += l.n;
}

/* ---------------------------------------------------------------------------------- */
/* stderr through the log */

typedef struct repeat {
    uint64_t hash;
    unsigned seen, dropped;
    int64_t since_ms;
} repeat;

static struct {
    pthread_mutex_t lock;
    char partial[LINE_MAX_BYTES];
    size_t npartial;
    repeat slots[REPEAT_SLOTS];
    int64_t second;
    unsigned in_second, dropped_second;
} E = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a of the line with its digits left out: "frame 17" and "frame 18" repeat. */
static uint64_t shape(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Called with E.lock held. */
static void stderr_line(const char *s, size_t n)
{
    int64_t now = now_ms();
    char text[LINE_MAX_BYTES];
    line l;

    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n == 0)
        return;
    if (now / 1000 != E.second) {
        if (E.dropped_second > 0)
            hoso_log(HOSO_LOG_WARN, "%u stderr lines dropped: more than %d a second", E.dropped_second,
                     STDERR_PER_SECOND);
        E.second = now / 1000;
        E.in_second = E.dropped_second = 0;
    }
    uint64_t h = shape(s, n);
    repeat *r = &E.slots[h % REPEAT_SLOTS];
    if (r->hash != h || now - r->since_ms >= REPEAT_WINDOW_MS) {
        if (r->dropped > 0)
            hoso_log(HOSO_LOG_WARN, "a stderr line repeated %u more times (not shown)", r->dropped);
        r->hash = h;
        r->seen = r->dropped = 0;
        r->since_ms = now;
    }
    /* A failed assert(3), or h2o_fatal's "fatal:file:line:": no client can cause
     * many of them, and they are the line that explains a crash. */
    int crash = (memmem(s, n, ": Assertion `", 13) != NULL && n >= 9 && memcmp(s + n - 9, "' failed.", 9) == 0) ||
                (n >= 6 && memcmp(s, "fatal:", 6) == 0);
    if (!crash && (++r->seen > REPEAT_MAX || ++E.in_second > STDERR_PER_SECOND)) {
        if (r->seen > REPEAT_MAX)
            r->dropped++;
        else
            E.dropped_second++;
        return;
    }
    snprintf(text, sizeof text, "%.*s", (int)n, s);
    begin(&l, HOSO_LOG_WARN, text);
    field_str(&l, "source", "stderr");
    finish(&l);
}

static ssize_t cookie_write(void *c, const char *buf, size_t size)
{
    pthread_mutex_lock(&E.lock);
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n' || E.npartial == sizeof E.partial - 1) {
            stderr_line(E.partial, E.npartial);
            E.npartial = 0;
            if (buf[i] == '\n')
                continue;
        }
        E.partial[E.npartial++] = buf[i];
    }
    pthread_mutex_unlock(&E.lock);
    return (ssize_t)size;
}

void hoso_log_flush(void)
{
    fflush(stderr); /* what stdio holds of a line reaches cookie_write; before the lock it takes */
    pthread_mutex_lock(&E.lock);
    if (E.npartial > 0) { /* a last line without its newline */
        stderr_line(E.partial, E.npartial);
        E.npartial = 0;
    }
    for (size_t i = 0; i < REPEAT_SLOTS; i++) {
        repeat *r = &E.slots[i];
        if (r->dropped > 0)
            hoso_log(HOSO_LOG_WARN, "a stderr line repeated %u more times (not shown)", r->dropped);
        r->dropped = 0;
    }
    if (E.dropped_second > 0)
        hoso_log(HOSO_LOG_WARN, "%u stderr lines dropped: more than %d a second", E.dropped_second,
                 STDERR_PER_SECOND);
    E.dropped_second = 0;
    pthread_mutex_unlock(&E.lock);
}

int hoso_log_setup(hoso_log_level min, hoso_log_format format)
{
    L.min = min;
    L.format = format;
    /* Everything that prints through stdio's stderr now goes through stderr_line; the
     * descriptor itself stays as it was for what writes to it directly. */
    cookie_io_functions_t io = {.write = cookie_write};
    FILE *f = fopencookie(NULL, "w", io);
    if (f == NULL)
        return HOSO_ENOMEM;
    setvbuf(f, NULL, _IOLBF, 0);
    fflush(stderr);
    stderr = f;
    return 0;
}
