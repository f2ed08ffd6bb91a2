#!/usr/bin/env python3
"""docs_examples.py - compiles every C code block of the given Markdown files,
so the documentation cannot drift from the API (ctest: docs_examples).

Every ```c block is compiled with -std=c11 -Wall -Werror against the build
tree's headers; a block that defines main() is also linked against the
library. By default a block is a whole translation unit: it must carry its
own #includes and feature-test macros, exactly as a reader would copy it
(static helpers it defines may go unused when it has no main()).

An HTML comment on the line before the fence (invisible once rendered)
says otherwise, and should stay rare:

  <!-- doc-example: fragment -->
      statements: compiled as the body of a function, after <httpz/httpz.h>,
      <httpz/backend.h> and the common C headers. Unused variables are
      allowed (a fragment shows a call, not what follows it).
  <!-- doc-example: fragment; given: hz_server *srv; int idx -->
      ... with these names in scope (parameters of that function).
  <!-- doc-example: continues -->
      appended to the previous C block of the same file (combinable with
      fragment: "continues, fragment"); the blocks are compiled together,
      once, as one translation unit.
  <!-- doc-example: skip: <reason> -->
      not compiled (an excerpt of a header, say); the reason is required.

Usage: docs_examples.py --cc CC --lib LIBRARY [-I DIR]... [--ldflag F]...
                        [--workdir DIR] FILE.md...
Exit status: 0 when every block compiles (and links), 1 otherwise.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^(```+|~~~+)\s*([A-Za-z0-9_+-]*)")
MARKER = re.compile(r"^\s*<!--\s*doc-example:\s*(.*?)\s*-->\s*$")
MAIN = re.compile(r"\bint\s+main\s*\(")
PRELUDE = """#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>
"""


class Block:
    def __init__(self, path, line, text, opts):
        self.path, self.line, self.text, self.opts = path, line, text, opts
        self.tu = None  # the translation unit compiled for it
        self.fragment = False


def parse_marker(s, where):
    """'fragment; given: a *b; int c' -> {'fragment': True, 'given': 'a *b; int c'}"""
    opts = {}
    if s.startswith("skip"):
        reason = s[4:].lstrip(" :").strip()
        if not reason:
            raise ValueError(f"{where}: 'skip' needs a reason (skip: why)")
        return {"skip": reason}
    given = None
    if "given:" in s:
        s, given = s.split("given:", 1)
        opts["given"] = given.strip()
    for w in re.split(r"[,;]\s*", s.strip()):
        if not w:
            continue
        if w not in ("fragment", "continues"):
            raise ValueError(f"{where}: unknown doc-example option '{w}'")
        opts[w] = True
    if "given" in opts and "fragment" not in opts:
        raise ValueError(f"{where}: 'given:' only makes sense with 'fragment'")
    return opts


def blocks_of(path):
    out = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i, prev = 0, ""  # prev: the last non-blank line before the current one
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                prev = lines[i]
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2), i + 1
        j = start
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        where = f"{path}:{start}"
        mk = MARKER.match(prev)
        if lang == "c":
            opts = parse_marker(mk.group(1), where) if mk else {}
            out.append(Block(path, start, "\n".join(lines[start:j]) + "\n", opts))
        elif mk:
            raise ValueError(f"{where}: doc-example marker before a '{lang}' block")
        prev, i = "", j + 1
    return out


def build_tu(b, prev):
    """Fills b.tu from the block, its options and the previous block."""
    body = b.text
    if b.opts.get("fragment"):
        b.fragment = True
        params = b.opts.get("given", "").strip().rstrip(";")
        params = ", ".join(p.strip() for p in params.split(";")) if params else "void"
        fn = f"doc_fragment_{b.line}"
        body = (f"{PRELUDE}void {fn}({params});\nvoid {fn}({params})\n{{\n"
                f"#line {b.line + 1} \"{b.path}\"\n{body}}}\n")
    else:
        body = f"#line {b.line + 1} \"{b.path}\"\n{body}"
    if b.opts.get("continues"):
        if prev is None or prev.tu is None:
            raise ValueError(f"{b.path}:{b.line}: 'continues' without a compiled C block before it")
        b.fragment = b.fragment or prev.fragment
        body = prev.tu + "\n" + body
    b.tu = body


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cc", required=True)
    ap.add_argument("--lib", required=True, help="the httpz library to link against")
    ap.add_argument("-I", dest="inc", action="append", default=[])
    ap.add_argument("--ldflag", action="append", default=[])
    ap.add_argument("--workdir")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="hz-docs-")
    os.makedirs(work, exist_ok=True)
    cflags = ["-std=c11", "-Wall", "-Werror"] + [f"-I{d}" for d in a.inc]
    failed, counts = 0, {"linked": 0, "compiled": 0, "joined": 0, "skipped": 0}
    for path in a.files:
        try:
            blocks = blocks_of(path)
        except ValueError as e:
            print(f"FAIL {e}")
            failed += 1
            continue
        prev = None
        for k, b in enumerate(blocks):
            where = f"{os.path.relpath(b.path)}:{b.line}"
            # A block the next one continues is compiled once, as part of it.
            partial = k + 1 < len(blocks) and blocks[k + 1].opts.get("continues")
            if "skip" in b.opts:
                print(f"skip {where}: {b.opts['skip']}")
                counts["skipped"] += 1
                prev = None
                continue
            try:
                build_tu(b, prev)
            except ValueError as e:
                print(f"FAIL {e}")
                failed += 1
                prev = None
                continue
            prev = b
            if partial:
                print(f"ok   {where} (compiled with the next block)")
                counts["joined"] += 1
                continue
            stem = os.path.join(work, re.sub(r"[^A-Za-z0-9]+", "_", where))
            with open(stem + ".c", "w", encoding="utf-8") as f:
                f.write(b.tu)
            has_main = MAIN.search(b.tu) is not None
            extra = ["-Wno-unused-variable", "-Wno-unused-but-set-variable"] if b.fragment else []
            if not has_main:
                extra.append("-Wno-unused-function")  # helpers shown for the reader to call
            rc, out = run([a.cc] + cflags + extra + ["-c", stem + ".c", "-o", stem + ".o"])
            what = "compiled"
            if rc == 0 and has_main:
                what = "linked"
                rc, out = run([a.cc, stem + ".o", a.lib, "-pthread"] + a.ldflag + ["-o", stem])
            if rc != 0:
                print(f"FAIL {where} ({'link' if what == 'linked' else 'compile'}; {stem}.c):\n{out}")
                failed += 1
                continue
            counts[what] += 1
            print(f"ok   {where} ({what})")
    total = sum(counts.values())
    print(f"{total} C blocks: {counts['linked']} linked, {counts['compiled']} compiled, "
          f"{counts['joined']} compiled with the block after them, {counts['skipped']} skipped; "
          f"{failed} failed")
    if total == 0 and not failed:
        print("FAIL no C block found: is the file list right?")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
