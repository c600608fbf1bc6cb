/* The strace log line scanner of the import fast path, in C.
 *
 * It reads a chunk of whole lines exactly as the fast regex of
 * strace_fastpath.py does (pattern(leader): the same leaders, the same line
 * shapes, the same fields) and counts, per run of fast lines between two
 * slow ones, the calls of each (pid, syscall) the way _fold does.  A slow
 * line is handed back by its position; Python reads it exactly, as it does
 * for the regex's slow lines.  Where the C reading cannot hold a value (a pid
 * of more than 18 digits, a -T duration of more than 9 digits of seconds) the
 * line is slow: the exact reader then reads it, with the same result.
 *
 * Plain C, no Python API: loaded with ctypes (linescan.py).  Built at install
 * time as an optional extension (setup.py); without it the regex is used.
 *
 * Lines, as strace 6.1 prints them (after the leader, e.g. "8193  " or
 * "[pid  8193] " or "13:53:26.884089 "):
 *
 *     close(-1)                         = -1 EBADF (Bad file descriptor)
 *     <... wait4 resumed>NULL, 0, NULL) = 8194 <0.000012>
 *     futex(0x7f98f7738990, FUTEX_WAIT_BITSET ... <unfinished ...>
 *     --- SIGCHLD {si_signo=SIGCHLD, ...} ---
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What a line is (scan_line's result). */
enum { SLOW = 0, COMPLETE = 1, RESUMED = 2, UNFINISHED = 3, SIGNAL = 4, SLOW_RANGE = 5 };

/* The leaders, in the order of strace_fastpath.LEADERS. */
enum { L_PID, L_PID_TIME, L_NONE, L_NONE_TIME, L_BRACKET, L_BRACKET_TIME, L_GENERAL };

/* Items of tb_scan's output, 12 int64 each. */
enum { ITEM_ENTRY = 0, ITEM_SLOW = 1 };
#define ITEM 12

