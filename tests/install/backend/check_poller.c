/* check_poller.c - the poller contract (tests/backend/poller_run.c) against
 * the out-of-tree poll(2) poller, built and linked against the installed
 * httpz. usage: check_poller [check-name...] */
#include <httpz/backend.h>
#include "poll_poller.h"
#include "poller_contract.h"

int main(int argc, char **argv)
{
    static const hz_poller_vt *const vts[] = {&oot_poller_poll, NULL};
    return pc_run(vts, argc, argv);
}
