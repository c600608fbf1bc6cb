/* errnos.c for i386, without libc: makes each call of NRS with `int $0x80`
 * and arguments (-1, 0, 0, 0, 0) and prints "NR RESULT ERRNO" lines.
 * Build: gcc -m32 -static -nostdlib -O1 (tests/test_runc.py).
 * Harmless when they run: getpid, getppid, gettid, mount (EFAULT), clone3
 * of size 0 (EINVAL), futex_waitv (EINVAL), futex_requeue (EFAULT); the
 * others do not exist. */
static const long NRS[] = {20, 64, 224, 21, 435, 449, 456, 457, 460, 500, 1000};

static long call(long nr, long a) {
    long ret;
    __asm__ volatile ("int $0x80" : "=a"(ret)
                      : "a"(nr), "b"(a), "c"(0L), "d"(0L), "S"(0L), "D"(0L) : "memory");
    return ret;
}

static char *put(char *p, long v) {
    char digits[24];
    int n = 0;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    if (v < 0)
        *p++ = '-';
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        *p++ = digits[--n];
    return p;
}

void _start(void) {
    char line[80];
    for (unsigned i = 0; i < sizeof NRS / sizeof NRS[0]; i++) {
        long r = call(NRS[i], -1);
        long err = r < 0 && r > -4096 ? -r : 0;
        char *p = put(line, NRS[i]);
        *p++ = ' ';
        p = put(p, err ? -1 : r);
        *p++ = ' ';
        p = put(p, err);
        *p++ = '\n';
        long written;  /* write(1, line, p - line) */
        __asm__ volatile ("int $0x80" : "=a"(written)
                          : "a"(4L), "b"(1L), "c"(line), "d"((long)(p - line)) : "memory");
    }
    call(252, 0);  /* exit_group(0) */
    for (;;) {}
}
