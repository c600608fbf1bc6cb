/*
 * The recorder's per-stop loop in C (loaded with ctypes by tracer/native.py).
 *
 * Why C: on a multi-threaded program the tracer is busy all the time, and
 * each ptrace stop cost about 4 us more in the Python loop than in strace
 * (three ctypes calls and a few dict operations per stop), which made
 * `record --mode full` 1.3x slower than `strace -f -c` there.  This file
 * takes only the stops that happen millions of times -- the syscall-entry
 * and syscall-exit stops (full mode) or the seccomp stops (fast mode) of
 * tasks the Python side registered -- and counts them into arrays.  Every
 * other stop (events, signals, exits, a task or syscall seen for the first
 * time, argument values not seen before) is handed back to Python, which
 * keeps all the policy: this file decides nothing the Python loop does not
 * decide the same way (recorder.py's _loop_full and _loop_fast, which stay
 * as the fallback and are tested against this one), except whether to poll
 * before sleeping (struct tb_adapt), which changes no count.
 *
 * Plain C, no Python API: the functions are called through ctypes (CDLL,
 * which releases the GIL, so the signal thread runs while this loop sleeps
 * in wait4).  Nothing here allocates per stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#define TB_GET_SYSCALL_INFO 0x420e
#define TB_SIZE_ENTRY 80
#define TB_SIZE_EXIT 33
#define TB_SIZE_SECCOMP 84
#define TB_WALL 0x40000000 /* __WALL */
/* wait statuses of a syscall-stop (PTRACE_O_TRACESYSGOOD) and a seccomp stop */
#define TB_SYSCALL_STOP ((((5 | 0x80) << 8) | 0x7f))
#define TB_SECCOMP_STOP ((((5 | (7 << 8)) << 8) | 0x7f))

/* what tb_run returns */
enum {
    TB_OTHER = 1,       /* out[0] pid, out[1] status: a stop or exit for Python */
    TB_UNKNOWN = 2,     /* out[0] pid: a hot stop of a task not registered here (resumed) */
    TB_NEW_COUNTER = 3, /* out[0] pid: an entry with no counter yet (resumed, not counted) */
    TB_NEW_ARGS = 4,    /* out[0] pid, out[2] counter: counted; argument values not seen */
    TB_WAIT_ERROR = 5,  /* out[2] errno of wait4 */
    TB_TICK = 6,        /* every TB_TICK_STOPS hot stops, so Python can look at its flags */
};
#define TB_TICK_STOPS 16384

/* struct ptrace_syscall_info (linux/ptrace.h, Linux 5.3+) */
struct tb_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t ip, sp;
    union {
        struct { uint64_t nr, args[6]; } entry;
        struct { int64_t rval; uint8_t is_error; } exit;
        struct { uint64_t nr, args[6]; uint32_t ret_data; } seccomp;
    };
};

struct tb_task {
    int tid;             /* 0: empty; -1: deleted */
    int epoch;
    int inflight;        /* counter of the call entered and not yet returned, or -1 */
    long sec, usec;      /* system time at the entry stop */
};

struct tb_counter_slot {
    uint64_t key;        /* arch << 32 | nr */
    int epoch;
    int cid;             /* -1: empty */
};

struct tb_seen {
    uint64_t key;
    uint64_t vals[6];
    uint8_t mask;
    uint8_t used;
};

/* Adaptive polling.  Polling before sleeping in wait4 saves waking a halted
 * CPU on an idle machine, and costs CPU time the tracees need when the CPUs
 * are busy.  Measured side by side with strace (5 interleaved repetitions of
 * scripts/bench_record.py's workloads), the single-threaded loop took x0.69
 * of strace's time polling 20 times and x0.95 sleeping at once on an idle
 * machine, but x1.28 polling and x0.93 sleeping with one busy process
 * beside it (polls are now bounded by time, spin_ns, not by count: see
 * NATIVE_SPIN_US in recorder.py).  So the loop measures instead of guessing:
 * it times windows of TB_WINDOW hot stops, and now and then runs a trial
 * (two windows polling, two not) and polls only while that is faster.
 * The windows are short so that a trial costs little when one way is much
 * slower: with one busy process beside it, find took x0.977 of strace's time
 * with trials of one 4096-stop window each way, x0.963 with these, and
 * x0.937 never polling (5 interleaved repetitions each).
 * Trials grow rarer (up to every TB_TRIAL_MAX windows) while the answer stays
 * the same, and frequent again when it changes.  A window's time includes
 * what Python does for the events within it, whichever way it waits.  How
 * the tracer waits changes nothing of what it counts. */
