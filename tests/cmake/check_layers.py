#!/usr/bin/env python3
"""check_layers.py - the include graph of core/ and backends/ runs one way.

    check_layers.py ROOT [EXCEPTIONS]

Reads every `#include "..."` in ROOT/core/*/ and ROOT/backends/*/, maps the
including file and the included header to their folders and fails on:
  - an edge from a lower core folder to a higher one
    (order: common < proto < event < http < http1 | ws < http2 < server;
    http1 and ws are siblings: neither may use the other);
  - any core header included from core/handler/ or backends/ (they are
    written against the public <httpz/...> headers only; backends/common/
    holds what the backends share, itself on the public headers only);
  - a cycle between folders;
  - an include that resolves to no file, or to two folders;
  - a line of EXCEPTIONS (`from-file -> included-header`, paths relative to
    ROOT) that is no longer a forbidden edge, so the list only shrinks.
Forbidden edges listed in EXCEPTIONS are tolerated. On success it prints the
layer graph: each folder and the folders it uses.
"""
import os
import re
import sys

ORDER = ["common", "proto", "event", "http", "http1", "http2", "server"]
SIBLINGS = {"ws": "http1"}  # same rank as its sibling: no edge either way
PUBLIC_ONLY = ["handler"]  # plus every backends/<name>
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE_EXT = (".c", ".h", ".h.in")


def folder_of(rel):
    """core/<layer>/... -> core/<layer>; backends/<name>/... -> backends/<name>."""
    parts = rel.split("/")
    return "/".join(parts[:2]) if len(parts) >= 3 else None


def rank(folder):
    kind, name = folder.split("/", 1)
    name = SIBLINGS.get(name, name) if kind == "core" else name
    if kind == "core" and name in ORDER:
        return ORDER.index(name)
    return None  # handler, backends: public headers only


def scan(root):
    files = []
    for top in ("core", "backends"):
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for dirpath, _, names in os.walk(base):
            for n in names:
                if n.endswith(SOURCE_EXT):
                    files.append(os.path.relpath(os.path.join(dirpath, n), root).replace(os.sep, "/"))
    return sorted(files)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1]
    exc_path = argv[2] if len(argv) > 2 else None
    files = scan(root)
    if not any(f.startswith("core/") for f in files):
        print(f"check_layers: no core/ sources under {root}", file=sys.stderr)
        return 2

    # A header name -> its core files (platform.h is generated from .h.in).
    headers = {}
    for f in files:
        if f.startswith("core/"):
            name = os.path.basename(f)
            if name.endswith(".h.in"):
                name = name[: -len(".in")]
            if name.endswith(".h"):
                headers.setdefault(name, []).append(f)

    errors = []
    edges = {}  # "from-file -> header-file" -> (from-folder, to-folder)
    for f in files:
        here = os.path.dirname(f)
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                local = os.path.normpath(os.path.join(here, inc)).replace(os.sep, "/")
                if os.path.exists(os.path.join(root, local)):
                    target = local
                elif "/" not in inc and len(headers.get(inc, [])) == 1:
                    target = headers[inc][0]
                elif "/" not in inc and len(headers.get(inc, [])) > 1:
                    errors.append(f"AMBIGUOUS: {f}:{lineno}: \"{inc}\" is in {headers[inc]}")
                    continue
                else:
                    errors.append(f"UNRESOLVED: {f}:{lineno}: \"{inc}\"")
                    continue
                if target.endswith(".h.in"):
                    target = target[: -len(".in")]
                src, dst = folder_of(f), folder_of(target)
                if not src or not dst or src == dst:
                    continue
                edges[f"{f} -> {target}"] = (src, dst)

    def forbidden(src, dst):
        rs, rd = rank(src), rank(dst)
        if dst == "backends/common":
            return not src.startswith("backends/")  # shared by the backends only
        if not dst.startswith("core/"):
            return True  # into a backend: never
        if rs is None:
            return True  # handler / backend using a core header
        return rd is None or rd >= rs  # upwards, sideways, or into handler

    bad = {e for e, (s, d) in edges.items() if forbidden(s, d)}

    tolerated = set()
    if exc_path:
        with open(exc_path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                entry = " -> ".join(p.strip() for p in line.split("->"))
                if entry not in bad:
                    errors.append(f"STALE EXCEPTION: {os.path.basename(exc_path)}:{lineno}: "
                                  f"{entry} (not a forbidden edge any more: delete the line)")
                tolerated.add(entry)
    for e in sorted(bad - tolerated):
        s, d = edges[e]
        errors.append(f"FORBIDDEN: {e} ({s} may not use {d})")

    # Folder graph without the tolerated edges; a cycle is an error.
    graph = {}
    for e, (s, d) in edges.items():
        graph.setdefault(s, set())
        graph.setdefault(d, set())
        if e not in tolerated:
            graph[s].add(d)
    # Peel off folders that use none of the rest, or that none of the rest
    # uses: what remains lies on a cycle.
    left = {n: set(v) for n, v in graph.items()}
    while True:
        used = set().union(*left.values()) & left.keys() if left else set()
        loose = [n for n, out in left.items() if not (out & left.keys()) or n not in used]
        if not loose:
            break
        for n in loose:
            del left[n]
    if left:
        errors.append("CYCLE between folders: " + ", ".join(sorted(left)))

    if errors:
        print("\n".join(errors))
        print(f"check_layers: {len(errors)} problem(s); order {' < '.join(ORDER)}, "
              "core/handler and backends/ use <httpz/...> only (docs/architecture.md)")
        return 1
    print("layer graph (folder -> folders it uses):")
    for n in sorted(graph, key=lambda x: (rank(x) is None, rank(x) or 0, x)):
        print(f"  {n} -> {', '.join(sorted(graph[n], key=lambda x: (rank(x) or 0, x))) or '-'}")
    if tolerated:
        print(f"tolerated until removed ({len(tolerated)}, {os.path.basename(exc_path)}):")
        for e in sorted(tolerated):
            print(f"  {e}")
    print(f"ok: {len(files)} files, {len(edges)} cross-folder includes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
