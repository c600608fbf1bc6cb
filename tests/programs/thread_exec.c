/* execve from a thread that is not the leader, while the leader waits in pause().
 * Build: gcc -O1 -pthread -o thread_exec thread_exec.c
 * `thread_exec`: the second thread execs `thread_exec after`, which writes
 * "after\n" and exits 7.  The leader tells the thread through a pipe that it
 * is about to pause, and the thread waits 100 ms more before its execve: the
 * leader is then inside pause() (the oracle tests count that call as never
 * returning), and the number of calls is the same in every run. */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *self;
static int ready[2];

static void *body(void *arg) {
    (void)arg;
    char c;
    read(ready[0], &c, 1);
    struct timespec wait = {0, 100 * 1000 * 1000};
    nanosleep(&wait, NULL);
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
    pipe(ready);
    pthread_t t;
    pthread_create(&t, NULL, body, NULL);
    write(ready[1], "x", 1);
    for (;;) pause();
}
