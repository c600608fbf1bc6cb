/* Argument values.  Build: gcc -O1 -o args args.c
 * lseek(fd, i, SEEK_SET) for i = 0..99 (more distinct offsets than a profile
 * keeps), fcntl(fd, F_GETFD) / fcntl(fd, F_GETFL), and close(-1) with all 64
 * bits of the register set (a C int -1 passed to syscall(2) would set 32). */
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    int fd = open("/dev/null", O_RDONLY);
    for (int i = 0; i < 100; i++) lseek(fd, i, SEEK_SET);
    fcntl(fd, F_GETFD);
    fcntl(fd, F_GETFL);
    syscall(SYS_close, -1L);
    return 0;
}
