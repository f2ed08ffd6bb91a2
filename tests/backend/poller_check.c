/* poller_check.c - the poller contract (poller_contract.c) as a plain C
 * program: no Criterion, one process, every check against every poller in
 * hz_pollers[]. Built where Criterion is unavailable or hangs (macOS cross
 * builds, aarch64 under qemu-user) and as a ctest natively.
 * Prints one line per check and "N passed, M failed"; exits 1 on failure.
 * usage: poller_check [check-name...]   (default: all) */
#include <httpz/backend.h>
#include "poller_contract.h"

int main(int argc, char **argv)
{
    return pc_run(hz_pollers, argc, argv);
}
