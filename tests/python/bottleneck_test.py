#!/usr/bin/env python3
"""Runs with a known bottleneck are diagnosed as such, in the job_end record, in the last sample
and on the report page; compare.py lists both runs side by side.

- compressor-bound: one compressor at zstd level 17 for one producer and two writers;
- writer-bound: one writer on a "slow disk" (testing.writer_delay_ms: it sleeps after every chunk
  write) behind two producers and two compressors at level 1.

usage: bottleneck_test.py SHMJOB
"""
import os
import re
import subprocess
import sys
import tempfile

from helpers.report_common import ANALYSIS, PYTHON, fail, make_report, run_job

sys.path.insert(0, ANALYSIS)
import shmjob_metrics as sm  # noqa: E402

RUNS = {
    "compressor": (4, {"job": "few_compressors",
                       "matrices": {"count": 24, "rows": 256, "cols": 256, "kind": "random"},
                       "stages": {"producers": 1, "compressors": 1, "writers": 2},
                       "compression": {"level": 17}, "metrics": {"interval_s": 0.1},
                       # 4 slots: with auto's 32 (512 KiB matrices) all 24 would fit at once and
                       # the producer would never have to wait
                       "slots": {"per_producer": 4, "per_compressor": 4}}),
    "writer": (5, {"job": "slow_writer",
                   "matrices": {"count": 60, "rows": 128, "cols": 128, "kind": "smooth"},
                   "stages": {"producers": 2, "compressors": 2, "writers": 1},
                   "compression": {"level": 1}, "metrics": {"interval_s": 0.1},
                   "slots": {"per_producer": 4, "per_compressor": 4},
                   "testing": {"writer_delay_ms": 25}}),
}


def main():
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-bottleneck-") as tmp:
        logs = []
        for stage, (ranks, config) in RUNS.items():
            log = run_job(shmjob, ranks, config, tmp)
            logs.append(log)
            problems = sm.schema_errors(log)
            if problems:
                fail(f"{config['job']}: log does not match the schema:\n" + "\n".join(problems[:10]))
            run = sm.load(log)
            verdict = run.end["bottleneck"]
            use = run.end["stages"]
            print(f"{config['job']}: {verdict['sentence']} -> {verdict['suggestion']}")
            print("  active: " + ", ".join(f"{s} {use[s]['active']:.0%}" for s in sm.STAGES))
            if verdict["stage"] != stage:
                fail(f"{config['job']}: diagnosed {verdict['stage']}-bound, expected {stage}-bound")
            last = run.node_samples(0)[-1]["bottleneck"]["stage"]
            if last != stage:
                fail(f"{config['job']}: the last sample says {last}-bound")
            if stage == "writer" and not use["writer"]["wait_disk"] > use["writer"]["busy"]:
                fail("the throttled writer's time is not counted as time on the disk")
            if stage == "compressor" and not use["producer"]["wait_slot"] > use["producer"]["busy"]:
                fail("producers behind a slow compressor did not mostly wait for free slots")
            page = make_report(log, os.path.join(tmp, f"{config['job']}.html"))
            shown = re.search(r'id="verdict" data-stage="(\w+)"', page)
            if not shown or shown.group(1) != stage:
                fail(f"{config['job']}: the report shows {shown and shown.group(1)}")
            if stage == "writer" and "test-only settings in use" not in page:
                fail("the report does not flag the testing section")

        html_path = os.path.join(tmp, "compare.html")
        run = subprocess.run([PYTHON, os.path.join(ANALYSIS, "compare.py"), *logs, "-o", html_path],
                             capture_output=True, text=True, timeout=120)
        print(run.stdout)
        if run.returncode != 0:
            fail(f"compare.py exited {run.returncode}: {run.stderr}")
        rows = run.stdout.splitlines()
        for job, stage in (("few_compressors", "compressor"), ("slow_writer", "writer")):
            row = next((r for r in rows if r.startswith(job)), "")
            if not row.rstrip().endswith(stage):
                fail(f"compare.py row for {job} does not end with {stage}: {row!r}")
        with open(html_path) as f:
            table = f.read()
        if table.count("<tr>") != 3 or "few_compressors" not in table:
            fail("compare.py's HTML table does not hold both runs")
    print("OK")


if __name__ == "__main__":
    main()
