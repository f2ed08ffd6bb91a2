#!/usr/bin/env python3
"""tests/abi/abi_check.py - the ABI tests of libhttpz.so (docs/abi.md).

  abi_check.py check BUILD_DIR SRC_DIR    abidiff against abi/libhttpz.abi.xml
  abi_check.py exports BUILD_DIR          exported symbols == installed API
  abi_check.py --is-reference BUILD_DIR   exit 0 iff the reference configuration

Exit 77 means skipped (ctest SKIP_RETURN_CODE), with the reason printed.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77

# Structs that may grow at the end without an incompatible change: the
# size-prefixed configs (the library reads only `size` bytes), hz_metrics
# (filled and read by the caller's sizeof), the structs the library owns and
# hands out (callers only read known fields), and the backend vtables
# (appending a slot bumps HZ_BACKEND_ABI, checked below). A member that
# moves is a break in any of them (BREAKS).
GROWABLE = {
    "hz_config", "hz_tls_config", "hz_route_opts", "hz_static_config",
    "hz_executor_pool_options", "hz_metrics", "hz_access_entry", "hz_build_info",
}
VTABLES = {"hz_allocator_vt", "hz_poller_vt", "hz_tls_vt", "hz_executor_vt"}

# Report lines that always mean a layout or type break, even when abidiff
# only sets bit 4 ("may be incompatible, review").
BREAKS = [
    (re.compile(r"offset changed from"), "a data member moved"),
    (re.compile(r"data members? deletion"), "a data member was removed"),
    (re.compile(r"type name changed from"), "a member, parameter or variable changed type"),
    (re.compile(r"name of '.*' changed"), "a member was renamed in place"),
    (re.compile(r"enumerators? deletion"), "an enumerator was removed"),
    (re.compile(r"value changed from"), "an enumerator changed value"),
    (re.compile(r"return type changed"), "a return type changed"),
    (re.compile(r"parameter \d+ of type .* was removed"), "a parameter was removed"),
    (re.compile(r"parameter \d+ of type .* was added"), "a parameter was added"),
]


def cache(build):
    vals = {}
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"([A-Za-z_0-9]+):[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                vals[m.group(1)] = m.group(2)
    for p in glob.glob(os.path.join(build, "CMakeFiles", "*", "CMakeCCompiler.cmake")):
        with open(p) as f:
            m = re.search(r'set\(CMAKE_C_COMPILER_ID "([^"]*)"\)', f.read())
            if m:
                vals["CMAKE_C_COMPILER_ID"] = m.group(1)
    return vals


def not_reference(build):
    """Why build is not the reference configuration, or None."""
    c = cache(build)
    want = {
        "CMAKE_C_COMPILER_ID": ("GNU",),
        "CMAKE_BUILD_TYPE": ("RelWithDebInfo",),
        "HZ_TLS": ("mbedtls",),
        "HZ_SANITIZE": ("",),
        "HZ_POLLER": ("auto", "epoll"),
        "HZ_TEST_LIBKQUEUE": ("OFF", ""),
    }
    for k, ok in want.items():
        if c.get(k, "") not in ok:
            return "%s=%s (the baseline is taken with %s)" % (k, c.get(k, ""), ok[0] or "empty")
    return None


def sh(*args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def soname_of(xml_path):
    with open(xml_path) as f:
        m = re.search(r"soname='([^']*)'", f.readline())
    return m.group(1) if m else ""


def backend_abi(src):
    with open(os.path.join(src, "include", "httpz", "backend.h")) as f:
        m = re.search(r"#define HZ_BACKEND_ABI (\d+)", f.read())
    return m.group(1) if m else ""


def review(report):
    """The definite breaks in a bit-4 report, [(reason, line)], and whether
    a backend vtable changed size."""
    found = []
    vt_grew = False
    struct = None  # the struct whose changes the report is describing
    for line in report.splitlines():
        m = re.search(r"type '(?:struct )?(\w+)'.*changed:", line)
        if m:
            struct = m.group(1)
        if "type size changed" in line:
            if struct in VTABLES:
                vt_grew = True
            elif struct not in GROWABLE:
                found.append(("struct %s changed size (not a growable struct)" % struct, line))
        for rx, why in BREAKS:
            if why and rx.search(line):
                found.append((why, line))
    return found, vt_grew


def check(build, src):
    why = not_reference(build)
    if why:
        print("abi_check: skipped: runs in the reference configuration only (docs/abi.md): " + why)
        return SKIP
    for tool in ("abidw", "abidiff"):
        if not shutil.which(tool):
            print("abi_check: skipped: %s not installed (Debian: apt-get install abigail-tools)"
                  % tool)
            return SKIP
    base = os.path.join(src, "abi", "libhttpz.abi.xml")
    if not os.path.exists(base):
        print("abi_check: no baseline %s: run scripts/abi-update" % base)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        cur = os.path.join(tmp, "current.xml")
        r = sh(os.path.join(src, "scripts", "abi-dump"), build, cur)
        if r.returncode != 0:
            print(r.stdout)
            return r.returncode
        d = sh("abidiff", "--no-show-locs", base, cur)
    rc, report = d.returncode, d.stdout
    if rc & 3:  # bit 1: abidiff error, bit 2: usage error
        print(report)
        print("abi_check: abidiff failed (exit %d)" % rc)
        return 1
    return verdict(rc, report, base, build, src)


def verdict(rc, report, base, build, src):
    old_so = soname_of(base)
    so = sorted(glob.glob(os.path.join(build, "libhttpz.so.*")), key=len)
    new_so = ""
    if so:
        m = re.search(r"SONAME\)\s+Library soname: \[([^\]]*)\]", sh("readelf", "-d", so[0]).stdout)
        new_so = m.group(1) if m else ""
    with open(os.path.join(src, "abi", "backend_abi")) as f:
        old_babi = f.read().strip()
    new_babi = backend_abi(src)
    print("abi_check: baseline %s (HZ_BACKEND_ABI %s), this build %s (HZ_BACKEND_ABI %s)"
          % (old_so, old_babi, new_so, new_babi))
    if rc:
        print(report)
    ok, lines = judge(rc, report, old_so != new_so, old_babi != new_babi)
    for line in lines:
        print("abi_check: " + line)
    return 0 if ok else 1


def judge(rc, report, soname_bumped, backend_abi_bumped):
    """The verdict on an abidiff exit code and report: (passes, messages)."""
    if rc == 0:
        return True, ["no ABI change"]
    breaks, vt_grew = review(report)
    if vt_grew and not backend_abi_bumped:
        breaks.append(("a backend vtable grew without a HZ_BACKEND_ABI bump", ""))
    if not (rc & 8) and not breaks:
        return True, ["compatible additions only (listed above); the baseline records them "
                      "when scripts/abi-update is run next"]
    msgs = ["incompatible: %s%s" % (why, (": " + line.strip()) if line else "")
            for why, line in breaks]
    if rc & 8:
        msgs.append("incompatible: abidiff exit bit 8 (removed or changed symbols)")
    if soname_bumped:
        msgs.append("the SONAME changed: incompatible changes allowed; record the new baseline "
                    "with scripts/abi-update")
        return True, msgs
    msgs.append("FAILED: an incompatible ABI change without a SONAME bump. Either make it "
                "compatible (append, never insert or remove; docs/abi.md) or, for a release "
                "that may break, bump the version so the SONAME changes, then run "
                "scripts/abi-update.")
    return False, msgs


def declared_api(build):
    """The names the installed headers declare with HZ_API, after the
    preprocessor (so #if'd-out backends do not count)."""
    with tempfile.TemporaryDirectory() as tmp:
        r = sh("cmake", "--install", build, "--prefix", os.path.join(tmp, "p"))
        if r.returncode:
            raise SystemExit(r.stdout)
        inc = os.path.join(tmp, "p", "include")
        c = os.path.join(tmp, "all.c")
        with open(c, "w") as f:
            for h in sorted(os.listdir(os.path.join(inc, "httpz"))):
                f.write("#include <httpz/%s>\n" % h)
        cc = os.environ.get("CC") or cache(build).get("CMAKE_C_COMPILER") or "cc"
        r = sh(cc, "-E", "-P", "-I", inc, c)
        if r.returncode:
            raise SystemExit(r.stdout)
    text = re.sub(r"\s+", " ", r.stdout)
    names = set()
    for m in re.finditer(r'__attribute__\(\(visibility\("default"\)\)\)([^;{]*?)\b(hz_\w+)\s*[(\[;]',
                         text):
        names.add(m.group(2))
    return names


def exports(build):
    so = sorted(glob.glob(os.path.join(build, "libhttpz.so.*")), key=len)
    if not so:
        print("abi_exports: no libhttpz.so.* in %s" % build)
        return 1
    r = sh("nm", "-D", "--defined-only", so[0])
    if r.returncode:
        print(r.stdout)
        return 1
    exported = {l.split()[-1] for l in r.stdout.splitlines() if l.strip()}
    declared = declared_api(build)
    bad = 0
    internal = sorted(s for s in exported if s.startswith("hz__"))
    if internal:
        print("abi_exports: internal hz__ symbols exported: " + " ".join(internal))
        bad = 1
    undeclared = sorted(s for s in exported - declared if not s.startswith("hz__"))
    if undeclared:
        print("abi_exports: exported but declared in no installed header (HZ_API): "
              + " ".join(undeclared))
        bad = 1
    missing = sorted(declared - exported)
    if missing:
        print("abi_exports: declared HZ_API but not exported: " + " ".join(missing))
        bad = 1
    if not bad:
        print("abi_exports: %d exported symbols, each declared in an installed header"
              % len(exported))
    return bad


def main(argv):
    if len(argv) == 3 and argv[1] == "--is-reference":
        why = not_reference(argv[2])
        if why:
            print(why)
        return 1 if why else 0
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == "exports":
        return exports(argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