#define TB_WINDOW 1024
#define TB_START 4
#define TB_TRIAL_MIN 16
#define TB_TRIAL_MAX 256
#define TB_MARGIN 0.02
#define TB_KEEP 0.01
#define TB_SPIN_MIN_NS 4000u

struct tb_adapt {
    uint64_t spin_ns;    /* how long to poll before sleeping at most, when polling;
                          * 0: never poll, no trials */
    uint64_t budget_ns;  /* how long to poll next time (spin_missed) */
    int on;              /* polling now */
    int chosen;          /* the answer of the last trial */
    unsigned stops;      /* hot stops in this window */
    uint64_t start;      /* when this window started (ns, CLOCK_MONOTONIC) */
    int stage;           /* 0: between trials; 1-4: the window of a trial */
    int left;            /* windows until the next trial */
    int interval;        /* windows between trials */
    int first_on;        /* the trial's first and last windows poll */
    uint64_t ns[2];      /* the trial's time not polling, polling (ns) */
    int64_t trials, changes;
};

struct tb_state {
    struct tb_info *info;          /* Python's buffer: the last stop's syscall info */
    int64_t *out;                  /* Python's int64[3]: event details */
    int poll;                      /* wait4 flags for the polls before sleeping */
    struct tb_adapt adapt;
    struct rusage ru;

    struct tb_task *tasks;
    size_t ntasks_cap, ntasks_used;  /* used counts deleted slots too */

    struct tb_counter_slot *slots;
    size_t nslots_cap, nslots_used;

    int64_t *entered, *errors, *usec, *returned;
    uint8_t *mask;
    size_t ncounters_cap;

    struct tb_seen *seen;
    size_t nseen_cap, nseen_used;
};

static size_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* -- tasks ---------------------------------------------------------------- */

static struct tb_task *task_find(struct tb_state *s, int tid)
{
    size_t m = s->ntasks_cap - 1, i = mix((uint64_t)tid) & m;
    for (;;) {
        struct tb_task *t = &s->tasks[i];
        if (t->tid == tid)
            return t;
        if (t->tid == 0)
            return NULL;
        i = (i + 1) & m;
    }
}

static int tasks_grow(struct tb_state *s)
{
    size_t old_cap = s->ntasks_cap, cap = old_cap ? old_cap * 2 : 64;
    struct tb_task *old = s->tasks, *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    s->tasks = t;
    s->ntasks_cap = cap;
    s->ntasks_used = 0;
    for (size_t k = 0; k < old_cap; k++) {
        if (old[k].tid > 0) {
            size_t i = mix((uint64_t)old[k].tid) & (cap - 1);
            while (t[i].tid)
                i = (i + 1) & (cap - 1);
            t[i] = old[k];
            s->ntasks_used++;
        }
    }
    free(old);
    return 0;
}

/* Register (or re-register) a task: its process epoch, nothing in flight. */
int tb_task_set(struct tb_state *s, int tid, int epoch)
{
    struct tb_task *t = task_find(s, tid);
    if (!t) {
        if ((s->ntasks_used + 1) * 2 > s->ntasks_cap && tasks_grow(s))
            return -1;
        size_t m = s->ntasks_cap - 1, i = mix((uint64_t)tid) & m;
        while (s->tasks[i].tid > 0)
            i = (i + 1) & m;
        t = &s->tasks[i];
        if (t->tid == 0)
            s->ntasks_used++;
        t->tid = tid;
        t->inflight = -1;
        t->sec = t->usec = 0;
    }
    t->epoch = epoch;
    return 0;
}

void tb_task_del(struct tb_state *s, int tid)
{
    struct tb_task *t = task_find(s, tid);
    if (t)
        t->tid = -1;
}

