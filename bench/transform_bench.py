#!/usr/bin/python3
"""Transform benchmark: the chain next to its bounds, all parts in one run on the same cores.

    bench/transform_bench.py                       # (a), (b), (c), 3 rounds of (b)
    bench/transform_bench.py --parts a,c --json transform.json
    bench/transform_bench.py --quick               # tiny sizes, to check that it runs

  (a) chain vs triad   transform_bench (C++, one process, one core): dark (float64) - subtract,
                       gain (float32) multiply, clip min 0, cast float32 on 1000x1000 float64
                       matrices through transform::apply, against a STREAM triad over the same
                       24 bytes per element; ratio = chain throughput / triad throughput.
  (b) W-large +/- chain   bench/run's W-large (300 x 1000x1000 float64 smooth, zstd 3, split
                       1/2/1, 4 ranks) without a transform and with that chain (operands from an
                       HDF5 file), interleaved rounds; ratio = chain matrices/s / plain matrices/s.
  (c) 1 GB operand     a 8192 x 16384 float64 operand (1 GiB; the file made once, cached, read into
                       the page cache first) used by a matmul (side right) on 3 matrices of
                       2 x 8192, 4 ranks, replicate node; against the same job without a transform:
                       the start-up difference (mpirun -> job start: scan, window, read, CRC) and
                       the peak of the ranks' summed PSS (the node's memory) and of each rank's
                       private memory, sampled from /proc every 20 ms.
No timing is asserted anywhere; the figures go to bench/README.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
from bench_common import MPI_ENV, default_shmjob, default_tool  # noqa: E402
from helpers.mpi_ranks import rank_pids  # noqa: E402

MB = 1 << 20


def read_log(path):
    start = end = None
    with open(path) as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                start = rec if rec.get("type") == "job_start" else start
                end = rec if rec.get("type") == "job_end" else end
    return start, end


def rollup(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    out[parts[0][:-1]] = int(parts[1]) * 1024
    except OSError:
        return None
    return out


def run_job(args, config, work, tag, ranks=4, sample=False):
    """Runs one job; returns its job_end fields, start-up seconds and (sample=True) memory peaks."""
    out_dir = os.path.join(work, tag)
    config = dict(config, job="tb", output_dir=out_dir, overwrite=True, metrics={"path": "m.jsonl"})
    path = os.path.join(work, tag + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ, **MPI_ENV)
    launched = time.time()
    job = subprocess.Popen([args.mpirun, "-n", str(ranks), "--bind-to", "none", args.shmjob, "--quiet", path],
                           cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pss_peak = private_peak = 0
    pids = {}
    while sample and job.poll() is None:
        if len(pids) < ranks:
            pids = rank_pids(job.pid)
        rolls = [r for r in (rollup(p) for p in pids.values()) if r]
        if len(rolls) == ranks:
            pss_peak = max(pss_peak, sum(r.get("Pss", 0) for r in rolls))
            private_peak = max(private_peak, max(r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) for r in rolls))
        time.sleep(0.02)
    _, err = job.communicate(timeout=args.timeout)
    if job.returncode != 0:
        raise SystemExit(f"{tag}: exit {job.returncode}: {err[-1500:]}")
    start, end = read_log(os.path.join(out_dir, "m.jsonl"))
    r = {k: end.get(k) for k in ("matrices", "seconds", "matrices_per_s", "mb_per_s_in", "mb_per_s_out", "ratio")}
    r["startup_s"] = start["epoch_s"] - launched
    if sample:
        r["pss_sum_peak_mb"] = pss_peak / MB
        r["private_peak_mb"] = private_peak / MB
    subprocess.run(["rm", "-rf", out_dir])
    return r


def part_a(args):
    cmd = [args.transform_bench, "--rounds", str(args.rounds_a)]
    if args.quick:
        cmd += ["--rows", "200", "--cols", "200", "--buffers", "4"]
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    print(f"(a) chain dark+gain+clip+cast on {r['rows']}x{r['cols']} float64, one core: "
          f"{r['chain_ms_per_matrix']:.2f} ms/matrix, {r['chain_gb_s']:.2f} GB/s vs triad {r['triad_gb_s']:.2f} GB/s "
          f"(24 B/element each): chain/triad {r['ratio_median']:.3f} [{r['ratio_min']:.3f}..{r['ratio_max']:.3f}]")
    return r


def part_b(args, work):
    import h5py
    import numpy as np
    rows, count = (200, 24) if args.quick else (1000, 300)
    rng = np.random.default_rng(7)
    with h5py.File(os.path.join(work, "calib.h5"), "w") as f:
        f["dark"] = rng.normal(0.01, 0.001, size=(rows, rows))
        f["gain"] = rng.normal(1.0, 0.03, size=(rows, rows)).astype(np.float32)
        f["zero"] = np.zeros((rows, rows))
        f["one"] = np.ones((rows, rows), dtype=np.float32)
    plain = {"matrices": {"count": count, "rows": rows, "cols": rows, "dtype": "float64", "kind": "smooth", "seed": 0},
             "stages": {"producers": 1, "compressors": 2, "writers": 1}, "compression": {"level": 3}}
    chain = dict(plain, operands={"dark": {"file": "calib.h5", "dataset": "/dark"},
                                  "gain": {"file": "calib.h5", "dataset": "/gain"}},
                 transform=[{"op": "subtract", "operand": "dark"}, {"op": "multiply", "operand": "gain"},
                            {"op": "clip", "min": 0}, {"op": "cast", "dtype": "float32"}])
    # The same work per element on operands that change nothing (x - 0) * 1, clipped far below the
    # data, kept float64: the stored bytes are the plain run's, so the difference is the transform's
    # cost alone.
    same = dict(plain, operands={"zero": {"file": "calib.h5", "dataset": "/zero"},
                                 "one": {"file": "calib.h5", "dataset": "/one"}},
                transform=[{"op": "subtract", "operand": "zero"}, {"op": "multiply", "operand": "one"},
                           {"op": "clip", "min": -1e300}])
    rounds = []
    for i in range(1 if args.quick else args.rounds_b):
        p = run_job(args, plain, work, f"plain{i}")
        c = run_job(args, chain, work, f"chain{i}")
        n = run_job(args, same, work, f"same{i}")
        rounds.append({"plain": p, "chain": c, "same_bytes": n, "ratio": c["matrices_per_s"] / p["matrices_per_s"],
                       "same_bytes_ratio": n["matrices_per_s"] / p["matrices_per_s"]})
        print(f"(b) round {i}: plain {p['matrices_per_s']:.1f} matrices/s (ratio {p['ratio']:.2f}), "
              f"chain {c['matrices_per_s']:.1f} matrices/s (ratio {c['ratio']:.2f}): {rounds[-1]['ratio']:.3f}; "
              f"same-bytes chain {n['matrices_per_s']:.1f} matrices/s (ratio {n['ratio']:.2f}): "
              f"{rounds[-1]['same_bytes_ratio']:.3f}")
    result = {"rounds": rounds}
    for key, what in (("ratio", "with the chain"), ("same_bytes_ratio", "with the same-bytes chain")):
        ratios = [r[key] for r in rounds]
        result[key + "_median"] = statistics.median(ratios)
        print(f"(b) W-large {what} / without: median {statistics.median(ratios):.3f} "
              f"[{min(ratios):.3f}..{max(ratios):.3f}] over {len(ratios)} rounds")
    return result


def part_c(args, work):
    import h5py
    import numpy as np
    n, m = (1024, 2048) if args.quick else (8192, 16384)  # P: n x m float64 (1 GiB at full size)
    data = os.path.join(args.data or work, f"operand-{n}x{m}.h5")
    if not os.path.exists(data):
        os.makedirs(os.path.dirname(data), exist_ok=True)
        rng = np.random.default_rng(1)
        with h5py.File(data + ".tmp", "w") as f:
            d = f.create_dataset("P", shape=(n, m), dtype="f8")
            for r in range(0, n, 512):
                d[r:r + 512] = rng.standard_normal((min(512, n - r), m))
        os.rename(data + ".tmp", data)
    with open(data, "rb") as f:  # into the page cache: the read measured is memory -> window
        while f.read(64 << 20):
            pass
    base = {"matrices": {"count": 3, "rows": 2, "cols": n, "dtype": "float64", "kind": "random", "seed": 0},
            "stages": {"producers": 1, "compressors": 2, "writers": 1}, "compression": {"level": 1}}
    op = dict(base, operands={"P": {"file": data, "dataset": "/P", "replicate": "node"}},
              transform=[{"op": "matmul", "operand": "P"}])
    rounds = []
    for i in range(1 if args.quick else args.rounds_c):
        without = run_job(args, base, work, f"noop{i}", sample=True)
        with_op = run_job(args, op, work, f"op{i}", sample=True)
        rounds.append({"without": without, "with": with_op, "load_s": with_op["startup_s"] - without["startup_s"]})
        print(f"(c) round {i}: start-up {without['startup_s']:.2f} s without, {with_op['startup_s']:.2f} s with the "
              f"{n * m * 8 / 2**30:.2f} GiB operand; node PSS peak {without['pss_sum_peak_mb']:.0f} -> "
              f"{with_op['pss_sum_peak_mb']:.0f} MB; largest private per rank {with_op['private_peak_mb']:.0f} MB")
    load = statistics.median(r["load_s"] for r in rounds)
    extra = statistics.median(r["with"]["pss_sum_peak_mb"] - r["without"]["pss_sum_peak_mb"] for r in rounds)
    print(f"(c) {n * m * 8 / 2**30:.2f} GiB operand: +{load:.2f} s at start-up ({n * m * 8 / 1e9 / load:.2f} GB/s), "
          f"+{extra:.0f} MB on the node (one copy: {n * m * 8 / MB:.0f} MB)")
    return {"rounds": rounds, "bytes": n * m * 8, "load_s_median": load, "node_mb_extra_median": extra}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shmjob", default=default_shmjob())
    p.add_argument("--transform-bench", default=default_tool("transform_bench"))
    p.add_argument("--mpirun", default="mpirun")
    p.add_argument("--parts", default="a,b,c")
    p.add_argument("--rounds-a", type=int, default=9)
    p.add_argument("--rounds-b", type=int, default=3)
    p.add_argument("--rounds-c", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tmpdir", default=None)
    p.add_argument("--data", default=None, help="where the 1 GiB operand file is cached (default: <tmpdir>/shmjob-bench-data)")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    tmp = args.tmpdir or os.environ.get("TMPDIR", "/tmp")
    if args.data is None and not args.quick:
        args.data = os.path.join(tmp, "shmjob-bench-data")
    parts = args.parts.split(",")
    result = {"format": "shmjob-transform-bench", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="shmjob-tbench-", dir=tmp) as work:
        if "a" in parts:
            result["a"] = part_a(args)
        if "b" in parts:
            result["b"] = part_b(args, work)
        if "c" in parts:
            result["c"] = part_c(args, work)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
