#!/usr/bin/env python3
"""Runtime I/O errors: exit code 3 on every rank, one error line naming the path, no master
claiming the job is complete, and nothing left in /dev/shm.

  - disk full mid-run (a 600 KiB tmpfs): the line names the shard and "No space left on
    device", the writer's error is an event in the metrics log (kept outside the tmpfs); then the tmpfs is grown and --resume finishes the job: every matrix read through
    the master equals its regenerated value and the index crc32;
  - an unwritable output directory (a read-only tmpfs; root ignores permission bits): as
    output_dir itself, and as the parent of output_dir;
  - a missing directory: metrics.path in a directory that does not exist, and output_dir deleted
    while the job runs (the master cannot be created).

Needs root and mount(8); otherwise it is skipped (exit 77, ctest's SKIP_RETURN_CODE).

usage: disk_full_test.py SHMJOB
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

import h5py
import numpy as np

from helpers.shm_check import leftover_entries, shm_entries
from shmjob_synthetic import regenerate_from_config

SKIP = 77
failures = []
passed = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    (passed if condition else failures).append(message)


def write(tmp, name, config):
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def mpirun(shmjob, path, *extra, ranks=4):
    return ["mpirun", "-n", str(ranks), shmjob, *extra, path]


def run(shmjob, path, *extra):
    return subprocess.run(mpirun(shmjob, path, *extra), capture_output=True, text=True, timeout=300)


def error_lines(result_stderr):
    return [l for l in result_stderr.splitlines() if l.startswith("shmjob: error:")]


def expect_io_error(name, result, fragments):
    errors = error_lines(result.stderr)
    check(result.returncode == 3, f"{name}: exit code {result.returncode} (expected 3)")
    check(len(errors) == 1 and all(f in errors[0] for f in fragments),
          f"{name}: one error line with {fragments}: {errors}")


def status_of(master):
    with h5py.File(master) as f:
        s = f.attrs["status"]
        return s.decode() if isinstance(s, bytes) else s


def disk_full_then_resume(shmjob, tmp, mnt):
    config = {"job": "full", "output_dir": os.path.join(mnt, "out"),
              "matrices": {"count": 40, "rows": 200, "cols": 200, "kind": "random"},
              "stages": {"producers": 1, "compressors": 2, "writers": 1},
              "compression": {"level": 1}, "flush": {"every_matrices": 2},
              # The log outside the full disk, so the writer's error event can be written.
              "metrics": {"path": os.path.join(tmp, "full-metrics.jsonl")}}
    path = write(tmp, "full", config)
    result = run(shmjob, path)
    expect_io_error("disk full", result, ["full.shard-00000.h5", "No space left on device"])
    master = os.path.join(config["output_dir"], "full.h5")
    check(not os.path.exists(master), "disk full: no master file")
    records = []
    with open(config["metrics"]["path"]) as f:
        for line in f:  # the full disk may have cut the last line
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    ends = [r for r in records if r.get("type") == "job_end"]
    check(all(r["status"] == "failed" for r in ends), "disk full: the metrics log does not call the job done")
    error_events = [r for r in records if r.get("type") == "event" and r.get("kind") == "error"]
    check(any("No space left on device" in e["message"] and e["rank"] == 3 for e in error_events),
          f"disk full: the writer's (rank 3) error is an event in the metrics log: {error_events}")

    subprocess.run(["mount", "-o", "remount,size=16m", mnt], check=True)
    result = run(shmjob, path, "--resume")
    check(result.returncode == 0, f"disk full, space freed, --resume: exit {result.returncode} "
                                  f"({error_lines(result.stderr)})")
    print("      " + " | ".join(l for l in result.stdout.splitlines() if "resume" in l))
    if result.returncode != 0:
        return
    check(status_of(master) == "complete", "resumed after disk full: master complete")
    with h5py.File(master) as f:
        index = f["index"][:]
        data = f["data"][:]
    check(np.array_equal(index["id"], np.arange(40)), "resumed after disk full: index lists every id once")
    bad = [i for i in range(40)
           if data[i].tobytes() != regenerate_from_config(config, i).tobytes()
           or zlib.crc32(data[i].tobytes()) != int(index["crc32"][i])]
    check(not bad, f"resumed after disk full: every matrix equals its regenerated value ({bad[:5]} bad)")


def unwritable(shmjob, tmp, ro):
    good = {"matrices": {"count": 4, "rows": 10, "cols": 10},
            "stages": {"producers": 1, "compressors": 1, "writers": 1}}
    path = write(tmp, "ro_dir", dict(good, job="ro", output_dir=ro))
    expect_io_error("read-only output_dir", run(shmjob, path), ["output_dir", ro, "Read-only file system"])
    below = os.path.join(ro, "sub", "out")
    path = write(tmp, "ro_parent", dict(good, job="ro", output_dir=below))
    expect_io_error("output_dir below a read-only directory", run(shmjob, path),
                    ["output_dir", below, "Read-only file system"])


def missing(shmjob, tmp):
    out = os.path.join(tmp, "missing_metrics")
    nowhere = os.path.join(tmp, "no", "such", "dir", "m.jsonl")
    path = write(tmp, "missing_metrics", {"job": "mm", "output_dir": out, "metrics": {"path": nowhere},
                                          "matrices": {"count": 4, "rows": 10, "cols": 10},
                                          "stages": {"producers": 1, "compressors": 1, "writers": 1}})
    expect_io_error("metrics.path in a missing directory", run(shmjob, path),
                    ["metrics.path", os.path.dirname(nowhere), "does not exist"])

    out = os.path.join(tmp, "vanishing")
    config = {"job": "gone", "output_dir": out, "metrics": {"interval_s": 0.1},
              "matrices": {"count": 60, "rows": 128, "cols": 128, "kind": "smooth"},
              "stages": {"producers": 1, "compressors": 2, "writers": 1}, "compression": {"level": 19}}
    path = write(tmp, "vanishing", config)
    job = subprocess.Popen(mpirun(shmjob, path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not os.path.exists(os.path.join(out, "gone.shard-00000.h5")):
        time.sleep(0.02)
    shutil.rmtree(out)
    _, err = job.communicate(timeout=300)
    errors = error_lines(err)
    check(job.returncode == 3, f"output_dir deleted mid-run: exit code {job.returncode} (expected 3)")
    check(len(errors) == 1 and out in errors[0], f"output_dir deleted mid-run: one line naming {out}: {errors}")
    check(not os.path.exists(os.path.join(out, "gone.h5")), "output_dir deleted mid-run: no master")


def main():
    shmjob = sys.argv[1]
    before = shm_entries()
    with tempfile.TemporaryDirectory(prefix="shmjob-io-") as tmp:
        mnt, ro = os.path.join(tmp, "tiny"), os.path.join(tmp, "ro")
        os.makedirs(mnt)
        os.makedirs(ro)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", mnt],
                          capture_output=True).returncode != 0:
            print("skipped: cannot mount a tmpfs here")
            sys.exit(SKIP)
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", ro], check=True)
            disk_full_then_resume(shmjob, tmp, mnt)
            unwritable(shmjob, tmp, ro)
            missing(shmjob, tmp)
        finally:
            subprocess.run(["umount", mnt])
            subprocess.run(["umount", ro])
    left = leftover_entries(before)
    check(not left, f"nothing left in /dev/shm ({left})")
    print(f"{len(passed)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
