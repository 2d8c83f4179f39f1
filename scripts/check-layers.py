#!/usr/bin/env python3
"""Checks the layering of the source tree (docs/architecture.md, "Code layout").

Reads every `#include "..."` in src/ and include/, maps each file to its folder (src/<folder>/...;
include/shmjob is "api"; a file directly in src/ is "src") and prints the folder-level dependency
graph. Fails (exit 1, naming each offending include) when a folder includes a folder of a higher
layer (LAYERS below, lowest first), when a folder is in no layer, or when folders form a cycle.

    scripts/check-layers.py [source root]     (default: the checkout this script is in)
"""
import os
import re
import sys

# Lowest first. A folder may include its own layer and the layers below; folders of one layer
# must not form a cycle either. "api" is include/shmjob: the public headers, which include only
# each other and the standard library.
LAYERS = [
    ["api"],
    ["util"],       # printable text, utf8, SIMD level, safe files, job lock, dtype, version
    ["config"],     # the job config, input config, matrix sets, tile grid, id ranges
    ["codec"],      # shuffle, zstd, checksums, matrix statistics, tiles
    ["transform"],  # transform kernels and chains, elementwise reductions (util + BLAS only)
    ["h5"],         # HDF5 building blocks: handles, filters, index table, shard/master writers
    ["input", "synthetic", "reader"],  # HDF5 ingest; generated matrices; reading the output
    ["topology"],   # hwloc topology, the role plan, binding
    ["shm", "mpi"],  # shared-memory building blocks; MPI helpers
    ["metrics"],    # counters, histograms, the metrics log, the job records
    ["resume"],     # what an earlier run left, what this one writes
    ["pipeline"],   # a node's pipeline: segment layout, stages, work order, samplers
    ["job"],        # orchestration: run_job, the job, output directory, interrupts, cleanup
    ["app"],        # the command line
]

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)
SOURCE_EXTENSIONS = (".cpp", ".hpp", ".h", ".cc", ".hpp.in")


def folder_of(root, path):
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    parts = rel.split("/")
    if parts[0] == "include":
        return "api" if len(parts) > 2 and parts[1] == "shmjob" else "include"
    if parts[0] == "src":
        return parts[1] if len(parts) > 2 else "src"
    return parts[0]


def resolve(root, including_file, name):
    """The file `#include "name"` in `including_file` means, or None (generated, outside)."""
    candidates = [os.path.join(os.path.dirname(including_file), name),
                  os.path.join(root, "src", name),
                  os.path.join(root, "include", name)]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    return None


def source_files(root):
    for top in ("src", "include"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for filename in sorted(filenames):
                if filename.endswith(SOURCE_EXTENSIONS):
                    yield os.path.join(dirpath, filename)


def find_cycles(graph):
    """Strongly connected components with more than one folder (Tarjan)."""
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            scc = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                scc.append(member)
                if member == node:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sccs


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    layer_of = {folder: i for i, layer in enumerate(LAYERS) for folder in layer}

    graph = {}      # folder -> set of folders it includes
    edges = {}      # (from folder, to folder) -> ["file: #include", ...]
    unresolved = []
    for path in source_files(root):
        source = folder_of(root, path)
        graph.setdefault(source, set())
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for name in INCLUDE_RE.findall(text):
            target_path = resolve(root, path, name)
            if target_path is None:
                unresolved.append(f"{os.path.relpath(path, root)}: \"{name}\"")
                continue
            target = folder_of(root, target_path)
            if target == source:
                continue
            graph[source].add(target)
            edges.setdefault((source, target), []).append(f"{os.path.relpath(path, root)}: #include \"{name}\"")

    def order(folder):
        return (layer_of.get(folder, len(LAYERS)), folder)

    print("folder dependency graph (folder -> folders it includes), lowest layer first:")
    for folder in sorted(graph, key=order):
        layer = layer_of.get(folder)
        where = f"layer {layer}" if layer is not None else "no layer"
        uses = ", ".join(sorted(graph[folder], key=order)) or "-"
        print(f"  {folder:<10} ({where}) -> {uses}")
    if unresolved:
        print("includes not found in src/ or include/ (generated or external; not checked):")
        for line in unresolved:
            print(f"  {line}")

    problems = []
    for folder in sorted(graph, key=order):
        if folder not in layer_of:
            problems.append(f"folder {folder} is in no layer (add it to LAYERS in {os.path.basename(__file__)})")
    for (source, target), lines in sorted(edges.items(), key=lambda e: (order(e[0][0]), order(e[0][1]))):
        if source in layer_of and target in layer_of and layer_of[target] > layer_of[source]:
            problems.append(f"{source} (layer {layer_of[source]}) includes {target} (layer {layer_of[target]}), higher:")
            problems.extend(f"    {line}" for line in lines)
    for scc in find_cycles(graph):
        problems.append("cycle between folders " + ", ".join(scc) + ":")
        members = set(scc)
        for (source, target), lines in sorted(edges.items()):
            if source in members and target in members:
                problems.extend(f"    {line}" for line in lines)

    if problems:
        print("layering violations:")
        for line in problems:
            print(f"  {line}")
        return 1
    print("layers ok: every include goes to the same or a lower layer, no cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
