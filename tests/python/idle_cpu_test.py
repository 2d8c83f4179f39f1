#!/usr/bin/env python3
"""Waiting ranks must sleep, not spin: 16 ranks on this 2-core machine, one slow compressor
(zstd level 19) is the bottleneck, 13 ranks are idle and the producer and writer wait most of
the time. A spinning rank would burn about wall * cores / ranks = 12% of the wall time (more if
it busy-polls); a blocked one only what MPI start-up costs. Asserts each waiting rank used less
than 4% of the wall time in CPU, on a run long enough for that to be meaningful.

usage: idle_cpu_test.py SHMJOB
"""
import json
import os
import subprocess
import sys
import tempfile

RANKS = 16


def main():
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-idle-") as tmp:
        config = {"job": "idle", "output_dir": os.path.join(tmp, "out"),
                  "matrices": {"count": 12, "rows": 512, "cols": 256, "kind": "smooth"},
                  "stages": {"producers": 1, "compressors": 1, "writers": 1},
                  "compression": {"level": 19}, "metrics": {"interval_s": 0.5}}
        path = os.path.join(tmp, "idle.json")
        with open(path, "w") as f:
            json.dump(config, f)
        run = subprocess.run(["mpirun", "-n", str(RANKS), shmjob, path], capture_output=True,
                             text=True, timeout=300)
        if run.returncode != 0:
            print(f"FAIL: shmjob exited {run.returncode}: {run.stderr}")
            sys.exit(1)
        with open(os.path.join(config["output_dir"], "metrics.jsonl")) as f:
            end = [json.loads(line) for line in f][-1]
    wall = end["wall_seconds"]
    print(f"wall {wall:.2f} s; cpu by role: " +
          ", ".join(f"{k} {v:.2f} s" for k, v in end["cpu_s_by_role"].items()))
    if wall < 2.0:
        print(f"FAIL: the run took {wall:.2f} s, too short to tell sleeping from spinning")
        sys.exit(1)
    failures = 0
    for r in end["ranks"]:
        if r["role"] in ("idle", "writer", "producer"):
            share = r["cpu_s"] / wall
            if share >= 0.04:
                print(f"FAIL: rank {r['rank']} ({r['role']}) used {r['cpu_s']:.3f} s CPU in {wall:.2f} s")
                failures += 1
    idle = [r["cpu_s"] for r in end["ranks"] if r["role"] == "idle"]
    print(f"idle ranks: {len(idle)}, max cpu {max(idle):.3f} s, total {sum(idle):.3f} s over {wall:.2f} s")
    print(f"{len(end['ranks']) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