/* The counter in flight for a task (-1: none or unknown task). */
int tb_task_inflight(struct tb_state *s, int tid)
{
    struct tb_task *t = task_find(s, tid);
    return t ? t->inflight : -1;
}

void tb_task_inflight_set(struct tb_state *s, int tid, int cid)
{
    struct tb_task *t = task_find(s, tid);
    if (t)
        t->inflight = cid;
}

/* A task takes over another's state (execve in a non-leader thread). */
int tb_task_move(struct tb_state *s, int from, int to)
{
    struct tb_task *f = task_find(s, from);
    if (!f)
        return -1;
    struct tb_task copy = *f;
    f->tid = -1;
    if (tb_task_set(s, to, copy.epoch))
        return -1;
    struct tb_task *t = task_find(s, to);
    t->inflight = copy.inflight;
    t->sec = copy.sec;
    t->usec = copy.usec;
    return 0;
}

/* -- counters ------------------------------------------------------------- */

static size_t slot_hash(uint64_t key, int epoch)
{
    return mix(key ^ ((uint64_t)(uint32_t)epoch << 20) * 0x9e3779b97f4a7c15ULL);
}

static int counter_find(struct tb_state *s, int epoch, uint64_t key)
{
    size_t m = s->nslots_cap - 1, i = slot_hash(key, epoch) & m;
    for (;;) {
        struct tb_counter_slot *c = &s->slots[i];
        if (c->cid < 0)
            return -1;
        if (c->key == key && c->epoch == epoch)
            return c->cid;
        i = (i + 1) & m;
    }
}

static int slots_grow(struct tb_state *s)
{
    size_t old_cap = s->nslots_cap, cap = old_cap * 2;
    struct tb_counter_slot *old = s->slots, *n = malloc(cap * sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < cap; i++)
        n[i].cid = -1;
    for (size_t k = 0; k < old_cap; k++) {
        if (old[k].cid >= 0) {
            size_t i = slot_hash(old[k].key, old[k].epoch) & (cap - 1);
            while (n[i].cid >= 0)
                i = (i + 1) & (cap - 1);
            n[i] = old[k];
        }
    }
    free(old);
    s->slots = n;
    s->nslots_cap = cap;
    return 0;
}

static int counters_grow(struct tb_state *s, size_t need)
{
    size_t cap = s->ncounters_cap;
    while (cap <= need)
        cap *= 2;
    if (cap == s->ncounters_cap)
        return 0;
    int64_t **arrays[] = {&s->entered, &s->errors, &s->usec, &s->returned};
    for (size_t a = 0; a < 4; a++) {
        int64_t *p = realloc(*arrays[a], cap * sizeof(int64_t));
        if (!p)
            return -1;
        memset(p + s->ncounters_cap, 0, (cap - s->ncounters_cap) * sizeof(int64_t));
        *arrays[a] = p;
    }
    uint8_t *m = realloc(s->mask, cap);
    if (!m)
        return -1;
    memset(m + s->ncounters_cap, 0, cap - s->ncounters_cap);
    s->mask = m;
    s->ncounters_cap = cap;
    return 0;
}

/* Counter ``cid`` (chosen by Python, dense from 0) counts ``key`` in ``epoch``. */
int tb_counter_add(struct tb_state *s, int epoch, uint64_t key, int cid, uint8_t mask)
{
    if (cid < 0 || counters_grow(s, (size_t)cid))
        return -1;
    if ((s->nslots_used + 1) * 2 > s->nslots_cap && slots_grow(s))
        return -1;
    size_t m = s->nslots_cap - 1, i = slot_hash(key, epoch) & m;
    while (s->slots[i].cid >= 0)
        i = (i + 1) & m;
    s->slots[i].key = key;
    s->slots[i].epoch = epoch;
    s->slots[i].cid = cid;
    s->nslots_used++;
    s->mask[cid] = mask;
    return 0;
}

/* Which argument positions of a counter's calls to look at (bit i: args[i]). */
void tb_counter_mask(struct tb_state *s, int cid, uint8_t mask)
{
    s->mask[cid] = mask;
}

