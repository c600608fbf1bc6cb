/* Calls Docker's default policy answers differently: clone3 (ENOSYS without
 * CAP_SYS_ADMIN), unshare and personality (argument-conditioned), mount
 * (EPERM), and a thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>
static void *body(void *arg) { return arg; }
int main(void) {
    pthread_t t;
    syscall(SYS_clone3, NULL, 0);
    pthread_create(&t, NULL, body, NULL);
    pthread_join(t, NULL);
    personality(0xffffffff);
    personality(PER_LINUX);
    unshare(CLONE_NEWUTS);
    mount("none", "/nonexistent", "tmpfs", 0, NULL);
    return 0;
}