struct fields {
    int64_t pid;          /* -1: no pid on the line */
    const char *name;
    int64_t name_len;
    int64_t err;          /* the result is "-N Exxx (...)" */
    int64_t ns;           /* the -T duration, -1 when absent */
};

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static inline int is_name0(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static inline int is_name(char c) { return is_name0(c) || is_digit(c); }
static inline int is_errno(char c) { return (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_'; }

/* "\d++" at p: the end of the digits (p itself when none). */
static inline const char *digits(const char *p, const char *e) {
    while (p < e && is_digit(*p))
        p++;
    return p;
}

/* The value of the digits [p, q), or -1 when there are more than 18. */
static int64_t number(const char *p, const char *q) {
    if (q - p > 18)
        return -1;
    int64_t v = 0;
    for (; p < q; p++)
        v = v * 10 + (*p - '0');
    return v;
}

/* "\d++[:.][\d:.]*+ " at p (a -t/-tt/-ttt/-r timestamp): its end, or NULL. */
static const char *time_at(const char *p, const char *e) {
    const char *q = digits(p, e);
    if (q == p || q >= e || (*q != ':' && *q != '.'))
        return NULL;
    for (q++; q < e && (is_digit(*q) || *q == ':' || *q == '.'); q++)
        ;
    return q < e && *q == ' ' ? q + 1 : NULL;
}

/* "(\d++) +" at p: its end and the pid, or NULL (pid -2: too many digits). */
static const char *pid_at(const char *p, const char *e, int64_t *pid) {
    const char *q = digits(p, e);
    if (q == p || q >= e || *q != ' ')
        return NULL;
    *pid = number(p, q);
    if (*pid < 0)
        *pid = -2;
    while (q < e && *q == ' ')
        q++;
    return q;
}

/* "\[pid +(\d++)\] " at p: its end and the pid, or NULL. */
static const char *bracket_at(const char *p, const char *e, int64_t *pid) {
    if (e - p < 5 || memcmp(p, "[pid ", 5) != 0)
        return NULL;
    const char *q = p + 4;
    while (q < e && *q == ' ')
        q++;
    const char *d = digits(q, e);
    if (d == q || e - d < 2 || d[0] != ']' || d[1] != ' ')
        return NULL;
    *pid = number(q, d);
    if (*pid < 0)
        *pid = -2;
    return d + 2;
}

/* The leader at the start of the line: where the body starts, or NULL. */
static const char *leader_at(const char *p, const char *e, int leader, int64_t *pid) {
    const char *q;
    *pid = -1;
    switch (leader) {
    case L_PID:
        return pid_at(p, e, pid);
    case L_PID_TIME:
        q = pid_at(p, e, pid);
        return q ? time_at(q, e) : NULL;
    case L_NONE:
        return p;
    case L_NONE_TIME:
        /* " ++\d++\.\d++ " (-r pads with spaces) or a timestamp. */
        if (p < e && *p == ' ') {
            q = p;
            while (q < e && *q == ' ')
                q++;
            const char *d = digits(q, e);
            if (d == q || d >= e || *d != '.')
                return NULL;
            const char *f = digits(d + 1, e);
            if (f == d + 1 || f >= e || *f != ' ')
                return NULL;
            return f + 1;
        }
        return time_at(p, e);
    case L_BRACKET:
        q = bracket_at(p, e, pid);
        return q ? q : p;
    case L_BRACKET_TIME:
        q = bracket_at(p, e, pid);
        return time_at(q ? q : p, e);
    case L_GENERAL:
        /* Both parts are optional, and at most one reading fits: a body never
           starts with a digit, and a pid is followed by a space where a
           timestamp has ':' or '.'. */
        q = pid_at(p, e, pid);
        if (!q)
            q = bracket_at(p, e, pid);
        if (!q)
            q = p;
        {
            const char *t = time_at(q, e);
            return t ? t : q;
        }
    }
    return NULL;
}

/* "[A-Za-z_][A-Za-z0-9_]*+" at p: its end, or NULL. */
static const char *name_at(const char *p, const char *e) {
    if (p >= e || !is_name0(*p))
        return NULL;
    for (p++; p < e && is_name(*p); p++)
        ;
    return p;
}

/* "(?!execve|clone|v?fork)": execve, clone, fork... change a process's image
   or make one: their lines are read exactly. */
static int plain(const char *p, const char *e) {
    size_t n = (size_t)(e - p);
    return !((n >= 6 && memcmp(p, "execve", 6) == 0) || (n >= 5 && memcmp(p, "clone", 5) == 0)
             || (n >= 4 && memcmp(p, "fork", 4) == 0) || (n >= 5 && memcmp(p, "vfork", 5) == 0));
}

/* " \([^()\n]*+\)" at p: its end, or NULL. */
static const char *paren_at(const char *p, const char *e) {
    if (e - p < 3 || p[0] != ' ' || p[1] != '(')
        return NULL;
    for (p += 2; p < e && *p != '(' && *p != ')'; p++)
        ;
    return p < e && *p == ')' ? p + 1 : NULL;
}

/* The result from p (after "= ") to the end of the line e:
     (?:-\d++ (E)[A-Z0-9_]++ \([^()\n]*+\)|(?:0x[0-9a-f]++|\d++)(?:<[^<>()\n]*+>)?)
     (?: \([^()\n]*+\))*+(?: <(\d++\.\d++)>)?
   1 when it is one (err and ns set), 0 when not, -1 when the duration is too
   long for this reading. */
static int result_at(const char *p, const char *e, struct fields *f) {
    const char *q;
    f->err = 0;
    f->ns = -1;
    if (p < e && *p == '-') {
        q = digits(p + 1, e);
        if (q == p + 1 || e - q < 3 || q[0] != ' ' || q[1] != 'E' || !is_errno(q[2]))
            return 0;
        for (q += 3; q < e && is_errno(*q); q++)
            ;
        q = paren_at(q, e);
        if (!q)
            return 0;
        f->err = 1;
    } else {
        if (e - p >= 3 && p[0] == '0' && p[1] == 'x' && is_hex(p[2])) {
            for (q = p + 3; q < e && is_hex(*q); q++)
                ;
        } else {
            q = digits(p, e);
            if (q == p)
                return 0;
        }
        if (q < e && *q == '<') {  /* -y: "3</etc/passwd>" */
            const char *r = q + 1;
            while (r < e && *r != '<' && *r != '>' && *r != '(' && *r != ')')
                r++;
            if (r >= e || *r != '>')
                return 0;
            q = r + 1;
        }
    }
    for (const char *r; (r = paren_at(q, e)) != NULL;)
        q = r;
    if (q == e)
        return 1;
    /* " <0.000012>" */
    if (e - q < 5 || q[0] != ' ' || q[1] != '<')
        return 0;
    const char *s = q + 2, *dot = digits(s, e);
    if (dot == s || dot >= e || *dot != '.')
        return 0;
    const char *end = digits(dot + 1, e);
    if (end == dot + 1 || end >= e || *end != '>' || end + 1 != e)
        return 0;
    if (dot - s > 9)
        return -1;
    int64_t ns = number(s, dot) * 1000000000;
    int64_t frac = 0, scale = 100000000;
    for (const char *d = dot + 1; d < end && scale > 0; d++, scale /= 10)
        frac += (*d - '0') * scale;
    f->ns = ns + frac;
    return 1;
}

/* The tail of a complete or resumed call, from start (where the ")" may be)
   to the end of the line: "[^\n]*\) += " then the result.  The ")" is the
   rightmost one followed by spaces and "= ": a result holds no ") =", so if
   the result does not fit there it fits after no other. */
static int tail_at(const char *start, const char *e, struct fields *f) {
    if (e - start < 5)  /* ") = 0" at the least */
        return 0;
    for (const char *q = e - 2; q >= start + 2; q--) {
        if (q[0] != '=' || q[1] != ' ' || q[-1] != ' ')
            continue;
        const char *r = q - 1;
        while (r > start && *r == ' ')
            r--;
        if (*r == ')')
            return result_at(q + 2, e, f);
        /* "= " inside an error text, "(flags = 0)": look further left. */
    }
    return 0;
}

static const char UNFINISHED_TEXT[] = " <unfinished ...>";
#define UNFINISHED_LEN (sizeof UNFINISHED_TEXT - 1)

/* What the line [s, e) (without its "\n") is, with its fields. */
static int scan_line(const char *s, const char *e, int leader, struct fields *f) {
    const char *p = leader_at(s, e, leader, &f->pid);
    const char *n, *q;
    int r;
    if (!p)
        return SLOW;
    if (e - p >= 4 && memcmp(p, "--- ", 4) == 0)
        return e - p >= 8 && memcmp(e - 4, " ---", 4) == 0 ? SIGNAL : SLOW;
    if (e - p >= 5 && memcmp(p, "<... ", 5) == 0) {
        n = name_at(p + 5, e);
        if (!n || !plain(p + 5, e) || e - n < 9 || memcmp(n, " resumed>", 9) != 0)
            return SLOW;
        f->name = p + 5;
        f->name_len = n - (p + 5);
        r = tail_at(n + 9, e, f);  /* the ")" may follow "resumed>" at once */
        return r > 0 ? (f->pid == -2 ? SLOW_RANGE : RESUMED) : r < 0 ? SLOW_RANGE : SLOW;
    }
    n = name_at(p, e);
    if (!n || n >= e || *n != '(' || !plain(p, e))
        return SLOW;
    f->name = p;
    f->name_len = n - p;
    q = n + 1;
    if ((size_t)(e - q) >= UNFINISHED_LEN
            && memcmp(e - UNFINISHED_LEN, UNFINISHED_TEXT, UNFINISHED_LEN) == 0)
        return f->pid == -2 ? SLOW_RANGE : UNFINISHED;
    r = tail_at(q, e, f);
    return r > 0 ? (f->pid == -2 ? SLOW_RANGE : COMPLETE) : r < 0 ? SLOW_RANGE : SLOW;
}

/* The counts of one gap between slow lines, per (pid, name): an open
   addressing table, cleared slot by slot when the gap ends. */
#define SLOTS 4096
#define MAX_KEYS (SLOTS / 2)

struct slot {
    int64_t pid;
    const char *name;
    int64_t name_len;
    int64_t counts[8];
    int used;
};

struct table {
    struct slot slots[SLOTS];
    int order[MAX_KEYS];  /* used slots, in first-seen order */
    int nkeys;
};

struct out {
    int64_t *items;
    long n, cap;
};

static int grow(struct out *o) {
    if (o->n < o->cap)
        return 1;
    long cap = o->cap ? o->cap * 2 : 1024;
    int64_t *items = realloc(o->items, (size_t)cap * ITEM * sizeof(int64_t));
    if (!items)
        return 0;
    o->items = items;
    o->cap = cap;
    return 1;
}

/* Emit the gap's counts as entries and clear the table. */
static int flush(struct table *t, struct out *o, const char *base) {
    for (int k = 0; k < t->nkeys; k++) {
        struct slot *s = &t->slots[t->order[k]];
        if (!grow(o))
            return 0;
        int64_t *it = o->items + o->n++ * ITEM;
        it[0] = ITEM_ENTRY;
        it[1] = s->pid;
        it[2] = s->name - base;
        it[3] = s->name_len;
        memcpy(it + 4, s->counts, sizeof s->counts);
        s->used = 0;
    }
    t->nkeys = 0;
    return 1;
}

static struct slot *lookup(struct table *t, const struct fields *f) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)f->pid;
    for (int64_t i = 0; i < f->name_len; i++)
        h = (h ^ (unsigned char)f->name[i]) * 1099511628211ULL;
    for (uint64_t i = h & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        struct slot *s = &t->slots[i];
        if (!s->used) {
            s->used = 1;
            s->pid = f->pid;
            s->name = f->name;
            s->name_len = f->name_len;
            memset(s->counts, 0, sizeof s->counts);
            t->order[t->nkeys++] = (int)i;
            return s;
        }
        if (s->pid == f->pid && s->name_len == f->name_len
                && memcmp(s->name, f->name, (size_t)f->name_len) == 0)
            return s;
    }
}

/* Scan the whole lines of buf[0, len) (the last one may lack its "\n").
   *items gets (malloc'd, freed with tb_scan_free) *nitems items of ITEM
   int64: entries [ITEM_ENTRY, pid or -1, name offset, name length, the 8
   counts of _fold] of the lines since the last slow line, and slow lines
   [ITEM_SLOW, line index, start offset, end offset].  Returns the number of
   lines, or -1 when out of memory. */
long tb_scan(const char *buf, long len, int leader, int64_t **items, long *nitems) {
    struct table *t = calloc(1, sizeof *t);
    struct out o = {NULL, 0, 0};
    long line = 0;
    const char *p = buf, *end = buf + len;
    struct fields f;
    if (!t)
        return -1;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        int kind = scan_line(p, e, leader, &f);
        if (kind == SLOW || kind == SLOW_RANGE) {
            if (!flush(t, &o, buf) || !grow(&o))
                goto oom;
            int64_t *it = o.items + o.n++ * ITEM;
            memset(it, 0, ITEM * sizeof(int64_t));
            it[0] = ITEM_SLOW;
            it[1] = line;
            it[2] = p - buf;
            it[3] = e - buf;
        } else if (kind != SIGNAL) {
            if (t->nkeys == MAX_KEYS && !flush(t, &o, buf))
                goto oom;
            struct slot *s = lookup(t, &f);
            if (f.ns > INT64_MAX - s->counts[2]) {
                /* Durations summing past 2^63 ns (only made-up ones can):
                   Python adds the two entries without limit. */
                if (!flush(t, &o, buf))
                    goto oom;
                s = lookup(t, &f);
            }
            if (kind == UNFINISHED) {
                s->counts[6]++;
            } else {
                if (kind == RESUMED)
                    s->counts[7]++;
                s->counts[0]++;
                s->counts[1] += f.err;
                if (f.ns >= 0) {
                    s->counts[2] += f.ns;
                    s->counts[3]++;
                } else {
                    s->counts[4]++;
                }
            }
        }
        line++;
        p = e + 1;
    }
    if (!flush(t, &o, buf))
        goto oom;
    free(t);
    *items = o.items;
    *nitems = o.n;
    return line;
oom:
    free(t);
    free(o.items);
    return -1;
}

void tb_scan_free(int64_t *items) { free(items); }

/* One line (without its "\n"), for the tests: its kind (SLOW, COMPLETE...)
   and out = [pid or -1, name offset, name length, error, ns or -1]. */
int tb_scan_one(const char *buf, long len, int leader, int64_t *out) {
    struct fields f = {-1, buf, 0, 0, -1};
    int kind = scan_line(buf, buf + len, leader, &f);
    out[0] = f.pid;
    out[1] = f.name - buf;
    out[2] = f.name_len;
    out[3] = f.err;
    out[4] = f.ns;
    return kind;
}
