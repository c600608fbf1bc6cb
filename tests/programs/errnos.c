/* errnos NR...: makes syscall NR(-1, 0, 0, 0, 0, 0) for each NR given and
 * prints "NR RESULT ERRNO" (ERRNO 0 on success).  Build: gcc -O1 -static
 * (tests/test_runc.py runs it in a runc container, whose root holds
 * nothing else).  Only numbers harmless with these arguments are given. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        long nr = atol(argv[i]);
        errno = 0;
        long r = syscall(nr, -1L, 0L, 0L, 0L, 0L, 0L);
        printf("%ld %ld %d\n", nr, r, r == -1 ? errno : 0);
    }
    return 0;
}
