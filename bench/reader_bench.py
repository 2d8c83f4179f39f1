#!/usr/bin/env python3
"""Reading the output back: shmjob's Reader next to h5py, on the same files.

Writes two outputs with a real job (mpirun), then
  1. random-read latency of one 1000x1000 float64 matrix: open + first read, cold (cache off,
     files open), cached; h5py through the plugin and the master's VDS for the same reads;
  2. a random 100x100 slice of an 8192x8192 float64 matrix stored in tiles vs decoding the whole
     matrix: time and bytes decoded, Reader and h5py.
The C++ side is bench/reader_bench (Google Benchmark, median of --cpp-repetitions runs); h5py is
timed here (median of --repeat reads; 5 for the whole 8192x8192 matrix). Both read files that sit
in the page cache: "cold" means not in the reader's own cache, not read from disk.

usage: reader_bench.py [--shmjob PATH] [--reader-bench PATH] [--tile 256] [--count 50]
                       [--kind smooth] [--json out.json] [--tmpdir DIR]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import MPI_ENV, default_shmjob  # noqa: E402


def write_job(shmjob, tmp, name, matrices, chunk=None, ranks=3):
    config = {"job": name, "output_dir": os.path.join(tmp, name), "matrices": matrices,
              "stages": {"producers": 1, "compressors": ranks - 2, "writers": 1},
              "slots": {"per_producer": 1, "per_compressor": 1}}
    if chunk:
        config["compression"] = {"chunk": chunk}
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ, **MPI_ENV)
    subprocess.run(["mpirun", "-n", str(ranks), "--bind-to", "none", shmjob, "--quiet", path], env=env, check=True)
    return os.path.join(tmp, name, name + ".h5")


def median_ms(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def h5py_times(master, tiled, plugin_dir, count, n):
    os.environ["HDF5_PLUGIN_PATH"] = plugin_dir
    import h5py
    rng = random.Random(1)
    out = {}

    def open_first():
        with h5py.File(master, "r") as f:
            f["data"][rng.randrange(count)]
    out["open_first"] = median_ms(open_first, n)
    with h5py.File(master, "r") as f:
        d = f["data"]
        d[0]
        out["cold"] = median_ms(lambda: d[rng.randrange(count)], n)
        out["same_again"] = median_ms(lambda: d[3], n)  # h5py's chunk cache (1 MiB) cannot hold 8 MB
    with h5py.File(master, "r", rdcc_nbytes=64 << 20) as f:
        d = f["data"]
        d[3]
        out["same_again_64MiB_cache"] = median_ms(lambda: d[3], n)
    with h5py.File(tiled, "r") as f:
        d = f["data"]
        rows, cols = d.shape[1:]

        def window():
            r, c = rng.randrange(rows - 100), rng.randrange(cols - 100)
            return d[0, r:r + 100, c:c + 100]
        out["slice100"] = median_ms(window, n)
        out["whole_tiled"] = median_ms(lambda: d[0], 5)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shmjob", default=default_shmjob())
    ap.add_argument("--reader-bench")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--kind", default="smooth")
    ap.add_argument("--repeat", type=int, default=100, help="h5py timings: median of this many")
    ap.add_argument("--cpp-repetitions", type=int, default=5, help="Reader timings: median of this many runs")
    ap.add_argument("--json")
    ap.add_argument("--tmpdir")
    args = ap.parse_args()
    build = os.path.dirname(os.path.abspath(args.shmjob))
    reader_bench = args.reader_bench or os.path.join(build, "bench", "reader_bench")
    plugin_dir = os.path.join(build, "plugins")

    with tempfile.TemporaryDirectory(prefix="shmjob-reader-bench-", dir=args.tmpdir) as tmp:
        master = write_job(args.shmjob, tmp, "m1000",
                           {"count": args.count, "rows": 1000, "cols": 1000, "dtype": "float64", "kind": args.kind})
        tiled = write_job(args.shmjob, tmp, "m8192",
                          {"count": 1, "rows": 8192, "cols": 8192, "dtype": "float64", "kind": args.kind},
                          chunk=[args.tile, args.tile])
        env = dict(os.environ, SHMJOB_BENCH_MASTER=master, SHMJOB_BENCH_TILED=tiled)
        run = subprocess.run([reader_bench, "--benchmark_format=json",
                              "--benchmark_repetitions=%d" % args.cpp_repetitions,
                              "--benchmark_report_aggregates_only=true"], env=env, check=True,
                             capture_output=True, text=True)
        # Medians of the repetitions. Names carry Google Benchmark's suffixes
        # ("/min_time:2.000/real_time_median"): keep the first two parts.
        cpp = {"/".join(b["name"].split("/")[:2]): b for b in json.loads(run.stdout)["benchmarks"]
               if b.get("aggregate_name") == "median"}
        py = h5py_times(master, tiled, plugin_dir, args.count, args.repeat)
        sizes = {name: os.path.getsize(os.path.join(tmp, name, name + ".shard-00000.h5")) for name in ("m1000", "m8192")}

    ms = {k: v["real_time"] for k, v in cpp.items()}
    rows = [
        ("open master + read 1 matrix", ms["read/open_first"], py["open_first"]),
        ("random matrix, cold (files open)", ms["read/cold"], py["cold"]),
        ("same matrix again (Reader: cached)", ms["read/cached"], py["same_again"]),
        ("same matrix again, h5py rdcc 64 MiB", None, py["same_again_64MiB_cache"]),
        ("100x100 slice of 8192x8192, tiles %d" % args.tile, ms["slice100/tiled"], py["slice100"]),
        ("whole 8192x8192 (512 MiB)", ms["whole/tiled"], py["whole_tiled"]),
    ]
    print("| read | shmjob Reader ms | h5py ms | h5py / Reader |")
    print("|---|---|---|---|")
    for label, a, b in rows:
        ratio = "%.1f" % (b / a) if a else ""
        print("| %s | %s | %.2f | %s |" % (label, "%.3f" % a if a is not None else "-", b, ratio))
    s, w = cpp["slice100/tiled"], cpp["whole/tiled"]
    print()
    print("slice decode: %.2f tiles, %.2f MB decoded per 100x100 slice vs %.0f tiles, %.1f MB for the whole matrix"
          % (s["tiles_per_read"], s["decoded_MB_per_read"], w["tiles_per_read"], w["decoded_MB_per_read"]))
    print("  bytes ratio whole/slice %.0f, time ratio whole/slice %.0f (Reader), %.0f (h5py)"
          % (w["decoded_MB_per_read"] / s["decoded_MB_per_read"], w["real_time"] / s["real_time"],
             py["whole_tiled"] / py["slice100"]))
    print("  cold read decodes %.1f MB per matrix; shard sizes %s" % (cpp["read/cold"]["decoded_MB_per_read"], sizes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"reader": cpp, "h5py_ms": py, "shard_bytes": sizes}, f, indent=1)


if __name__ == "__main__":
    main()
