#!/usr/bin/env python3
"""Interrupting a running job: a signal stops production, the pipeline drains, and the master
file is written with status "interrupted"; exit code 4. Two ways in:
  - SIGTERM sent to every rank (what Slurm's time limit and scancel do to srun-launched ranks);
  - SIGUSR1 sent to mpirun, which forwards it to the ranks.
Checks: exit code 4, one "shmjob: interrupted: X of N" line, status "interrupted", fewer than N
matrices, every writer's ids are the first ones of its shard block (no holes), and every indexed
matrix read from its shard equals the regenerated one with the right crc32.

usage: interrupt_test.py SHMJOB
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib

import h5py
import numpy as np

from shmjob_synthetic import regenerate_from_config

failures = []
passed = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message)
    (passed if condition else failures).append(message)


def wait_for_written(metrics, at_least, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(metrics) as f:
                samples = [json.loads(l) for l in f if '"sample"' in l]
            if samples and samples[-1]["written"] >= at_least:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return False


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def run_interrupted(shmjob, tmp, name, how):
    config = {"job": name, "output_dir": os.path.join(tmp, name),
              "matrices": {"count": 60, "rows": 512, "cols": 256, "kind": "smooth"},
              "stages": {"producers": 1, "compressors": 2, "writers": 2},
              "compression": {"level": 19}, "metrics": {"interval_s": 0.1}}
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    job = subprocess.Popen(["mpirun", "-n", "5", shmjob, path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    started = wait_for_written(os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl"), 4)
    check(started, f"{name}: the job got going")
    if how == "ranks":
        for pid in children(job.pid):
            os.kill(pid, signal.SIGTERM)
    else:
        job.send_signal(signal.SIGUSR1)
    out, err = job.communicate(timeout=300)
    check(job.returncode == 4, f"{name}: exit code {job.returncode} (expected 4)")
    lines = [l for l in err.splitlines() if l.startswith("shmjob: interrupted:")]
    check(len(lines) == 1 and "of 60 matrices written" in lines[0], f"{name}: one interrupted line: {lines}")
    return config


def check_output(config):
    name = config["job"]
    with h5py.File(os.path.join(config["output_dir"], name + ".h5")) as f:
        status = f.attrs["status"]
        status = status.decode() if isinstance(status, bytes) else status
        check(status == "interrupted", f"{name}: master status {status!r}")
        index = f["index"][:]
        shards = json.loads(f.attrs["shards"])
    ids = index["id"]
    check(0 < len(ids) < 60, f"{name}: {len(ids)} of 60 matrices written")
    check(bool(np.all(np.diff(ids.astype(np.int64)) > 0)), f"{name}: index sorted, no duplicates")
    bad = 0
    for shard_name in shards:
        with h5py.File(os.path.join(config["output_dir"], shard_name)) as s:
            data = s["data"]
            first = int(data.attrs["first_id"])
            rows = np.sort(index["row"][(index["id"] >= first) & (index["id"] < first + data.shape[0])])
            check(bool(np.array_equal(rows, np.arange(len(rows)))),
                  f"{name}: {shard_name} holds the first {len(rows)} ids of its block, no holes")
            for r in rows:
                m = data[int(r)]
                expected = regenerate_from_config(config, first + int(r))
                entry = index[index["id"] == first + int(r)][0]
                if m.tobytes() != expected.tobytes() or zlib.crc32(m.tobytes()) != int(entry["crc32"]):
                    bad += 1
    check(bad == 0, f"{name}: every written matrix equals its regenerated value, crc32 right ({bad} bad)")


def main():
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-intr-") as tmp:
        check_output(run_interrupted(shmjob, tmp, "term_ranks", "ranks"))
        check_output(run_interrupted(shmjob, tmp, "usr1_mpirun", "mpirun"))
    print(f"{len(passed)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