/* A counter's [entered, errors, microseconds, returned]. */
void tb_counter_get(struct tb_state *s, int cid, int64_t *out)
{
    out[0] = s->entered[cid];
    out[1] = s->errors[cid];
    out[2] = s->usec[cid];
    out[3] = s->returned[cid];
}

/* Add to a counter (the first execve, counted by Python). */
void tb_counter_add_entered(struct tb_state *s, int cid, int64_t n)
{
    s->entered[cid] += n;
}

/* -- argument values seen -------------------------------------------------- */

/* 1 if (key, the masked arguments) is new (and remember it); 0 if seen. */
static int seen_check(struct tb_state *s, uint64_t key, uint8_t mask, const uint64_t *args)
{
    uint64_t vals[6];
    uint64_t h = key * 0x9e3779b97f4a7c15ULL ^ mask;
    for (int k = 0; k < 6; k++) {
        vals[k] = (mask >> k & 1) ? args[k] : 0;
        h = (h ^ vals[k]) * 0xff51afd7ed558ccdULL;
    }
    size_t m = s->nseen_cap - 1, i = mix(h) & m;
    for (;;) {
        struct tb_seen *e = &s->seen[i];
        if (!e->used)
            break;
        if (e->key == key && e->mask == mask && !memcmp(e->vals, vals, sizeof vals))
            return 0;
        i = (i + 1) & m;
    }
    /* Full (3/4): stop remembering; Python's own set still decides. */
    if ((s->nseen_used + 1) * 4 <= s->nseen_cap * 3) {
        struct tb_seen *e = &s->seen[i];
        e->used = 1;
        e->key = key;
        e->mask = mask;
        memcpy(e->vals, vals, sizeof vals);
        s->nseen_used++;
    }
    return 1;
}

/* -- adaptive polling (see struct tb_adapt) ---------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void adapt_init(struct tb_adapt *a, int spin_us)
{
    memset(a, 0, sizeof *a);
    a->spin_ns = a->budget_ns = spin_us > 0 ? (uint64_t)spin_us * 1000u : 0;
    a->on = a->chosen = spin_us > 0;
    a->left = TB_START; /* the program starting (events for Python) is no fair sample */
    a->interval = TB_TRIAL_MIN;
    a->start = now_ns();
}

/* A window ended after ``took`` ns: move the trial schedule on. */
static void adapt_window(struct tb_adapt *a, uint64_t took)
{
    if (a->stage == 0) {
        if (--a->left > 0)
            return;
        a->first_on = !a->first_on;
        a->ns[0] = a->ns[1] = 0;
    } else {
        a->ns[a->on] += took;
        if (a->stage == 4) {
            /* Polling burns CPU time, so it must pay: it is kept while it
             * makes the windows TB_KEEP faster, and taken up again only
             * when TB_MARGIN faster (the noise of short windows).  A program
             * that mostly blocks (sleeps, waits for input) takes as long
             * either way, and is then traced without polling. */
            double r = (double)a->ns[1] / (double)(a->ns[0] ? a->ns[0] : 1);
            int on = a->chosen ? r < 1.0 - TB_KEEP : r < 1.0 - TB_MARGIN;
            a->trials++;
            if (on == a->chosen) {
                if (a->interval < TB_TRIAL_MAX)
                    a->interval *= 2;
            } else {
                a->interval = TB_TRIAL_MIN;
                a->changes++;
            }
            a->chosen = a->on = on;
            a->stage = 0;
            a->left = a->interval;
            return;
        }
    }
    /* The trial's windows go one way, the other way twice, then the first
     * way again, so that a load that grows or shrinks steadily meanwhile
     * weighs on both alike. */
    a->stage++;
    a->on = a->stage == 1 || a->stage == 4 ? a->first_on : !a->first_on;
}

/* One hot stop taken: count it into the window. */
static inline void adapt_stop(struct tb_adapt *a)
{
    if (a->spin_ns && ++a->stops == TB_WINDOW) {
        uint64_t now = now_ns();
        adapt_window(a, now - a->start);
        a->start = now;
        a->stops = 0;
    }
}

/* For the tests: end a window that took ``took`` ns; out = [polling now,
 * trials, changes, windows until the next trial, stage]. */
