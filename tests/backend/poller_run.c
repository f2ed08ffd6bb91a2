/* poller_run.c - pc_run(): every poller contract check (poller_contract.c)
 * against a list of pollers, as plain C in one process. Shared by
 * poller_check.c (the pollers compiled into the library) and the install
 * test's out-of-tree poller (tests/install/backend), which builds these
 * files against the installed headers. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <httpz/backend.h>
#include "poller_contract.h"

/* A hung check (a wait that never returns) must fail the run, not stall CI:
 * SIGALRM's default action ends the process with a non-zero status. */
#define WATCHDOG_SECS 120

static int wanted(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int pc_run(const hz_poller_vt *const *vts, int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; vts[i]; i++) {
        const hz_poller_vt *vt = vts[i];
        for (unsigned k = 0; k < pc_ncases; k++) {
            if (!wanted(pc_cases[k].name, argc, argv))
                continue;
            pc_ctx ctx;
            memset(&ctx, 0, sizeof(ctx));
            alarm(WATCHDOG_SECS);
            int rc = pc_cases[k].fn(vt, &ctx);
            alarm(0);
            if (rc == PC_PASS) {
                passed++;
                printf("ok    %s/%s\n", vt->name, pc_cases[k].name);
            } else if (rc == PC_SKIP) {
                skipped++;
                printf("skip  %s/%s: %s\n", vt->name, pc_cases[k].name, ctx.msg);
            } else {
                failed++;
                printf("FAIL  %s/%s: %s\n", vt->name, pc_cases[k].name, ctx.msg);
            }
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed || passed == 0 ? 1 : 0;
}
