#!/usr/bin/env python3
"""MPI test driver: runs a real shmjob job with mpirun and checks its output independently.

usage: run_job_test.py SHMJOB RANKS CONFIG_JSON [--h5dump PLUGIN_DIR] [--sample K]

CONFIG_JSON is a job config (a JSON string); output_dir is set to a fresh temp dir. The job must
exit 0 and print its summary; then verify_output.py reads the master and every shard with h5py
and compares every matrix with the numpy twin of the generator, and (with --h5dump) h5dump reads
it through the plugin too. Checks that the metrics log is valid JSON Lines with start, samples
and end records, and that nothing of ours is left in /dev/shm.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import shmjob_metrics  # analysis/, on PYTHONPATH
from helpers.shm_check import leftover_entries, shm_entries

HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers")


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def check_metrics(path, config, ranks):
    with open(path) as f:
        records = [json.loads(line) for line in f]
    types = [r["type"] for r in records]
    if types[0] != "job_start" or types[-1] != "job_end" or "sample" not in types:
        fail(f"metrics log records are {types[:3]}...{types[-2:]}")
    start, end = records[0], records[-1]
    if len(start["plan"]["ranks"]) != ranks:
        fail(f"start record plans {len(start['plan']['ranks'])} ranks, expected {ranks}")
    if start["config"]["matrices"] != config["matrices"] | start["config"]["matrices"]:
        fail("start record config differs from the job's")
    if end["status"] != "complete" or end["matrices"] != config["matrices"]["count"]:
        fail(f"end record: status {end['status']}, matrices {end['matrices']}")
    for key in ("seconds", "mb_per_s_in", "mb_per_s_out", "ratio", "matrices_per_s"):
        if not end[key] > 0:
            fail(f"end record {key} = {end[key]}")
    if len(end["ranks"]) != ranks:
        fail("end record lacks per-rank totals")
    last_sample = [r for r in records if r["type"] == "sample"][-1]
    if last_sample["written"] != last_sample["expected"]:
        fail("last sample does not show every matrix written")
    # Every record against the versioned schema (analysis/metrics.schema.json), and the end
    # record's distributions and stage totals count every matrix.
    problems = shmjob_metrics.schema_errors(path)
    if problems:
        fail("metrics log does not match its schema:\n  " + "\n  ".join(problems[:10]))
    count = config["matrices"]["count"]
    if end["latency"]["n"] != count or end["compression_ratios"]["n"] != count:
        fail(f"end record latency/ratio distributions count {end['latency']['n']}/"
             f"{end['compression_ratios']['n']} matrices, not {count}")
    # Elastic stages: matrices other ranks did for a stage are its "helped", apart from its own.
    stages = end["stages"]
    done = {k: stages[k]["matrices"] + stages[k].get("helped", 0) for k in ("producer", "compressor", "writer")}
    if any(n != count for n in done.values()):
        fail(f"end record stages count {done} matrices (own + helped), not {count}: {stages}")
    if end["bottleneck"]["stage"] not in ("producer", "compressor", "writer", "none"):
        fail(f"end record bottleneck {end['bottleneck']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shmjob")
    ap.add_argument("ranks", type=int)
    ap.add_argument("config")
    ap.add_argument("--h5dump", metavar="PLUGIN_DIR")
    ap.add_argument("--sample", type=int)
    args = ap.parse_args()

    config = json.loads(args.config)
    before = shm_entries()
    with tempfile.TemporaryDirectory(prefix="shmjob-test-") as tmp:
        config.setdefault("job", "test")
        config["output_dir"] = os.path.join(tmp, "out")
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        run = subprocess.run(["mpirun", "-n", str(args.ranks), args.shmjob, config_path],
                             capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            fail(f"shmjob exited {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}")
        if "complete:" not in run.stdout:
            fail(f"no summary on stdout: {run.stdout!r}")
        print(run.stdout.strip())
        master = os.path.join(config["output_dir"], config["job"] + ".h5")
        verify = [sys.executable, os.path.join(HELPERS, "verify_output.py"), master,
                  "--expect-count", str(config["matrices"]["count"])]
        if args.sample:
            verify += ["--sample", str(args.sample)]
        if subprocess.run(verify).returncode != 0:
            fail("verify_output.py rejected the output")
        if args.h5dump and subprocess.run(
                [sys.executable, os.path.join(HELPERS, "h5dump_check.py"), master, args.h5dump]).returncode != 0:
            fail("h5dump_check.py rejected the output")
        check_metrics(os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl"), config, args.ranks)
    left = leftover_entries(before)
    if left:
        fail(f"left in /dev/shm: {sorted(left)}")
    print("OK")


if __name__ == "__main__":
    main()