void tb_adapt_feed(struct tb_state *s, int64_t took, int64_t *out)
{
    struct tb_adapt *a = &s->adapt;
    if (took >= 0 && a->spin_ns)
        adapt_window(a, (uint64_t)took);
    out[0] = a->on;
    out[1] = a->trials;
    out[2] = a->changes;
    out[3] = a->left;
    out[4] = a->stage;
}

/* -- life cycle -------------------------------------------------------------- */

void tb_free(struct tb_state *s);

struct tb_state *tb_new(struct tb_info *info, int64_t *out, int poll, int spin_us)
{
    struct tb_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->info = info;
    s->out = out;
    s->poll = poll;
    adapt_init(&s->adapt, poll == TB_WALL ? 0 : spin_us);
    s->nslots_cap = 256;
    s->slots = malloc(s->nslots_cap * sizeof *s->slots);
    s->ncounters_cap = 256;
    s->entered = calloc(s->ncounters_cap, sizeof(int64_t));
    s->errors = calloc(s->ncounters_cap, sizeof(int64_t));
    s->usec = calloc(s->ncounters_cap, sizeof(int64_t));
    s->returned = calloc(s->ncounters_cap, sizeof(int64_t));
    s->mask = calloc(s->ncounters_cap, 1);
    s->nseen_cap = 1 << 15;
    s->seen = calloc(s->nseen_cap, sizeof *s->seen);
    if (!s->slots || !s->entered || !s->errors || !s->usec || !s->returned || !s->mask
        || !s->seen || tasks_grow(s)) {
        tb_free(s);
        return NULL;
    }
    for (size_t i = 0; i < s->nslots_cap; i++)
        s->slots[i].cid = -1;
    return s;
}

void tb_free(struct tb_state *s)
{
    if (!s)
        return;
    free(s->tasks);
    free(s->slots);
    free(s->entered);
    free(s->errors);
    free(s->usec);
    free(s->returned);
    free(s->mask);
    free(s->seen);
    free(s);
}

/* -- the loop ---------------------------------------------------------------- */

/* Count an entry into counter ``cid`` for ``t``; 1 if its arguments are new. */
static int enter(struct tb_state *s, struct tb_task *t, int cid, uint64_t key,
                 const uint64_t *args, int timed)
{
    s->entered[cid]++;
    t->inflight = cid;
    if (timed) {
        t->sec = s->ru.ru_stime.tv_sec;
        t->usec = s->ru.ru_stime.tv_usec;
    }
    uint8_t mask = s->mask[cid];
    return mask && seen_check(s, key, mask, args);
}

/* The counter key of the stop in ``info`` (entry and seccomp alike). */
static uint64_t entry_key(const struct tb_info *info)
{
    return (uint64_t)info->arch << 32 | (info->entry.nr & 0xffffffffULL);
}

/* Count the entry Python made counter ``cid`` for after TB_NEW_COUNTER (the
 * same stop; entry and seccomp share the nr/args layout). */
void tb_entry(struct tb_state *s, int tid, int cid, int timed)
{
    struct tb_task *t = task_find(s, tid);
    if (t)
        enter(s, t, cid, entry_key(s->info), s->info->entry.args, timed);
}

/* The polls gave up after budget_ns, and the stop came ``waited`` ns after
 * they began.  Sooner than spin_ns: polling a little longer would have
 * caught it (the program's CPU was slow to wake, say), so poll twice that
 * long next time.  Later: a call that blocks (a sleep, a read from a pipe),
 * for which polling only burns CPU time, so poll half as long, down to
 * TB_SPIN_MIN_NS.  (A program that mostly blocks is traced without polling
 * once a trial has shown that polling does not pay: struct tb_adapt.) */
static void spin_missed(struct tb_adapt *a, uint64_t waited)
{
    if (waited < a->spin_ns)
        a->budget_ns = 2 * waited < a->spin_ns ? 2 * waited : a->spin_ns;
    else if (a->budget_ns / 2 > TB_SPIN_MIN_NS)
        a->budget_ns /= 2;
    else
        a->budget_ns = TB_SPIN_MIN_NS;
}

/* For the tests: what spin_missed makes of a wait; the budget (ns) then. */
int64_t tb_spin_missed(struct tb_state *s, int64_t waited)
{
    spin_missed(&s->adapt, (uint64_t)waited);
    return (int64_t)s->adapt.budget_ns;
}

