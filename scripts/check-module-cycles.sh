#!/usr/bin/env bash
# No two modules of a crate may depend on each other (an import cycle).
#
# The rule, as checked:
#
# - A module depends on another when its code names it or an item in it: `use crate::a::…`,
#   `use super::b::…`, `use self::…`, or a path written in code (`crate::a::f()`). Paths are
#   attributed to the longest module they name (`crate::patch::apply` is the module
#   `patch::apply` if there is one, else the module `patch`). Re-exports are not followed.
# - A module and its own submodules may name each other freely: the parent declares its
#   children and re-exports their items, the children use the parent's types (as
#   `scim/src/filter.rs` and `filter/{parse,eval}.rs` do). Such a directory is one unit.
# - Between two modules of which neither contains the other, whole subtrees count: `a` depends on
#   `b` when `a` or any module inside it names `b` or any module inside `b`. For every module,
#   the dependencies among its children must have no cycle (`a` → `b` → `a`, or longer). So
#   `patch/apply.rs` naming `crate::group` while `group.rs` names `crate::patch` is a cycle
#   between `patch` and `group`; `filter_sql/columns.rs` and `filter_sql/jsonb.rs` naming each
#   other is a cycle inside `filter_sql`.
# - Test code does not count: modules declared under `#[cfg(test)]` (`tests.rs`,
#   `proptests.rs`, …) and items under `#[cfg(test)]`. Comments (doc links too) do not count.
#
# Every crate root under crates/*/src and integration-tests/src (lib.rs, main.rs, bin/*.rs) is
# walked through its `mod` declarations (or the roots given as arguments). Exits 1 and names the
# references that make each cycle; `--verbose` lists every reference between two modules.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import glob
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(src):
    """The code with comments and the contents of string and char literals blanked (same offsets)."""
    out = []
    i, n = 0, len(src)
    raw = re.compile(r'b?r(#*)"')
    char = re.compile(r"b?'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|.)|[^\\'\n])'")

    def blank(text):
        return re.sub(r"[^\n]", " ", text)

    while i < n:
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
            continue
        if src.startswith("/*", i):
            depth, j = 0, i
            while j < n:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                    if depth == 0:
                        break
                else:
                    j += 1
            out.append(blank(src[i:j]))
            i = j
            continue
        word_before = i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_")
        m = raw.match(src, i)
        if m and not word_before:
            end = src.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('"' + blank(src[i + 1 : end - 1]) + '"')
            i = end
            continue
        if src[i] == '"' or (src.startswith('b"', i) and not word_before):
            j = i + (2 if src[i] == "b" else 1)
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append('"' + blank(src[i + 1 : j - 1]) + '"')
            i = j
            continue
        m = char.match(src, i)
        if m and not word_before:
            out.append("'" + blank(m.group(0)[1:-1]) + "'")
            i = m.end()
            continue
        out.append(src[i])
        i += 1
    return "".join(out)


def item_end(code, start):
    """The end of the item starting at `start`: after its `;`, or after its `{ … }` block."""
    depth = 0
    for j in range(start, len(code)):
        c = code[j]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == ";" and depth == 0:
            return j + 1
        elif c == "{" and depth == 0:
            return matching(code, j)
    return len(code)


