#!/usr/bin/env python3
"""tests/abi/test_judge.py - abi_check's verdicts on recorded abidiff reports
(tests/abi/reports/*.txt: real abidiff output of libhttpz.so with one change
made to a header), so the rules of docs/abi.md are tested without building
a second library."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abi_check  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (abidiff exit code, backend ABI bumped, passes without a SONAME bump)
CASES = {
    "add_fn": (4, False, True),           # a new function
    "append_config": (4, False, True),    # a field appended to hz_config
    "grow_vt_bumped": (4, True, True),    # a vtable slot with HZ_BACKEND_ABI + 1
    "grow_vt": (4, False, False),         # the same slot, no bump
    "insert_route": (4, False, False),    # a field inserted: a member moved
    "append_metrics": (4, False, False),  # a counter inserted into hz_metrics
    "append_metrics_end": (4, False, True),  # a counter appended to hz_metrics
    "enum_change": (4, False, False),     # HZ_CLOSE_* renumbered
    "remove_fn": (12, False, False),      # a function removed (bit 8)
}


def main():
    bad = 0
    for name, (rc, babi, want) in sorted(CASES.items()):
        with open(os.path.join(HERE, "reports", name + ".txt")) as f:
            report = f.read()
        ok, msgs = abi_check.judge(rc, report, False, babi)
        if ok != want:
            print("FAIL %s: passes=%s, expected %s: %s" % (name, ok, want, msgs))
            bad = 1
        # A SONAME bump lets every change through.
        ok2, _ = abi_check.judge(rc, report, True, babi)
        if not ok2:
            print("FAIL %s: refused despite a SONAME bump" % name)
            bad = 1
    ok, _ = abi_check.judge(0, "", False, False)
    if not ok:
        print("FAIL: no change refused")
        bad = 1
    if not bad:
        print("test_judge: %d recorded reports judged as docs/abi.md says" % len(CASES))
    return bad


if __name__ == "__main__":
    sys.exit(main())
