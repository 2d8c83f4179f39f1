#!/usr/bin/python3
"""bench/run --quick: the pipeline driver runs its three workloads and their bounds end to end,
writes a results file with every field the README's table uses, and analysis/compare.py reads it.
No timing is asserted (figures on a shared machine are noise); only that they exist and are sane.

    bench_run_smoke_test.py SHMJOB BOUND_BENCH
"""
import json
import os
import subprocess
import sys
import tempfile

from helpers.smoke_common import Failures

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    shmjob, bound = sys.argv[1], sys.argv[2]
    failures = Failures("bench_run_smoke")
    check = failures.check

    with tempfile.TemporaryDirectory(prefix="bench-run-smoke-") as tmp:
        out = os.path.join(tmp, "quick.json")
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run"), "--quick", "--shmjob", shmjob,
                               "--bound-bench", bound, "--tmpdir", tmp, "--json", out],
                              capture_output=True, text=True, timeout=500)
        check(proc.returncode == 0, f"bench/run exited {proc.returncode}: {proc.stderr[-2000:]}")
        check(os.path.exists(out), "no results file")
        if failures:
            return failures.report()
        with open(out) as f:
            doc = json.load(f)
        check(doc.get("format") == "shmjob-bench" and doc.get("format_version") == 1, "format fields")
        names = [w["workload"]["name"] for w in doc.get("workloads", [])]
        check(names == ["large", "small", "ingest"], f"workloads {names}")
        for res in doc.get("workloads", []):
            name = res["workload"]["name"]
            s = res["summary"]
            check(s["rounds"] == 1 and s["ok_rounds"] == 1, f"{name}: rounds {s['rounds']}/{s['ok_rounds']}")
            for key in ("matrices_per_s", "mb_per_s_in", "mb_per_s_out", "ratio", "compression_bound_matrices_per_s",
                        "disk_bound_mb_per_s", "vs_bound", "cpu_efficiency", "first_write_s"):
                d = s.get(key) or {}
                v = d.get("median")
                check(isinstance(v, (int, float)) and v > 0, f"{name}: {key} = {v!r}")
                check(d.get("min") is not None and d["min"] <= v <= d["max"], f"{name}: {key} spread {d}")
            check(s.get("split") == {"producers": 1, "compressors": 2, "writers": 1}, f"{name}: split {s.get('split')}")
            rd = res["rounds"][0]
            # The bound compressed exactly the run's bytes (same matrices, level, shuffle).
            check(rd["compression_bound"]["threads"] == 2, f"{name}: bound threads")
            check(rd["compression_bound"]["compressed_bytes"] == rd["pipeline"]["compressed_bytes"],
                  f"{name}: bound compressed {rd['compression_bound']['compressed_bytes']} bytes, "
                  f"the run {rd['pipeline']['compressed_bytes']}")
            check(rd["disk_bound"]["bytes"] == rd["pipeline"]["compressed_bytes"], f"{name}: disk bound bytes")
            check(rd["limiting_bound"] in ("compression", "disk"), f"{name}: limiting bound")
        cmp = subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "compare.py"), out, "-o",
                              os.path.join(tmp, "c.html")], capture_output=True, text=True, timeout=60)
        check(cmp.returncode == 0, f"compare.py exited {cmp.returncode}: {cmp.stderr[-1000:]}")
        lines = [line for line in cmp.stdout.splitlines() if line.startswith("quick.json")]
        check(len(lines) == 3, f"compare.py rows: {cmp.stdout}")
        with open(os.path.join(tmp, "c.html")) as f:
            check('id="bench"' in f.read(), "compare.py HTML has no bench table")
    return failures.report()


if __name__ == "__main__":
    sys.exit(main())