def matching(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


ATTRS = re.compile(r"((?:#\[[^\]]*\]\s*)+)")


def test_ranges(code):
    """Ranges of code under `#[cfg(test)]`."""
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        rest = ATTRS.match(code, m.end())
        start = rest.end() if rest else m.end()
        while start < len(code) and code[start].isspace():
            start += 1
        ranges.append((m.start(), item_end(code, start)))
    return ranges


def inside(pos, ranges):
    return any(a <= pos < b for a, b in ranges)


class Module:
    def __init__(self, path, file, code, parent_dir, is_root, offset=0, end=None):
        self.path = path  # tuple of names below the crate root
        self.file = file
        self.code = code
        self.offset = offset
        self.end = len(code) if end is None else end
        self.parent_dir = parent_dir
        self.is_root = is_root


def load(file):
    with open(file, encoding="utf-8") as f:
        return strip(f.read())


def child_file(module, name, path_attr):
    base = os.path.dirname(module.file)
    if path_attr:
        return os.path.join(base, path_attr)
    stem = os.path.splitext(os.path.basename(module.file))[0]
    directory = base if module.is_root or stem == "mod" else os.path.join(base, stem)
    for candidate in (os.path.join(directory, name + ".rs"), os.path.join(directory, name, "mod.rs")):
        if os.path.exists(candidate):
            return candidate
    return None


def walk(root_file):
    """Every non-test module of the crate rooted at `root_file`: path → Module; and every
    region of code that belongs to a module."""
    modules = {}
    regions = []  # (Module, start, end, excluded ranges)
    raw_src = {}

    def visit(module):
        modules[module.path] = module
        code = module.code
        tests = test_ranges(code)
        inline = []
        decl = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*([;{])")
        for m in decl.finditer(code, module.offset, module.end):
            if inside(m.start(2), tests) or any(a <= m.start() < b for a, b in inline):
                continue
            attrs, name, kind = m.group(1), m.group(2), m.group(3)
            if "cfg(test)" in attrs:
                continue
            if kind == "{":
                close = matching(code, m.end() - 1)
                inline.append((m.end(), close))
                visit(Module(module.path + (name,), module.file, code, None, False, m.end(), close))
                continue
            path_attr = None
            p = re.search(r'#\[path\s*=\s*"', attrs)
            if p:
                with open(module.file, encoding="utf-8") as f:
                    original = f.read()
                q = re.search(r'#\[path\s*=\s*"([^"]*)"', original[m.start() : m.end()])
                path_attr = q.group(1) if q else None
            file = child_file(module, name, path_attr)
            if file is None:
                continue
            visit(Module(module.path + (name,), file, load(file), None, False))
        regions.append((module, tests + inline))

    visit(Module((), root_file, load(root_file), None, True))
    return modules, regions


USE = re.compile(r"\buse\s+([^;]*);")


def use_paths(tree):
    """The paths a use tree names: `crate::{a, b::{c, d}}` → crate::a, crate::b::c, crate::b::d."""
    tokens = re.findall(IDENT + r"|::|[{},*]", tree)
    pos = 0

    def parse(prefix):
        nonlocal pos
        out = []
        current = list(prefix)
        while pos < len(tokens):
            t = tokens[pos]
            if t == "{":
                pos += 1
                while pos < len(tokens) and tokens[pos] != "}":
                    out.extend(parse(current))
                    if pos < len(tokens) and tokens[pos] == ",":
                        pos += 1
                pos += 1
                return out
            if t in (",", "}"):
                break
            if t == "::":
                pos += 1
                continue
            if t == "as":
                pos += 2
                continue
            if t == "*":
                pos += 1
                continue
            current.append(t)
            pos += 1
        out.append(current)
        return out

    return parse([])


CODE_PATH = re.compile(r"(?<![A-Za-z0-9_:])((?:crate|super|self)(?:\s*::\s*" + IDENT + r")+)")


def resolve(module_path, segments, modules):
    """The module a path names (the longest module prefix), or None for paths outside the crate."""
    if not segments:
        return None
    head = segments[0]
    if head == "crate":
        base, rest = (), segments[1:]
    elif head in ("super", "self"):
        base, rest = module_path, segments
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    target = base
    for name in rest:
        if target + (name,) in modules:
            target = target + (name,)
        else:
            break
    return target


def references(modules, regions):
    """(from module, to module, file, line) for every path in non-test code."""
    out = []
    for module, excluded in regions:
        code = module.code
        spans = []
        for m in USE.finditer(code, module.offset, module.end):
            if inside(m.start(), excluded):
                continue
            spans.append((m.start(), m.end()))
            for segments in use_paths(m.group(1)):
                out.append((module.path, segments, module.file, code.count("\n", 0, m.start()) + 1))
        for m in CODE_PATH.finditer(code, module.offset, module.end):
            if inside(m.start(), excluded) or inside(m.start(), spans):
                continue
            segments = re.findall(IDENT, m.group(1))
            out.append((module.path, segments, module.file, code.count("\n", 0, m.start()) + 1))
    edges = []
    for path, segments, file, line in out:
        target = resolve(path, segments, modules)
        if target is not None:
            edges.append((path, target, file, line))
    return edges


def name(path):
    return "crate" if not path else "::".join(path)


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, result = {}, {}, [], set(), []
    counter = [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return result


def check(root_file):
    modules, regions = walk(root_file)
    problems = []
    # For each parent, the dependencies among its children (subtrees aggregated).
    by_parent = {}
    for source, target, file, line in references(modules, regions):
        if verbose and source != target:
            print(f"{file}:{line}: {name(source)} → {name(target)}")
        common = 0
        while common < min(len(source), len(target)) and source[common] == target[common]:
            common += 1
        if common == len(source) or common == len(target):
            continue  # one contains the other
        parent = source[:common]
        a, b = source[: common + 1], target[: common + 1]
        by_parent.setdefault(parent, {}).setdefault(a, {}).setdefault(b, []).append(
            (source, target, file, line)
        )
    for parent, graph in sorted(by_parent.items()):
        for component in cycles(graph):
            members = set(component)
            lines = [f"{root_file}: import cycle in {name(parent)}: " + " ↔ ".join(name(c) for c in component)]
            for a in component:
                for b, refs in sorted(graph.get(a, {}).items()):
                    if b in members:
                        source, target, file, line = refs[0]
                        more = f" (+{len(refs) - 1} more)" if len(refs) > 1 else ""
                        lines.append(f"  {name(a)} → {name(b)}: {file}:{line} names {name(target)}{more}")
            problems.append("\n".join(lines))
    return problems


verbose = "--verbose" in sys.argv[1:]
roots = [a for a in sys.argv[1:] if a != "--verbose"] or sorted(
    glob.glob("crates/*/src/lib.rs")
    + glob.glob("crates/*/src/main.rs")
    + glob.glob("crates/*/src/bin/*.rs")
    + glob.glob("integration-tests/src/lib.rs")
    + glob.glob("integration-tests/src/bin/*.rs")
)
problems = [p for root in roots for p in check(root)]
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"no module import cycles ({len(roots)} crate roots)")
PY
