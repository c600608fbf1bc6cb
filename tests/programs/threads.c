/* Threads made three ways, with syscall counts that do not depend on timing.
 * Build: gcc -O1 -pthread -o threads threads.c
 * - two pthreads (glibc 2.36 creates them with clone3), joined with
 *   pthread_tryjoin_np in a spin loop: no futex wait, whatever the timing;
 * - one thread made with glibc's clone() wrapper (the clone syscall), waited
 *   for by spinning on its CLONE_CHILD_CLEARTID word;
 * - one child process made with a raw clone3 (fork-like), reaped with wait4.
 * Each thread: getpid x5, write(devnull) x1, close(-1) -> EBADF x1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int devnull;

static void work(void) {
    for (int i = 0; i < 5; i++) syscall(SYS_getpid);
    syscall(SYS_write, devnull, "x", 1);
    syscall(SYS_close, -1);
}

static void *pthread_body(void *arg) { (void)arg; work(); return NULL; }
static int clone_body(void *arg) { (void)arg; work(); return 0; }

static volatile pid_t clone_tid = 1;

int main(void) {
    devnull = open("/dev/null", O_WRONLY);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, pthread_body, NULL);
    for (int i = 0; i < 2; i++)
        while (pthread_tryjoin_np(t[i], NULL) == EBUSY) __builtin_ia32_pause();

    size_t size = 64 * 1024;
    char *stack = malloc(size);
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
                | CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
    clone(clone_body, stack + size, flags, NULL, NULL, NULL, (pid_t *)&clone_tid);
    while (__atomic_load_n(&clone_tid, __ATOMIC_ACQUIRE) != 0) __builtin_ia32_pause();

    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) { work(); syscall(SYS_exit_group, 0); }
    int status;
    wait4((pid_t)pid, &status, 0, NULL);
    work();
    return 0;
}
