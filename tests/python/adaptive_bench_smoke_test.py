#!/usr/bin/python3
"""bench/adaptive_bench.py --quick: every job of the adaptive-compression benchmark runs and the
results file holds each job's throughput, ratio and mean level and every comparison of the issue's
goals. No timing is asserted (figures on a shared machine are noise); only that they exist and
are sane, and that the jobs compressed at the levels they were given.

    adaptive_bench_smoke_test.py SHMJOB
"""
import json
import os
import subprocess
import sys
import tempfile

from helpers.smoke_common import Failures

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    shmjob = sys.argv[1]
    failures = Failures("adaptive_bench_smoke")
    check = failures.check
    with tempfile.TemporaryDirectory(prefix="adaptive-bench-smoke-") as tmp:
        out = os.path.join(tmp, "quick.json")
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "adaptive_bench.py"), "--quick",
                               "--shmjob", shmjob, "--json", out], capture_output=True, text=True, timeout=500)
        check(proc.returncode == 0, f"adaptive_bench.py exited {proc.returncode}: {proc.stderr[-2000:]}")
        if proc.returncode == 0:
            with open(out) as f:
                r = json.load(f)
            check(len(r["results"]) == 12, f"{len(r['results'])} jobs, expected 12")
            for name, runs in r["results"].items():
                check(len(runs) == 1 and runs[0]["per_s"] > 0 and runs[0]["ratio"] > 1,
                      f"{name}: {runs}")
                if '"auto"' not in name.split("/")[-1] or name.startswith("shuffle/"):
                    check(runs[0]["mean_level"] == 3, f"{name}: fixed level 3, mean level {runs[0]['mean_level']}")
            for goal in ("shuffle_smooth", "shuffle_random", "level_delay40", "level_delay40/fixed-stages",
                         "level_delay0"):
                check(goal in r["goals"] and all(v is not None and v > 0 for v in r["goals"][goal].values()),
                      f"goal {goal}: {r['goals'].get(goal)}")
            check("comparisons" in proc.stdout, "no comparison table printed")
    return failures.report()


if __name__ == "__main__":
    sys.exit(main())
