#!/usr/bin/env python3
"""Waiting ranks must sleep, not spin: 16 ranks on a 2-core machine, one paced writer (it sleeps
100 ms after each matrix) limits the job and every other rank waits on it.

What is measured is the CPU each rank uses in the steady part of the run: between the first
sample that shows a written matrix and the last sample before the writers finished, from the
per-rank `cpu_s` the node's sampler reads in /proc. MPI start-up and finalisation, whose cost
differs from machine to machine (0.05 to 0.2 s per rank seen), fall outside that window. A rank
that sleeps in the kernel uses next to nothing there; a spinning one gets its share of the two
cores (about 2/16 of the time, more when fewer ranks spin). Asserts that every rank but the
compressor used less than 4% of the window.

With --expect-spinning SHIM the job runs with SHIM preloaded (tests/tools/spin_waits.cpp: every
futex wait returns at once, so waiting ranks poll) and the test passes only if the same check
finds spinning ranks: the check is shown to fail on a spinning build.

usage: idle_cpu_test.py SHMJOB [--expect-spinning SHIM]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

RANKS = 16
MATRICES = 40
WRITER_DELAY_MS = 100
MAX_SHARE = 0.04
MIN_WINDOW_S = 2.0
CHECKED_ROLES = ("idle", "writer", "producer")


def run_job(shmjob, tmp, preload):
    config = {"job": "idle", "output_dir": os.path.join(tmp, "out"),
              "matrices": {"count": MATRICES, "rows": 64, "cols": 64, "kind": "smooth"},
              "stages": {"producers": 1, "compressors": 1, "writers": 1},
              "metrics": {"interval_s": 0.25, "path": "idle-metrics.jsonl"},
              "testing": {"writer_delay_ms": WRITER_DELAY_MS}}
    path = os.path.join(tmp, "idle.json")
    with open(path, "w") as f:
        json.dump(config, f)
    command = ["mpirun", "-n", str(RANKS)]
    if preload:
        command += ["-x", f"LD_PRELOAD={preload}"]
    run = subprocess.run(command + [shmjob, "--quiet", path], capture_output=True, text=True,
                         timeout=300)
    if run.returncode != 0:
        print(f"FAIL: shmjob exited {run.returncode}: {run.stderr}")
        sys.exit(1)
    with open(os.path.join(config["output_dir"], config["metrics"]["path"])) as f:
        return [json.loads(line) for line in f]


def steady_window(records):
    """The first sample with a matrix written and the last one before all were written."""
    samples = [r for r in records if r.get("type") == "sample"]
    running = [s for s in samples if 0 < s["written"] < s["expected"]]
    if len(running) < 2:
        print(f"FAIL: {len(running)} samples while the writer ran; cannot measure a steady state")
        sys.exit(1)
    return running[0], running[-1]


def steady_shares(records):
    """{rank: (role, cpu share of the steady window)} and the window's length in seconds."""
    first, last = steady_window(records)
    window = last["t"] - first["t"]
    if window < MIN_WINDOW_S:
        print(f"FAIL: the steady part lasted {window:.2f} s, too short to tell sleeping from spinning")
        sys.exit(1)
    before = {r["rank"]: r for r in first["ranks"]}
    shares = {}
    for r in last["ranks"]:
        start = before.get(r["rank"])
        if start is None or "cpu_s" not in r or "cpu_s" not in start:
            print(f"FAIL: no CPU figure for rank {r['rank']} in the samples")
            sys.exit(1)
        shares[r["rank"]] = (r["role"], (r["cpu_s"] - start["cpu_s"]) / window)
    return shares, window


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("shmjob")
    parser.add_argument("--expect-spinning", metavar="SHIM")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shmjob-idle-") as tmp:
        records = run_job(args.shmjob, tmp, args.expect_spinning)
    shares, window = steady_shares(records)
    print(f"steady window {window:.2f} s; cpu share by rank: " +
          ", ".join(f"{rank} {role} {share:.3f}" for rank, (role, share) in sorted(shares.items())))
    spinning = [(rank, role, share) for rank, (role, share) in sorted(shares.items())
                if role in CHECKED_ROLES and share >= MAX_SHARE]
    checked = sum(1 for role, _ in shares.values() if role in CHECKED_ROLES)
    if args.expect_spinning:
        # Every waiting rank polls under the shim: the check must see (nearly) all of them.
        if len(spinning) < checked // 2:
            print(f"FAIL: with futex waits disabled only {len(spinning)} of {checked} waiting ranks "
                  f"reached {MAX_SHARE:.0%} of the window: the check does not catch spinning")
            sys.exit(1)
        print(f"the check caught {len(spinning)} of {checked} spinning ranks")
        return
    for rank, role, share in spinning:
        print(f"FAIL: rank {rank} ({role}) used {share:.1%} of a core in the steady part "
              f"(limit {MAX_SHARE:.0%}): it spins instead of sleeping")
    print(f"{checked - len(spinning)} passed, {len(spinning)} failed")
    sys.exit(1 if spinning else 0)


if __name__ == "__main__":
    main()
