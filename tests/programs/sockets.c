/* sockets DOMAIN...: socket(DOMAIN, SOCK_DGRAM, 0) for each DOMAIN given, and
 * prints "DOMAIN RESULT ERRNO" (the descriptor is closed again).
 * Build: gcc -O1 -static (tests/test_runc.py pins socket's domain with emit
 * --pin-args and runs this in a runc container). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        int domain = atoi(argv[i]);
        errno = 0;
        int fd = socket(domain, SOCK_DGRAM, 0);
        printf("%d %d %d\n", domain, fd < 0 ? -1 : 0, fd < 0 ? errno : 0);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}
