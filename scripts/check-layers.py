#!/usr/bin/env python3
"""Checks the import graph of src/: no cycles between files, and no arrow from a lower layer up.

Every `crate::…`, `super::…` and `self::…` path in a file is resolved to the file that defines
it (following `pub use` re-exports of `mod.rs` files), giving one edge per pair of files. The
layers, lowest first, are listed in LAYERS; a file may use its own layer and those below it.
Prints each cycle and each upward arrow, and exits 1 if there is any.

Usage: python3 scripts/check-layers.py [--graph]
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# Lowest first. A path prefix (module path inside the crate) → layer index.
LAYERS = [
    ["error", "domain"],
    ["storage"],
    ["runtime", "email", "geo", "net", "config", "telemetry"],
    ["ui"],
    ["features"],
    ["http", "site_header"],
    ["app", "startup", "cli", "lib", "main", "bin"],
]

PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)(::\{([^;]*?)\})?")
USE_BLOCK_RE = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{(.*?)\};", re.S)
PUB_USE_RE = re.compile(r"pub use\s+(?:self::)?([a-z_][a-z0-9_]*)::(\*|\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)\s*;", re.S)


def rust_files():
    for root, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".rs"):
                yield os.path.relpath(os.path.join(root, f), SRC)


def module_of(rel):
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1] if parts[-1] == "mod" else parts[:-1]
    return parts


def file_of_module(parts):
    """The file defining module `parts`, or None."""
    if not parts:
        return "lib.rs"
    base = os.path.join(*parts)
    for cand in (base + ".rs", os.path.join(base, "mod.rs")):
        if os.path.exists(os.path.join(SRC, cand)):
            return cand
    return None


REEXPORTS = {}


def reexports(rel):
    """For a module file: item name → child module name, from its `pub use child::…;` lines."""
    if rel in REEXPORTS:
        return REEXPORTS[rel]
    out = {}
    text = strip_comments(open(os.path.join(SRC, rel), encoding="utf-8").read())
    for child, items in PUB_USE_RE.findall(text):
        if items == "*":
            out.setdefault("*", []).append(child)
        else:
            for item in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", items):
                out[item] = child
    REEXPORTS[rel] = out
    return out


def resolve(parts):
    """Longest module prefix of `parts` that is a file, following re-exports one level deep."""
    for n in range(len(parts), -1, -1):
        f = file_of_module(parts[:n])
        if f is None:
            continue
        rest = parts[n:]
        if rest and (f.endswith("mod.rs") or f == "lib.rs"):
            ex = reexports(f)
            child = ex.get(rest[0])
            if child is None and "*" in ex:
                for c in ex["*"]:
                    cf = file_of_module(parts[:n] + [c])
                    if cf and re.search(r"\b(fn|struct|enum|type|const|static|trait)\s+" + re.escape(rest[0]) + r"\b",
                                        open(os.path.join(SRC, cf), encoding="utf-8").read()):
                        child = c
                        break
            if child:
                return resolve(parts[:n] + [child] + rest[1:])
        return f
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def edges_of(rel):
    text = strip_comments(open(os.path.join(SRC, rel), encoding="utf-8").read())
    here = module_of(rel)
    # `super` of a mod.rs/lib.rs is its parent; of a plain file, its directory's module.
    is_dir_module = rel.endswith("mod.rs") or rel in ("lib.rs", "main.rs")
    paths = []
    for m in USE_BLOCK_RE.finditer(text):
        head = [m.group(1)] + [p for p in m.group(2).split("::") if p]
        for item in re.split(r",", m.group(3)):
            item = item.strip()
            first = re.match(r"[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*", item)
            if first:
                paths.append(head + first.group(0).split("::"))
    for m in PATH_RE.finditer(text):
        paths.append([m.group(1)] + [p for p in m.group(2).split("::") if p])
    # Names this file defines: `super::X` inside one of its inline modules (`mod tests { … }`)
    # refers back to the file itself.
    defined = set(re.findall(r"\b(?:fn|struct|enum|type|const|static|trait|mod)\s+([A-Za-z_][A-Za-z0-9_]*)", text))
    inline = re.search(r"\bmod\s+[a-z_]+\s*\{", text) is not None
    out = set()
    for p in paths:
        kind, rest = p[0], p[1:]
        if kind == "super" and inline and rest and rest[0] in defined:
            continue
        if kind == "crate":
            mod = rest
        else:
            base = list(here) if is_dir_module else list(here[:-1])
            if kind == "super":
                while rest and rest[0] == "super":
                    rest = rest[1:]
                    base = base[:-1]
                base = base[:-1] if is_dir_module else base
            else:
                base = list(here)
            mod = base + rest
        target = resolve(mod)
        if target and target != rel:
            out.add(target)
    return out


def layer_of(rel):
    mod = module_of(rel) or ["lib"]
    top = mod[0] if mod else "lib"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    return len(LAYERS)


def cycles(graph):
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return sccs


def main():
    graph = {rel: edges_of(rel) for rel in sorted(rust_files())}
    # A module file that only declares and re-exports its children is not a dependency of them.
    for rel, deps in graph.items():
        if rel.endswith("mod.rs") or rel == "lib.rs":
            pass
    problems = 0
    for comp in cycles(graph):
        # Edges from a mod.rs to its own children (declarations, re-exports) are structural.
        problems += 1
        print("cycle: " + " <-> ".join(comp))
    for rel, deps in sorted(graph.items()):
        for d in sorted(deps):
            if layer_of(d) > layer_of(rel) and not rel.startswith(d.rsplit(os.sep, 1)[0] + os.sep):
                problems += 1
                print(f"upward: {rel} -> {d}")
    if "--graph" in sys.argv:
        for rel, deps in sorted(graph.items()):
            print(rel, "->", " ".join(sorted(deps)))
    if problems:
        print(f"{problems} layering problem(s)")
        return 1
    print(f"import graph: {len(graph)} files, no cycles, no upward arrows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
