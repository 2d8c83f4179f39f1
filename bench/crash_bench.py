#!/usr/bin/env python3
"""Crash consistency, measured: SIGKILL a writer (or every rank at once, what a node crash does to
the processes) at a random moment of a run, many times; after each crash count the shards that
HDF5 still opens and the index rows they hold, then --resume and check the result against an
uninterrupted run (ids, crc32 and every matrix through the master).

usage: crash_bench.py SHMJOB [--runs N] [--seed S]   (prints one line per run and a summary)
Needs h5py and numpy (Debian python3-h5py); HDF5_PLUGIN_PATH defaults to build/plugins.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for key, value in (("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
                   ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
                   ("HDF5_PLUGIN_PATH", os.path.join(HERE, "..", "build", "plugins"))):
    os.environ.setdefault(key, value)  # before h5py loads HDF5

import h5py  # noqa: E402
import numpy as np  # noqa: E402

COUNT = 80
BASE = {"matrices": {"count": COUNT, "rows": 128, "cols": 128, "kind": "smooth", "seed": 3},
        "stages": {"producers": 1, "compressors": 2, "writers": 2},
        "compression": {"level": 17}, "metrics": {"interval_s": 0.1}, "flush": {"every_matrices": 4}}


def write_config(tmp, name):
    config = dict(BASE, job=name, output_dir=os.path.join(tmp, name))
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    return config, path


def ranks_of(mpirun_pid):
    out = subprocess.run(["pgrep", "-P", str(mpirun_pid)], capture_output=True, text=True).stdout
    ranks = {}
    for pid in map(int, out.split()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
            ranks[int(env[b"OMPI_COMM_WORLD_RANK"])] = pid
        except (OSError, KeyError, ValueError):
            pass
    return ranks


def writer_rank(metrics):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with open(metrics) as f:
                start = json.loads(f.readline())
            return next(r["rank"] for r in start["plan"]["ranks"] if r["role"] == "writer")
        except (OSError, ValueError, StopIteration):
            time.sleep(0.02)
    raise RuntimeError("no start record")


def read_master(config):
    with h5py.File(os.path.join(config["output_dir"], config["job"] + ".h5")) as f:
        index = f["index"][:]
        return f.attrs["status"], {int(r["id"]): int(r["crc32"]) for r in index}, f["data"][:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shmjob")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    totals = {"runs": 0, "shards": 0, "shards_open": 0, "rows_flushed": 0, "kept": 0, "resumed_ok": 0}
    with tempfile.TemporaryDirectory(prefix="shmjob-crash-") as tmp:
        ref_config, ref_path = write_config(tmp, "reference")
        t0 = time.time()
        subprocess.run(["mpirun", "-n", "5", args.shmjob, "--quiet", ref_path], check=True)
        duration = time.time() - t0
        _, ref_rows, ref_data = read_master(ref_config)
        for i in range(args.runs):
            mode = "writer" if i % 2 == 0 else "all ranks"
            config, path = write_config(tmp, f"crash{i}")
            job = subprocess.Popen(["mpirun", "-n", "5", args.shmjob, "--quiet", path],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            metrics = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
            victim_rank = writer_rank(metrics)
            delay = rng.uniform(0.05, duration * 0.8)
            time.sleep(delay)
            ranks = ranks_of(job.pid)
            targets = [ranks[victim_rank]] if mode == "writer" and victim_rank in ranks else list(ranks.values())
            for pid in targets:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            job.wait()
            shards = [n for n in os.listdir(config["output_dir"]) if ".shard-" in n]
            opened = flushed = 0
            for n in shards:
                try:
                    with h5py.File(os.path.join(config["output_dir"], n)) as f:
                        flushed += len(f["index"])
                        opened += 1
                except (OSError, KeyError) as e:
                    print(f"        {n} does not open right after the crash: {e}")
            r = subprocess.run(["mpirun", "-n", "5", args.shmjob, "--resume", path], capture_output=True, text=True)
            line = next((l for l in r.stdout.splitlines() if l.startswith("shmjob: resume:")), "")
            kept = int(line.split("kept ")[1].split()[0]) if "kept " in line else 0
            ok = False
            if r.returncode == 0:
                status, rows, data = read_master(config)
                ok = rows == ref_rows and all(np.array_equal(data[k], ref_data[k]) for k in range(COUNT))
            print(f"run {i:2d}: SIGKILL {mode:9s} at {delay:4.2f} s (job exit {job.returncode}): "
                  f"{opened}/{len(shards)} shards open, {flushed} index rows, resume kept {kept}, "
                  f"result {'equal' if ok else 'DIFFERENT'} (exit {r.returncode})", flush=True)
            totals["runs"] += 1
            totals["shards"] += len(shards)
            totals["shards_open"] += opened
            totals["rows_flushed"] += flushed
            totals["kept"] += kept
            totals["resumed_ok"] += ok
    print("summary: " + json.dumps(totals))
    sys.exit(0 if totals["resumed_ok"] == totals["runs"] else 1)


if __name__ == "__main__":
    main()
