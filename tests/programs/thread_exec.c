/* execve from a thread that is not the leader, while the leader waits in pause().
 * Build: gcc -O1 -pthread -o thread_exec thread_exec.c
 * `thread_exec`: the second thread execs `thread_exec after`, which writes
 * "after\n" and exits 7. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static char *self;

static void *body(void *arg) {
    (void)arg;
    char *args[] = {self, "after", NULL};
    execv("/proc/self/exe", args);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "after") == 0) {
        write(1, "after\n", 6);
        return 7;
    }
    self = argv[0];
    pthread_t t;
    pthread_create(&t, NULL, body, NULL);
    for (;;) pause();
}
