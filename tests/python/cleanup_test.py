#!/usr/bin/env python3
"""`shmjob cleanup` after mpirun itself was SIGKILLed: Open MPI then leaves its shared-memory
segments (/dev/shm/vader_segment.*) and its session directory (/tmp/ompi.<host>.<uid>/pid.<mpirun
pid>) behind. While another job runs:
  - job B is started, its mpirun SIGKILLed mid-run: its ranks go away, its files stay;
  - `shmjob cleanup --dry-run` lists B's files and none of the running job A's, removes nothing;
  - `shmjob cleanup` removes B's files; A's stay and A finishes with exit 0 and a complete master;
  - afterwards nothing new is left in /dev/shm.

usage: cleanup_test.py SHMJOB
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import h5py

from helpers.shm_check import leftover_entries, shm_entries

failures = []
passed = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    (passed if condition else failures).append(message)


def job_config(tmp, name, count, level, writer_delay_ms=0):
    config = {"job": name, "output_dir": os.path.join(tmp, name), "metrics": {"interval_s": 0.1},
              "matrices": {"count": count, "rows": 160, "cols": 160, "kind": "smooth"},
              "stages": {"producers": 1, "compressors": 1, "writers": 1}, "compression": {"level": level}}
    if writer_delay_ms:
        config["testing"] = {"writer_delay_ms": writer_delay_ms}
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    return config, path


def wait_for_samples(config, timeout=120):
    metrics = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(metrics) and '"sample"' in open(metrics).read():
            return True
        time.sleep(0.05)
    return False


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def main():
    shmjob = sys.argv[1]
    before = shm_entries()
    session = f"/tmp/ompi.{socket.gethostname()}.{os.getuid()}"
    with tempfile.TemporaryDirectory(prefix="shmjob-cleanup-") as tmp:
        # Job A must outlive B's start, kill and the 6 s wait below on any machine: its writer is
        # paced (75 ms per matrix, at least 15 s) instead of relying on level 19 being slow enough.
        config_a, path_a = job_config(tmp, "running", 200, 19, writer_delay_ms=75)
        config_b, path_b = job_config(tmp, "killed", 400, 19)
        job_a = subprocess.Popen(["mpirun", "-n", "3", shmjob, path_a], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        check(wait_for_samples(config_a), "job A runs")
        a_entries = shm_entries() - before
        job_b = subprocess.Popen(["mpirun", "-n", "3", shmjob, path_b], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        check(wait_for_samples(config_b), "job B runs")
        b_ranks = children(job_b.pid)
        b_entries = shm_entries() - before - a_entries
        job_b.send_signal(signal.SIGKILL)
        job_b.wait()
        deadline = time.time() + 60
        while any(alive(p) for p in b_ranks) and time.time() < deadline:
            time.sleep(0.1)
        ended_b = time.time()  # B's ranks wrote their segments until here
        stray = [p for p in b_ranks if alive(p)]
        check(not stray, f"B's ranks end when their mpirun is killed ({stray} left)")
        for p in stray:
            os.kill(p, signal.SIGKILL)
        left_b = sorted(e for e in b_entries if os.path.exists(os.path.join("/dev/shm", e)))
        b_session = os.path.join(session, f"pid.{job_b.pid}")
        print(f"      left by the killed mpirun: {left_b}, session dir exists: {os.path.isdir(b_session)}")
        check(bool(left_b), "a SIGKILLed mpirun leaves vader segments in /dev/shm (what cleanup is for)")

        time.sleep(max(0.0, ended_b + 6 - time.time()))  # cleanup leaves files younger than 5 s
        check(job_a.poll() is None, "job A still runs when cleanup starts (else the test proves less)")
        dry = subprocess.run([shmjob, "cleanup", "--dry-run"], capture_output=True, text=True)
        listed = dry.stdout
        check(dry.returncode == 0 and all(("/dev/shm/" + e) in listed for e in left_b),
              f"--dry-run lists B's segments (exit {dry.returncode})")
        check(not any(("/dev/shm/" + e) in listed for e in a_entries), "--dry-run does not list A's segments")
        check(all(os.path.exists(os.path.join("/dev/shm", e)) for e in left_b), "--dry-run removes nothing")
        check(not os.path.isdir(b_session) or b_session in listed, "--dry-run lists B's session directory")

        run = subprocess.run([shmjob, "cleanup"], capture_output=True, text=True)
        check(run.returncode == 0, f"cleanup exits 0 ({run.stderr.strip()})")
        check(not any(os.path.exists(os.path.join("/dev/shm", e)) for e in left_b), "cleanup removed B's segments")
        check(not os.path.exists(b_session), "cleanup removed B's session directory")
        a_session = os.path.join(session, f"pid.{job_a.pid}")
        check(os.path.isdir(a_session) and all(os.path.exists(os.path.join("/dev/shm", e)) for e in a_entries),
              "cleanup left the running job's segments and session directory alone")

        out, err = job_a.communicate(timeout=600)
        check(job_a.returncode == 0, f"job A completes after the cleanup (exit {job_a.returncode}; {err.strip()[-200:]})")
        if job_a.returncode == 0:
            with h5py.File(os.path.join(config_a["output_dir"], "running.h5")) as f:
                status = f.attrs["status"]
                status = status.decode() if isinstance(status, bytes) else status
                check(status == "complete" and len(f["index"]) == 200, f"job A's master is complete ({status})")
    left = leftover_entries(before)
    check(not left, f"nothing new left in /dev/shm ({left})")
    print(f"{len(passed)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
