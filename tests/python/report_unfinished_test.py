#!/usr/bin/env python3
"""Runs that do not finish normally still give a report that says so.

- interrupted: SIGTERM to one rank of a running job; the log gets a "signal" event naming that
  rank, job_end says "interrupted", and the report's banner and event table show both;
- killed: SIGKILL to one rank (mpirun then takes the job down); the log ends without job_end,
  every line it has still matches the schema, and the report says the run did not finish, shows
  no headline figures and marks its verdict provisional;
- a log cut in the middle of a line (the last write of a killed job): the report still renders
  and lists the cut line.

usage: report_unfinished_test.py SHMJOB
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from helpers.report_common import ANALYSIS, fail, make_report, write_config
from helpers.shm_check import leftover_entries, shm_entries

sys.path.insert(0, ANALYSIS)
import shmjob_metrics as sm  # noqa: E402


def slow_config(directory, name):
    # Level 19 on random data: slow enough to be caught mid-run on any machine.
    return {"job": name, "output_dir": os.path.join(directory, name),
            "matrices": {"count": 400, "rows": 256, "cols": 256, "kind": "random"},
            "stages": {"producers": 1, "compressors": 2, "writers": 1},
            "compression": {"level": 19}, "metrics": {"interval_s": 0.1}}


def world_rank_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    return int(env[b"OMPI_COMM_WORLD_RANK"])


def start_and_signal(shmjob, directory, name, signum):
    """Starts the job, waits until a few matrices are written, sends `signum` to rank 1."""
    config = slow_config(directory, name)
    log = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
    job = subprocess.Popen(["mpirun", "-n", "4", shmjob, write_config(directory, config)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        run = sm.load(log) if os.path.exists(log) else None
        if run and run.samples and run.samples[-1]["written"] >= 3:
            break
        time.sleep(0.1)
    else:
        job.kill()
        fail(f"{name}: the job did not get going")
    ranks = {}
    for pid in subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True, text=True).stdout.split():
        try:
            ranks[world_rank_of(int(pid))] = int(pid)
        except (OSError, KeyError, ValueError):
            pass
    if 1 not in ranks:
        job.kill()
        fail(f"{name}: rank 1 not found among mpirun's children {ranks}")
    os.kill(ranks[1], signum)
    out, err = job.communicate(timeout=300)
    return log, job.returncode, err


def main():
    shmjob = sys.argv[1]
    before = shm_entries()
    with tempfile.TemporaryDirectory(prefix="shmjob-unfinished-") as tmp:
        # --- interrupted by a signal to one rank
        log, code, err = start_and_signal(shmjob, tmp, "interrupted", signal.SIGTERM)
        run = sm.load(log)
        problems = sm.schema_errors(log)
        if problems:
            fail("interrupted run's log does not match the schema:\n" + "\n".join(problems[:10]))
        if code == 0 or not run.end or run.end["status"] != "interrupted":
            fail(f"interrupted run: exit {code}, status {run.end and run.end['status']}\n{err}")
        signals = [e for e in run.events if e["kind"] == "signal"]
        if not signals or signals[0]["rank"] != 1 or "SIGTERM" not in signals[0]["message"]:
            fail(f"no signal event for rank 1: {run.events}")
        if not 0 <= signals[0]["t"] <= run.end["wall_seconds"]:
            fail(f"signal event time {signals[0]['t']} outside the run")
        page = make_report(log, os.path.join(tmp, "interrupted.html"))
        if "The run ended interrupted" not in page or "rank 1 received SIGTERM" not in page:
            fail("the interrupted run's report lacks its banner or the signal event")
        print(f"interrupted: {run.end['matrices']} of {run.end['expected']} written; event: {signals[0]['message']}")

        # --- killed: one rank SIGKILLed, mpirun aborts the job
        log, code, err = start_and_signal(shmjob, tmp, "killed", signal.SIGKILL)
        if code == 0:
            fail("killed run exited 0")
        run = sm.load(log)
        if run.finished:
            fail("a killed run's log has a job_end record")
        problems = sm.schema_errors(log)
        if problems:
            fail("killed run's log does not match the schema:\n" + "\n".join(problems[:10]))
        page = make_report(log, os.path.join(tmp, "killed.html"))
        if "The run did not finish" not in page:
            fail("the killed run's report does not say the run did not finish")
        if 'id="headline"' in page or 'data-key=' in page:
            fail("the killed run's report shows headline figures it cannot have")
        if "provisional" not in page:
            fail("the killed run's verdict is not marked provisional")
        print(f"killed: log ends at {run.last_t:.2f} s after {len(run.samples)} samples; verdict "
              f"{sm.verdict(run)['stage']} (provisional)")

        # --- the same log cut in the middle of its last line
        with open(log) as f:
            text = f.read()
        cut = os.path.join(tmp, "cut.jsonl")
        with open(cut, "w") as f:
            f.write(text + text.splitlines()[-1][: len(text.splitlines()[-1]) // 2])
        page = make_report(cut, os.path.join(tmp, "cut.html"))
        if "The run did not finish" not in page or "is not complete JSON" not in page:
            fail("the report of a log cut mid-line does not say so")
    left = leftover_entries(before)
    if left:
        fail(f"left in /dev/shm: {left}")
    print("OK")


if __name__ == "__main__":
    main()
