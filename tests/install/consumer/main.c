/* A user's program built against the installed library: it must compile with
 * only the installed headers and link with only what the package declares. */
#include <stdio.h>
#include <string.h>
#include <httpz/httpz.h>

int main(void)
{
    const hz_build_info *v = hz_version_info();
    if (strcmp(v->version, HZ_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s but library %s\n", HZ_VERSION_STRING, v->version);
        return 1;
    }
    if (strcmp(hz_strerror(HZ_ENOMEM), "out of memory") != 0)
        return 1;
    printf("consumer ok: httpz %s poller=%s tls=%s\n", v->version, v->poller, v->tls);
    return 0;
}
