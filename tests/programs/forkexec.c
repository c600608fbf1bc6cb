/* fork + exec chains, vfork, a failed execve and wait4.
 * Build: gcc -O1 -o forkexec forkexec.c
 * `forkexec`: forks a child that execs `forkexec chain 2`, which execs
 * `forkexec chain 1`, which execs `forkexec chain 0`, which exits 3; then
 * vforks a child that tries to exec a missing file (ENOENT) and _exits 4;
 * reaps both and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "chain") == 0) {
        int n = atoi(argv[2]);
        syscall(SYS_getppid);
        if (n == 0) return 3;
        char next[16];
        snprintf(next, sizeof next, "%d", n - 1);
        char *args[] = {argv[0], "chain", next, NULL};
        execv("/proc/self/exe", args);
        return 99;
    }
    int status;
    pid_t a = fork();
    if (a == 0) {
        char *args[] = {argv[0], "chain", "2", NULL};
        execv("/proc/self/exe", args);
        _exit(99);
    }
    waitpid(a, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 3) return 1;
    pid_t b = vfork();
    if (b == 0) {
        char *args[] = {"missing", NULL};
        execv("/nonexistent/missing", args);
        _exit(4);
    }
    waitpid(b, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 4) return 2;
    return 0;
}
