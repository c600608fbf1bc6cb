/* Writes "ready\n" (and its pid) to stdout, then sleeps in 20 ms steps until
 * killed; on SIGINT it writes "SIGINT\n" and exits 3 after the current step.
 * A second thread sleeps too.  Build: gcc -O1 -pthread -o sleeper sleeper.c */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;
static void on_int(int sig) { (void)sig; interrupted++; }

static void *body(void *arg) {
    (void)arg;
    struct timespec ts = {0, 20 * 1000 * 1000};
    for (;;) nanosleep(&ts, NULL);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "handle") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_int;
        sigaction(SIGINT, &sa, NULL);
    }
    pthread_t t;
    pthread_create(&t, NULL, body, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    struct timespec ts = {0, 20 * 1000 * 1000};
    for (;;) {
        nanosleep(&ts, NULL);
        if (interrupted) {
            printf("SIGINT %d\n", (int)interrupted);
            fflush(stdout);
            return 3;
        }
    }
}
