/* Many small syscalls, a count fixed by the argument: argv[1] times
 * getppid() and dup(-1) (-> EBADF), on two threads when argv[2] is "2".
 * Build: gcc -O1 -pthread -o many many.c
 * Long enough (tens of thousands of stops) for the C loop's adaptive polling
 * to run its trials while the counts stay exact. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long n;

static void *body(void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        syscall(SYS_getppid);
        syscall(SYS_dup, -1);
    }
    return NULL;
}

int main(int argc, char **argv) {
    n = argc > 1 ? atol(argv[1]) : 1000;
    if (argc > 2 && strcmp(argv[2], "2") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, body, NULL);
        body(NULL);
        pthread_join(t, NULL);
    } else {
        body(NULL);
    }
    return 0;
}