static pid_t next_stop(struct tb_state *s, int *status, struct rusage *ru)
{
    /* Poll before sleeping, when it pays (struct tb_adapt), for up to
     * budget_ns: at first spin_ns, long enough for a tracee whose CPU must
     * first be woken (a round trip of 15-20 us on this project's VMs when
     * they are idle), then as spin_missed learns. */
    struct tb_adapt *a = &s->adapt;
    if (a->on) {
        uint64_t start = now_ns();
        for (;;) {
            pid_t p = wait4(-1, status, s->poll, ru);
            if (p > 0)
                return p;
            if (p < 0)
                return wait4(-1, status, TB_WALL, ru);
            if (now_ns() - start >= a->budget_ns)
                break;
        }
        pid_t p = wait4(-1, status, TB_WALL, ru);
        if (p > 0)
            spin_missed(a, now_ns() - start);
        return p;
    }
    return wait4(-1, status, TB_WALL, ru);
}

/* Wait for the next stop.  A hot one (wait status ``want``) is asked for its
 * syscall info and resumed with ``resume`` at once, and 0 is returned with
 * the info's size and the task; any other, the event for Python. */
static inline int take_stop(struct tb_state *s, struct rusage *ru, int want, int resume,
                            long *size, struct tb_task **task)
{
    int status;
    pid_t p = next_stop(s, &status, ru);
    if (p <= 0) {
        s->out[2] = errno;
        return TB_WAIT_ERROR;
    }
    s->out[0] = p;
    s->out[1] = status;
    if (status != want)
        return TB_OTHER;
    *size = ptrace(TB_GET_SYSCALL_INFO, p, (void *)sizeof *s->info, s->info);
    ptrace(resume, p, 0, 0);
    *task = task_find(s, p);
    adapt_stop(&s->adapt);
    return 0;
}

/* Count the entry of the stop just taken (a syscall-entry or a seccomp stop:
 * both unions start with nr and args[6]); 0, or the event for Python. */
static inline int count_entry(struct tb_state *s, struct tb_task *t, int timed)
{
    uint64_t key = entry_key(s->info);
    int cid = counter_find(s, t->epoch, key);
    if (cid < 0)
        return TB_NEW_COUNTER;
    if (enter(s, t, cid, key, s->info->entry.args, timed)) {
        s->out[2] = cid;
        return TB_NEW_ARGS;
    }
    return 0;
}

/* Trace until something needs Python: full mode (entry and exit stops). */
int tb_run_full(struct tb_state *s)
{
    struct tb_info *info = s->info;
    for (unsigned n = 0; n < TB_TICK_STOPS; n++) {
        long size;
        struct tb_task *t;
        int event = take_stop(s, &s->ru, TB_SYSCALL_STOP, PTRACE_SYSCALL, &size, &t);
        if (event)
            return event;
        if (!t)
            return TB_UNKNOWN;
        if (size == TB_SIZE_ENTRY) {
            if ((event = count_entry(s, t, 1)))
                return event;
        } else if (size == TB_SIZE_EXIT) {
            int cid = t->inflight;
            if (cid >= 0) {
                t->inflight = -1;
                s->returned[cid]++;
                if (info->exit.is_error)
                    s->errors[cid]++;
                s->usec[cid] += (s->ru.ru_stime.tv_sec - t->sec) * 1000000
                                + s->ru.ru_stime.tv_usec - t->usec;
            }
        }
    }
    return TB_TICK;
}

/* Trace until something needs Python: fast mode (seccomp stops only). */
int tb_run_fast(struct tb_state *s)
{
    for (unsigned n = 0; n < TB_TICK_STOPS; n++) {
        long size;
        struct tb_task *t;
        int event = take_stop(s, NULL, TB_SECCOMP_STOP, PTRACE_CONT, &size, &t);
        if (event)
            return event;
        if (size != TB_SIZE_SECCOMP)
            continue; /* gone before we could ask */
        if (!t)
            return TB_UNKNOWN;
        if ((event = count_entry(s, t, 0)))
            return event;
    }
    return TB_TICK;
}
