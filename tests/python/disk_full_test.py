#!/usr/bin/env python3
"""Disk full while writing: the job must stop on every rank with exit code 1 and one error line
naming the shard file and the system's message, and must not leave a master file claiming the
job is complete. Uses a 600 KiB tmpfs, so it needs root and mount(8); otherwise it is skipped
(exit 77, ctest's SKIP_RETURN_CODE).

usage: disk_full_test.py SHMJOB
"""
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77


def main():
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-full-") as tmp:
        mnt = os.path.join(tmp, "tiny")
        os.makedirs(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", mnt],
                          capture_output=True).returncode != 0:
            print("skipped: cannot mount a tmpfs here")
            sys.exit(SKIP)
        try:
            config = {"job": "full", "output_dir": os.path.join(mnt, "out"),
                      "matrices": {"count": 40, "rows": 200, "cols": 200, "kind": "random"},
                      "stages": {"producers": 1, "compressors": 2, "writers": 1},
                      "compression": {"level": 1},
                      # The log outside the full disk, so its error event can be written.
                      "metrics": {"path": os.path.join(tmp, "metrics.jsonl")}}
            path = os.path.join(tmp, "full.json")
            with open(path, "w") as f:
                json.dump(config, f)
            run = subprocess.run(["mpirun", "-n", "4", shmjob, path], capture_output=True,
                                 text=True, timeout=300)
            errors = [l for l in run.stderr.splitlines() if l.startswith("shmjob: error:")]
            problems = []
            if run.returncode != 1:
                problems.append(f"exit code {run.returncode}, expected 1")
            if len(errors) != 1:
                problems.append(f"expected one error line, got {errors}")
            elif "full.shard-00000.h5" not in errors[0] or "No space left on device" not in errors[0]:
                problems.append(f"message does not name the shard and the cause: {errors[0]}")
            files = os.listdir(config["output_dir"])
            if "full.h5" in files:
                problems.append("a master file was written for a failed job")
            with open(config["metrics"]["path"]) as f:
                records = [json.loads(line) for line in f if line.strip()]
            if records and records[-1].get("type") == "job_end" and records[-1]["status"] != "failed":
                problems.append(f"job_end status {records[-1]['status']}")
            error_events = [r for r in records if r.get("type") == "event" and r["kind"] == "error"]
            if not any("No space left on device" in e["message"] and e["rank"] == 3 for e in error_events):
                problems.append(f"no error event from the writer (rank 3) in the metrics log: {error_events}")
            print(errors[0] if errors else run.stderr)
            for p in problems:
                print("FAIL:", p)
            print(f"{5 - len(problems)} passed, {len(problems)} failed")
            sys.exit(1 if problems else 0)
        finally:
            subprocess.run(["umount", mnt])


if __name__ == "__main__":
    main()
