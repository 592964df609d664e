#!/usr/bin/env python3
"""The import graph of src/ (one node per top-level module), and its cycles.

Reads the `crate::<module>` paths in code (comments and test modules left out), prints
`module -> modules it uses`, then the strongly connected components with more than one
module. Exits 1 when there is one: data flows log -> store -> readers, one way.
Usage: .ci/import-graph.py [a>b ...]   (each a>b also prints the files that make that edge)
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
deps, edges = {}, {}
for dirpath, _, files in os.walk(ROOT):
    for f in files:
        if not f.endswith(".rs") or f == "tests.rs":
            continue
        rel = os.path.relpath(os.path.join(dirpath, f), ROOT)
        if rel.startswith("bin"):
            continue
        top = rel.split("/")[0].removesuffix(".rs")
        if top == "lib":
            continue
        text = open(os.path.join(dirpath, f)).read()
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
        text = "\n".join(line.split("//")[0] for line in text.split("\n"))
        used = set(re.findall(r"crate::([a-z_]+)", text)) - {top}
        deps.setdefault(top, set()).update(used)
        for d in used:
            edges.setdefault((top, d), []).append(rel)

graph = {m: sorted(d for d in ds if d in deps) for m, ds in deps.items()}
for m in sorted(graph):
    print(m, "->", " ".join(graph[m]))

# Tarjan's strongly connected components.
index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in graph.get(v, []):
        if w not in index:
            visit(w)
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
            cycles.append(sorted(comp))


for v in sorted(graph):
    if v not in index:
        visit(v)
for arg in sys.argv[1:]:
    a, _, b = arg.partition(">")
    print(f"{a} -> {b}:", edges.get((a, b)))
print("cycles:", cycles or "none")
sys.exit(1 if cycles else 0)
