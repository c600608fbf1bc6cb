/* Ways a program ends.  Build: gcc -O1 -pthread -o endings endings.c
 *   endings signal N       write "bye\n", then kill itself with signal N
 *   endings blocked        a second thread blocks in read(2) on a pipe while
 *                          the first calls exit_group: the read never returns
 *   endings orphan         fork a child that outlives its parent by 100 ms,
 *                          then exit 5 at once
 *   endings exit N         exit N */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int ready[2], never[2];

static void *reader(void *arg) {
    (void)arg;
    char c;
    write(ready[1], "r", 1);
    read(never[0], &c, 1);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "signal") == 0) {
        write(1, "bye\n", 4);
        kill(getpid(), atoi(argv[2]));
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "blocked") == 0) {
        pipe(ready);
        pipe(never);
        pthread_t t;
        pthread_create(&t, NULL, reader, NULL);
        char c;
        read(ready[0], &c, 1);
        /* Give the reader time to enter read(2) after its write. */
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        syscall(SYS_exit_group, 0);
    }
    if (argc == 2 && strcmp(argv[1], "orphan") == 0) {
        if (fork() == 0) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            syscall(SYS_getppid);
            return 0;
        }
        return 5;
    }
    if (argc == 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
    return 64;
}
