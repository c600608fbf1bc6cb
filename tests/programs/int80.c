/* A 64-bit program that also makes i386 calls with `int $0x80`.
 * Build: gcc -O1 -no-pie -static -o int80 int80.c  (static data below 4 GiB)
 * i386 calls: getpid (20) x2, write(1, buf, 6) (4) x1, close(-1) (6) -> EBADF. */
#include <unistd.h>
#include <sys/syscall.h>
static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c)
                      : "memory", "r8", "r9", "r10", "r11");
    return ret;
}
static char buf[] = "int80\n";
int main(void) {
    syscall(SYS_getpid);
    int80(20, 0, 0, 0);
    int80(20, 0, 0, 0);
    int80(4, 1, (long)buf, 6);
    int80(6, -1, 0, 0);
    syscall(SYS_close, -1);
    return 0;
}
