/* listen_fds_probe.c - hz_listen_fds across a real exec, for
 * test_listen_activation.py: started like a socket-activated service, it
 * prints what hz_listen_fds returned, then execs argv[1..] (a shell that
 * reports the LISTEN_* variables and descriptors it inherited: none of
 * either, since hz_listen_fds unsets the variables and sets FD_CLOEXEC). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>
#include <httpz/httpz.h>

int main(int argc, char **argv)
{
    hz_listen_fd fds[8];
    int n = hz_listen_fds(fds, 8);
    printf("listen_fds=%d", n);
    for (int i = 0; i < n && i < 8; i++)
        printf(" %d:%s", fds[i].fd, fds[i].name);
    printf("\n");
    fflush(stdout);
    if (argc > 1) {
        execv(argv[1], argv + 1);
        perror("execv");
        return 127;
    }
    return n < 0;
}
