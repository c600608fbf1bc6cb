/* Signals: a handled SIGUSR1 (rt_sigreturn), an ignored SIGUSR2, a child that
 * stops itself with SIGSTOP and is seen stopped by its parent's waitpid
 * (WUNTRACED) and continued with SIGCONT, as without a tracer; a child killed
 * by SIGKILL while stopped.  Build: gcc -O1 -o signals signals.c
 * Exits 0 when every step behaved as without a tracer, else the step number.
 * SIGCHLD is blocked so that no wait4 is interrupted (and restarted) by it:
 * that would depend on timing, and the call counts must not. */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_usr1(int sig) { (void)sig; got++; }

int main(void) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, SIG_IGN);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    if (got != 1) return 1;

    int status;
    pid_t c = fork();
    if (c == 0) {
        raise(SIGSTOP);
        syscall(SYS_getppid);
        _exit(5);
    }
    if (waitpid(c, &status, WUNTRACED) != c || !WIFSTOPPED(status)
        || WSTOPSIG(status) != SIGSTOP) return 2;
    kill(c, SIGCONT);
    if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 5)
        return 3;

    pid_t d = fork();
    if (d == 0) {
        raise(SIGSTOP);
        _exit(6);
    }
    if (waitpid(d, &status, WUNTRACED) != d || !WIFSTOPPED(status)) return 4;
    kill(d, SIGKILL);
    if (waitpid(d, &status, 0) != d || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        return 5;
    return 0;
}
