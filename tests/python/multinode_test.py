#!/usr/bin/env python3
"""The multi-node code path on one machine: `testing.pretend_nodes` splits the ranks into
pretend nodes, each with its own window, plan, lanes, shards and metrics log; producers of all
nodes claim blocks of matrices from one job-wide counter (MPI_Fetch_and_op on rank 0).

Cases, each compared with a single-node run of the same matrices (every matrix by id through
the master with h5py; index ids, crc32 and raw sizes) and checked with `shmjob verify`:
  - synthetic, 7 ranks as 2 pretend nodes (4 + 3);
  - an ingest of two shapes (two matrix sets), 10 ranks as 3 pretend nodes (4 + 3 + 3);
  - 7 ranks as 2 pretend nodes where node 1's writers are slowed (testing.slow_node): node 1
    must take fewer matrices than node 0 (the dynamic hand-out; no timing is asserted);
  - 7 ranks as 2 pretend nodes interrupted by SIGTERM (exit 4, master "interrupted"), then
    --resume with 3 pretend nodes (another node count): complete and equal to the reference.
For every multi-node run: every node wrote at least one shard (the index's writer ranks, mapped
to nodes by the master's plan), each node has its own metrics log, job_end's `nodes` shares are
each > 0 and add up to the matrices written, the logs validate against the schema, and the
report shows the per-node table. Nothing may be left in /dev/shm.

usage: multinode_test.py SHMJOB
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

import shmjob_metrics
from helpers.shm_check import leftover_entries, shm_entries

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "analysis", "report.py")
COUNT = 60
SYNTHETIC = {"matrices": {"count": COUNT, "rows": 96, "cols": 80, "kind": "smooth", "seed": 11},
             "compression": {"level": 3}, "metrics": {"interval_s": 0.1},
             "flush": {"every_matrices": 4}, "multinode": {"min_block": 2},
             # 4 slots, not auto's 64: the slowed node and the interrupt need backpressure to
             # show (with 64 a node buffers whole blocks and the job ends before the signal)
             "slots": {"per_producer": 4, "per_compressor": 4}}

failures = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    if not condition:
        failures.append(message)


def write_config(tmp, name, base, **sections):
    config = json.loads(json.dumps(base))
    config.update({"job": name, "output_dir": os.path.join(tmp, name)})
    for section, value in sections.items():
        config.setdefault(section, {}).update(value)
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    return config, path


def start(shmjob, ranks, path, *extra):
    return subprocess.Popen(["mpirun", "-n", str(ranks), shmjob, *extra, path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(shmjob, ranks, path, *extra):
    job = start(shmjob, ranks, path, *extra)
    out, err = job.communicate(timeout=300)
    return job.returncode, out, err


def master_path(config):
    return os.path.join(config["output_dir"], config["job"] + ".h5")


def read_job(config):
    """(master attrs, {dataset name: (index rows, {id: matrix})}) through the master."""
    sets = {}
    with h5py.File(master_path(config)) as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        for d in json.loads(attrs["datasets"]):
            index = f[d["index"]][:]
            data = f[d["name"]][:]
            sets[d["name"]] = (index, {int(r["id"]): data[int(r["id"]) - d["first_id"]] for r in index})
    return attrs, sets


def compare(name, config, reference):
    attrs, sets = read_job(config)
    ref_attrs, ref_sets = reference
    check(attrs["status"] == "complete", f"{name}: master status {attrs['status']!r}")
    check(sorted(sets) == sorted(ref_sets), f"{name}: datasets {sorted(sets)}")
    for set_name, (index, matrices) in sets.items():
        ref_index, ref_matrices = ref_sets.get(set_name, (None, {}))
        if ref_index is None:
            continue
        ids = [int(i) for i in index["id"]]
        check(ids == sorted(ids) and ids == [int(i) for i in ref_index["id"]],
              f"{name}: {set_name}: index lists the reference's {len(ref_index)} ids once each, in order")
        rows = {int(r["id"]): (int(r["crc32"]), int(r["raw_bytes"]), int(r["compressed_bytes"])) for r in index}
        ref_rows = {int(r["id"]): (int(r["crc32"]), int(r["raw_bytes"]), int(r["compressed_bytes"])) for r in ref_index}
        check(rows == ref_rows, f"{name}: {set_name}: index crc32 and sizes equal the single-node run's")
        equal = sum(1 for i, m in ref_matrices.items()
                    if i in matrices and matrices[i].dtype == m.dtype and np.array_equal(matrices[i], m))
        check(equal == len(ref_matrices),
              f"{name}: {set_name}: every matrix by id equals the single-node run's ({equal} of {len(ref_matrices)})")
    verify = subprocess.run([SHMJOB, "verify", config["output_dir"]], capture_output=True, text=True)
    check(verify.returncode == 0, f"{name}: shmjob verify passes: {verify.stdout.strip().splitlines()[-1:]}"
                                  f"{verify.stderr.strip()[-300:]}")


def node_checks(name, config, nodes, total):
    """Every node wrote shards, has its log, and its share is in job_end; returns the shares."""
    attrs, sets = read_job(config)
    plan = json.loads(attrs["plan"])
    node_of = {r["rank"]: r["node"] for r in plan["ranks"]}
    shards_by_node = {}
    for index, _ in sets.values():
        for r in index:
            shards_by_node.setdefault(node_of[int(r["writer"])], set()).add(int(r["shard"]))
    check(sorted(shards_by_node) == list(range(nodes)),
          f"{name}: every one of the {nodes} nodes wrote shards: {dict(sorted((n, sorted(s)) for n, s in shards_by_node.items()))}")
    on_disk = sorted(n for n in os.listdir(config["output_dir"]) if ".shard-" in n)
    listed = json.loads(attrs["shards"])
    check(sorted(listed) == on_disk, f"{name}: the master lists every shard file ({len(on_disk)})")
    metrics = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
    logs = [metrics] + [metrics + ".node%d" % n for n in range(1, nodes)]
    check(all(os.path.exists(p) for p in logs), f"{name}: one metrics log per node ({len(logs)})")
    run_ = shmjob_metrics.load(metrics)
    check(run_.nodes == list(range(nodes)), f"{name}: the log has samples of every node: {run_.nodes}")
    shares = (run_.end or {}).get("nodes", [])
    counts = {s["node"]: s["matrices"] for s in shares}
    check(sorted(counts) == list(range(nodes)) and all(c > 0 for c in counts.values())
          and sum(counts.values()) == total,
          f"{name}: job_end's node shares {counts} are each > 0 and add up to {total}")
    check(all(s["blocks"] > 0 and s["shards"] > 0 for s in shares),
          f"{name}: every node claimed blocks and wrote shards: "
          f"{[(s['node'], s['blocks'], s['shards']) for s in shares]}")
    problems = shmjob_metrics.schema_errors(metrics)
    check(not problems, f"{name}: every node's log validates against the schema {problems[:3]}")
    html = os.path.join(config["output_dir"], "report.html")
    report = subprocess.run([sys.executable, REPORT, metrics, "-o", html], capture_output=True, text=True)
    text = open(html).read() if report.returncode == 0 and os.path.exists(html) else ""
    check("Matrices per node" in text and all(f">{c}<" in text for c in counts.values()),
          f"{name}: the report shows each node's share ({report.stderr.strip()[-200:]})")
    return counts


def make_inputs(tmp):
    """Two files, two shapes and dtypes: two matrix sets."""
    rng = np.random.default_rng(3)
    a = os.path.join(tmp, "in-a.h5")
    b = os.path.join(tmp, "in-b.h5")
    with h5py.File(a, "w") as f:
        f["frames"] = np.round(rng.normal(size=(26, 48, 40)), 2).astype(np.float32)
    with h5py.File(b, "w") as f:
        f["frames"] = rng.integers(0, 9, size=(19, 32, 32)).astype(np.int16)
    # 4 slots, as in SYNTHETIC: with auto's 64 the first producer to run claimed and buffered
    # most of the 45 matrices before another pretend node's producer got a turn on the 2 cores
    # (node 2 wrote nothing in a CI run).
    return {"input": {"files": [a, b], "dataset": "/frames"}, "compression": {"level": 3},
            "metrics": {"interval_s": 0.1}, "multinode": {"min_block": 2},
            "slots": {"per_producer": 4, "per_compressor": 4}}, 26 + 19


def main():
    global SHMJOB
    SHMJOB = sys.argv[1]
    shm_before = shm_entries()
    with tempfile.TemporaryDirectory(prefix="shmjob-multinode-") as tmp:
        # References: one node.
        ref_config, ref_path = write_config(tmp, "reference", SYNTHETIC)
        code, out, err = run(SHMJOB, 4, ref_path)
        check(code == 0, f"reference: single-node run exits 0 ({err.strip()[-300:]})")
        reference = read_job(ref_config)
        ingest_base, ingest_count = make_inputs(tmp)
        iref_config, iref_path = write_config(tmp, "ingest_reference", ingest_base)
        code, out, err = run(SHMJOB, 4, iref_path)
        check(code == 0, f"ingest reference: single-node run exits 0 ({err.strip()[-300:]})")
        ingest_reference = read_job(iref_config)

        # 2 pretend nodes of 4 + 3 ranks.
        # Writers sleep 25 ms per matrix, so no node can take all matrices before a late-starting
        # one claims its first block (every node must write shards).
        config, path = write_config(tmp, "two_nodes", SYNTHETIC, testing={"pretend_nodes": 2, "writer_delay_ms": 25})
        code, out, err = run(SHMJOB, 7, path)
        check(code == 0, f"two_nodes: exits 0 ({err.strip()[-300:]})")
        check("2 nodes, matrices written per node" in out, f"two_nodes: the summary names each node's share")
        compare("two_nodes", config, reference)
        print("      two_nodes:", node_checks("two_nodes", config, 2, COUNT))

        # An ingest of two sets on 3 pretend nodes of 4 + 3 + 3 ranks.
        config, path = write_config(tmp, "ingest_three_nodes", ingest_base, testing={"pretend_nodes": 3, "writer_delay_ms": 25})
        code, out, err = run(SHMJOB, 10, path)
        check(code == 0, f"ingest_three_nodes: exits 0 ({err.strip()[-300:]})")
        compare("ingest_three_nodes", config, ingest_reference)
        print("      ingest_three_nodes:", node_checks("ingest_three_nodes", config, 3, ingest_count))

        # Node 1's writers sleep 50 ms per matrix: node 1 must end up with fewer matrices.
        config, path = write_config(tmp, "slow_node", SYNTHETIC,
                                    testing={"pretend_nodes": 2, "writer_delay_ms": 50, "slow_node": 1})
        code, out, err = run(SHMJOB, 7, path)
        check(code == 0, f"slow_node: exits 0 ({err.strip()[-300:]})")
        compare("slow_node", config, reference)
        counts = node_checks("slow_node", config, 2, COUNT)
        print("      slow_node: matrices per node", counts)
        check(counts.get(1, COUNT) < counts.get(0, 0),
              f"slow_node: the slowed node 1 took fewer matrices than node 0 ({counts})")

        # Interrupted on 2 pretend nodes, resumed on 3.
        config, path = write_config(tmp, "interrupted", SYNTHETIC,
                                    testing={"pretend_nodes": 2, "writer_delay_ms": 60})
        job = start(SHMJOB, 7, path)
        metrics = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
        deadline = time.time() + 120
        written = 0
        while time.time() < deadline and written < 6:
            try:
                with open(metrics) as f:
                    samples = [json.loads(l) for l in f if '"sample"' in l]
                written = samples[-1]["written"] if samples else 0
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        pids = subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
        out, err = job.communicate(timeout=300)
        check(job.returncode == 4, f"interrupted: SIGTERM to every rank at {written} written by node 0 "
                                   f"exits 4 (got {job.returncode}; {err.strip()[-200:]})")
        attrs, sets = read_job(config)
        got = len(sets["data"][0])
        check(attrs["status"] == "interrupted" and 0 < got < COUNT,
              f"interrupted: master {attrs['status']!r} with {got} of {COUNT} matrices")
        with open(path) as f:
            resumed = json.load(f)
        resumed["testing"] = {"pretend_nodes": 3}
        with open(path, "w") as f:
            json.dump(resumed, f)
        code, out, err = run(SHMJOB, 9, path, "--resume")
        check(code == 0, f"interrupted: --resume on 3 pretend nodes exits 0 ({err.strip()[-300:]})")
        check("shmjob: resume: kept" in out, f"interrupted: the resume keeps what was written: "
                                            f"{[l for l in out.splitlines() if 'resume:' in l]}")
        compare("interrupted+resumed", resumed, reference)
    left = leftover_entries(shm_before)
    check(not left, f"nothing left in /dev/shm: {left}")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
