/* Argument values in the forms strace prints them, for `import --args`
 * against `record` (tests/test_parsers_strace_args.py).  Build:
 * gcc -O1 -static -o argforms argforms.c (static: no loader, few start-up
 * calls).  Beside a call, how strace 6.1 prints it where that is not plain. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    personality(0xffffffff);                          /* personality(0xffffffff) */
    personality(PER_LINUX);                           /* personality(PER_LINUX) */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);           /* socket(AF_UNIX, SOCK_DGRAM, 0) */
    socket(AF_VSOCK, SOCK_STREAM, 0);                 /* = -1 EAFNOSUPPORT or a socket */
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
    int fd = openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    fcntl(fd, F_SETFD, FD_CLOEXEC);                   /* fcntl(3</dev/null> with -y */
    fcntl(fd, F_GETFL);
    umask(022);                                       /* umask(022): octal */
    void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p, 4096, PROT_NONE);
    madvise(p, 65536, MADV_DONTNEED);
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);               /* prctl(PR_SET_DUMPABLE, SUID_DUMP_USER) */
    prctl(PR_SET_NAME, "argforms", 0, 0, 0);          /* a string: not a value */
    kill(0, 0);                                       /* kill(0, 0) */
    unshare(0);                                       /* unshare(0) */
    pid_t c = fork();                                 /* clone(child_stack=NULL, flags=...|SIGCHLD, child_tidptr=...) */
    if (c == 0)
        _exit(3);
    wait4(-1, NULL, __WALL, NULL);                    /* wait4(-1, NULL, __WALL, NULL) */
    syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) == 0 ? _exit(0) : (void)0;
    waitid(P_ALL, 0, &(siginfo_t){0}, WEXITED);       /* waitid(P_ALL, 0, ..., WEXITED, NULL) */
    close(u);
    close(s);
    return 0;
}
