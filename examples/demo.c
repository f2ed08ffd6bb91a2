/* demo.c - placeholder until the server core lands: prints what the library
 * was built with. The server issue turns this into the demo server. */
#include <stdio.h>
#include <httpz/httpz.h>

int main(void)
{
    const hz_build_info *v = hz_version_info();
    printf("httpz %s (poller %s, tls %s, executor %s)\n", v->version, v->poller, v->tls,
           v->executor);
    return 0;
}
