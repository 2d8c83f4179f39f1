#!/usr/bin/python3
"""handoff_bench runs every benchmark family for a few iterations: it exits 0, its JSON names every
case, no case reports an error (a child that timed out, exited badly or sent a wrong value, an
HDF5 failure), the rates and counters exist, and it leaves nothing in $TMPDIR. No timing is asserted.

    handoff_bench_smoke_test.py HANDOFF_BENCH
"""
import json
import os
import subprocess
import sys
import tempfile

from helpers.smoke_common import Failures

EXPECTED = ["slot/acquire_release/slots:4", "slot/acquire_release/slots:64",
            "slot/acquire_release_wait/slots:4", "slot/acquire_release_wait/slots:64",
            "handoff/pingpong", "handoff/stream/cap:64/batch:1", "handoff/stream/cap:64/batch:32",
            "h5/write_chunk/4KiB", "h5/write_chunk/32KiB", "h5/write_chunk/256KiB", "h5/write_chunk/1MiB",
            "h5/write_chunk/8MiB"]
CHUNK_BYTES = {"4KiB": 4 << 10, "32KiB": 32 << 10, "256KiB": 256 << 10, "1MiB": 1 << 20, "8MiB": 8 << 20}


def main():
    bench = sys.argv[1]
    failures = Failures("handoff_bench_smoke")
    check = failures.check

    with tempfile.TemporaryDirectory(prefix="handoff-smoke-") as tmp:
        env = dict(os.environ, TMPDIR=tmp)
        proc = subprocess.run([bench, "--benchmark_min_time=0.01", "--benchmark_format=json"],
                              capture_output=True, text=True, timeout=300, env=env)
        check(proc.returncode == 0, f"handoff_bench exited {proc.returncode}: {proc.stderr[-2000:]}")
        check(os.listdir(tmp) == [], f"left in TMPDIR: {os.listdir(tmp)}")
        if failures:
            return failures.report()
        try:
            doc = json.loads(proc.stdout)
        except ValueError as e:
            return report([f"not JSON ({e}): {proc.stdout[:500]}"])
    # UseRealTime() cases carry a "/real_time" suffix.
    runs = {b["name"].removesuffix("/real_time"): b for b in doc.get("benchmarks", [])}
    check(sorted(runs) == sorted(EXPECTED), f"cases {sorted(runs)}")
    for name, b in runs.items():
        check(not b.get("error_occurred"), f"{name}: error {b.get('error_message')!r}")
        check(b.get("iterations", 0) > 0, f"{name}: iterations {b.get('iterations')}")
        check(b.get("items_per_second", 0) > 0, f"{name}: items_per_second {b.get('items_per_second')}")
        if name.startswith("handoff/"):
            for key in ("child_cpu_ns_per_item", "parent_vcsw_per_item"):
                check(isinstance(b.get(key), (int, float)) and b[key] >= 0, f"{name}: {key} = {b.get(key)!r}")
        if name.startswith("h5/write_chunk/"):
            size = CHUNK_BYTES[name.rsplit("/", 1)[1]]
            # Random bytes: zstd stores them as raw blocks, so the frame is a little larger.
            check(size < b.get("frame_bytes", 0) < size * 1.01 + 64, f"{name}: frame_bytes {b.get('frame_bytes')}")
            check(b.get("bytes_per_second", 0) > 0, f"{name}: bytes_per_second {b.get('bytes_per_second')}")
    return failures.report()


if __name__ == "__main__":
    sys.exit(main())
