#!/usr/bin/python3
"""Ingest vs synthetic, side by side: how fast does shmjob compress matrices it reads from HDF5
files, compared with the same matrices generated in memory?

Builds once (cached in --data, default /tmp/shmjob-ingest-bench) a multi-file input: --files
files (default 8) of --per-file matrices (default 32) of --rows x --cols (default 1000 x 1000)
--dtype --kind (default float64 "smooth"), each file /data [per_file, rows, cols], chunked one
matrix per chunk, uncompressed (about 2 GB). Matrix j of file k is the synthetic generator's
matrix id k*per_file + j (numpy twin analysis/shmjob_synthetic.py, seed --seed), so the synthetic
job with count = files*per_file compresses exactly the same matrices.

Then, --repeat rounds, interleaved (the order alternates each round, so both see the same drift
of a shared machine):
  ingest     mpirun -n RANKS shmjob ingest FILES... --out DIR --level L [--shuffle] --progress
             (with --split P/C/W: an equivalent config with an "input" section and that split)
  synthetic  mpirun -n RANKS shmjob --progress CONFIG (same matrices, level, shuffle, split)
and prints, from each run's job_end record, the medians of MB/s in, matrices/s, the compression
ratio, the flow seconds, the per-role busy %, and the paired ingest/synthetic throughput ratio
(per round, then the median). It checks that every ingest run printed a progress line, that
both jobs wrote the same compressed bytes (same matrices, same zstd level), and, once, that the
ingest output equals the input bit for bit (tests/python/helpers/verify_ingest.py; --sample K
checks K matrices' data per set instead of all). The input files are read once before the runs
(page cache warm) unless --cold.

  /usr/bin/python3 bench/ingest_bench.py --shmjob build-ingtest/shmjob --repeat 3
  /usr/bin/python3 bench/ingest_bench.py --split 1/2/1 --ranks 4 --level 1 --shuffle --json out.json

Needs h5py + numpy (/usr/bin/python3) to build the input and to verify.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import MPI_ENV, TICK, default_shmjob, fmt, machine_jiffies, med, run_bounded  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "analysis"))

PROGRESS = re.compile(r"\[shmjob\] (\d+)/(\d+) matrices\s+(\d+) MB\s+(\d+) MB/s\s+ETA (\d+) s")
ROLES = ("producer", "compressor", "writer")
DATA_VERSION = 1


def default_plugins(shmjob):
    return os.path.join(os.path.dirname(os.path.abspath(shmjob)), "plugins")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shmjob", default=None, help="shmjob binary (default: the first of build-bench, "
                   "build-ingtest, build that has the ingest subcommand)")
    p.add_argument("--plugin-dir", default=None, help="zstd plugin dir for verify (default: next to shmjob)")
    p.add_argument("--mpirun", default="mpirun")
    p.add_argument("--mpirun-args", default="--bind-to none")
    p.add_argument("--data", default="/tmp/shmjob-ingest-bench", help="input cache dir (default: %(default)s)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the input even if cached")
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--per-file", type=int, default=32)
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--cols", type=int, default=1000)
    p.add_argument("--dtype", default="float64")
    p.add_argument("--kind", default="smooth", choices=("random", "smooth", "poisson"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=int, default=3)
    p.add_argument("--shuffle", action="store_true")
    p.add_argument("--ranks", type=int, default=4, help="ranks per job (default: %(default)s)")
    p.add_argument("--split", default=None, metavar="P/C/W",
                   help="explicit stage split for both jobs (default: shmjob's auto split of --ranks)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--interval", type=float, default=1.0, help="metrics.interval_s (configs only)")
    p.add_argument("--sample", type=int, default=None, metavar="K",
                   help="verify the data of K matrices per set (default: all)")
    p.add_argument("--no-verify", action="store_true")
    p.add_argument("--cold", action="store_true", help="do not pre-read the input files")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--tmpdir", default=None, help="where the outputs go (default: $TMPDIR or /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the outputs")
    p.add_argument("--json", default=None, metavar="OUT")
    args = p.parse_args(argv)
    args.shmjob = os.path.abspath(args.shmjob or default_shmjob())
    args.plugin_dir = args.plugin_dir or default_plugins(args.shmjob)
    args.count = args.files * args.per_file
    if args.split:
        parts = [int(x) for x in args.split.split("/")]
        if len(parts) != 3 or min(parts) < 1 or sum(parts) > args.ranks:
            p.error("--split P/C/W needs three counts >= 1 summing to at most --ranks")
        args.stages = {"producers": parts[0], "compressors": parts[1], "writers": parts[2]}
    else:
        args.stages = None
    if args.repeat < 1 or args.files < 1 or args.per_file < 1:
        p.error("--repeat, --files, --per-file must be >= 1")
    return args


# --- input ----------------------------------------------------------------------------------------

def input_files(args):
    return [os.path.join(args.data, "input_%03d.h5" % k) for k in range(args.files)]


def build_input(args):
    """Writes the input files unless the cache in args.data matches. Returns the file list."""
    import h5py
    import numpy as np
    from shmjob_synthetic import generate_matrix

    stamp = {"version": DATA_VERSION, "files": args.files, "per_file": args.per_file,
             "rows": args.rows, "cols": args.cols, "dtype": args.dtype, "kind": args.kind,
             "seed": args.seed, "layout": "chunk (1, rows, cols), no filters"}
    stamp_path = os.path.join(args.data, "stamp.json")
    files = input_files(args)
    if not args.rebuild and os.path.exists(stamp_path) and all(os.path.exists(f) for f in files):
        with open(stamp_path) as f:
            if json.load(f) == stamp:
                print("input: cached in %s (%d files, %.2f GB)" % (
                    args.data, len(files), sum(os.path.getsize(f) for f in files) / 1e9), flush=True)
                return files
    os.makedirs(args.data, exist_ok=True)
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    start = time.monotonic()
    dtype = np.dtype(args.dtype)
    for k, path in enumerate(files):
        with h5py.File(path + ".partial", "w") as f:
            d = f.create_dataset("data", shape=(args.per_file, args.rows, args.cols), dtype=dtype,
                                 chunks=(1, args.rows, args.cols))
            for j in range(args.per_file):
                d[j] = generate_matrix(args.kind, dtype, args.rows, args.cols, args.seed,
                                       k * args.per_file + j)
        os.replace(path + ".partial", path)
        print("input: wrote %s (%d/%d, %.0f s)" % (path, k + 1, len(files), time.monotonic() - start),
              flush=True)
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)
    return files


def pre_read(files):
    start = time.monotonic()
    total = 0
    for path in files:
        with open(path, "rb") as f:
            while True:
                block = f.read(16 << 20)
                if not block:
                    break
                total += len(block)
    print("input: pre-read %.2f GB in %.1f s (page cache)" % (total / 1e9, time.monotonic() - start),
          flush=True)


# --- runs -----------------------------------------------------------------------------------------


def write_config(path, config):
    with open(path, "w") as f:
        json.dump(config, f, indent=1)


def command(args, which, files, work, tag):
    out_dir = os.path.join(work, tag)
    job = which
    base = [args.mpirun, "-n", str(args.ranks)] + args.mpirun_args.split() + [args.shmjob]
    compression = {"level": args.level, "shuffle": bool(args.shuffle)}
    config = {"job": job, "output_dir": out_dir, "overwrite": True, "compression": compression,
              "metrics": {"path": "metrics.jsonl", "interval_s": args.interval}}
    if args.stages:
        config["stages"] = args.stages
    if which == "ingest" and not args.stages:
        cmd = base + ["ingest"] + files + ["--out", out_dir, "--job", job, "--level", str(args.level),
                                           "--progress", "--overwrite"]
        if args.shuffle:
            cmd.append("--shuffle")
        return cmd, out_dir
    if which == "ingest":
        config["input"] = {"files": files, "dataset": "/data"}
    else:
        config["matrices"] = {"count": args.count, "rows": args.rows, "cols": args.cols,
                              "dtype": args.dtype, "kind": args.kind, "seed": args.seed}
    path = os.path.join(work, tag + ".json")
    write_config(path, config)
    return base + ["--progress", path], out_dir


def run_once(args, which, files, work, tag):
    cmd, out_dir = command(args, which, files, work, tag)
    env = dict(os.environ, **MPI_ENV)
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_machine = machine_jiffies()
    started = time.monotonic()
    rc, stdout, stderr = run_bounded(cmd, env, args.timeout, work)
    elapsed = time.monotonic() - started
    after_machine = machine_jiffies()
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (after_children.ru_utime - before_children.ru_utime) + \
        (after_children.ru_stime - before_children.ru_stime)
    busy = (after_machine[0] - before_machine[0]) / TICK
    r = {"which": which, "tag": tag, "cmd": cmd, "rc": rc, "elapsed_s": elapsed,
         "load": {"ours_cores": ours / elapsed, "others_cores": max(0.0, busy - ours) / elapsed},
         "stderr": stderr[-3000:], "out_dir": out_dir}
    matches = list(PROGRESS.finditer(stderr))
    progress = [m.groups() for m in matches]
    r["progress_lines"] = len(progress)
    r["progress_last"] = matches[-1].group(0) if matches else None
    end = start = None
    metrics = os.path.join(out_dir, "metrics.jsonl")
    if os.path.exists(metrics):
        with open(metrics) as f:
            records = [json.loads(line) for line in f if line.strip()]
        ends = [x for x in records if x.get("type") == "job_end"]
        starts = [x for x in records if x.get("type") == "job_start"]
        end = ends[-1] if ends else None
        start = starts[0] if starts else None
    r["end"] = end
    r["plan"] = None
    if start:
        node0 = start["plan"]["node0"]["layout"]
        r["plan"] = "%d/%d/%d" % (node0["producers"], node0["compressors"], node0["writers"])
    problems = []
    if rc != 0:
        problems.append("exit code %s" % rc)
    if end is None:
        problems.append("no job_end record")
    else:
        if end.get("status") != "complete":
            problems.append("status %r" % end.get("status"))
        if end.get("matrices") != args.count:
            problems.append("%s matrices, expected %d" % (end.get("matrices"), args.count))
    if which == "ingest" and not progress:
        problems.append("no progress line on stderr")
    if which == "ingest" and progress and int(progress[-1][0]) != args.count:
        problems.append("last progress line %r does not show %d matrices" % (r["progress_last"], args.count))
    r["problems"] = problems
    r["ok"] = not problems
    return r


def verify(args, master):
    cmd = [sys.executable, os.path.join(ROOT, "tests", "python", "helpers", "verify_ingest.py"), master,
           "--expect-count", str(args.count), "--plugin-dir", args.plugin_dir]
    if args.sample:
        cmd += ["--sample", str(args.sample)]
    start = time.monotonic()
    v = subprocess.run(cmd, capture_output=True, text=True)
    out = (v.stdout + v.stderr).strip()
    return {"ok": v.returncode == 0, "seconds": time.monotonic() - start,
            "output": out if v.returncode else out.splitlines()[-1]}


# --- summary --------------------------------------------------------------------------------------


def busy(end, role):
    ranks = [r for r in end["ranks"] if r["role"] == role]
    if not ranks or not end["seconds"]:
        return None
    return 100 * statistics.mean(r["busy_s"] for r in ranks) / end["seconds"]


def summarise(args, runs):
    out = {}
    for which in ("ingest", "synthetic"):
        ok = [r for r in runs if r["which"] == which and r["ok"]]
        ends = [r["end"] for r in ok]
        out[which] = {
            "runs": len([r for r in runs if r["which"] == which]), "ok": len(ok),
            "plan": sorted({r["plan"] for r in ok}),
            "mb_per_s_in": med([e["mb_per_s_in"] for e in ends]),
            "mb_per_s_in_all": [round(e["mb_per_s_in"], 1) for e in ends],
            "matrices_per_s": med([e["matrices_per_s"] for e in ends]),
            "ratio": med([e["ratio"] for e in ends]),
            "seconds": med([e["seconds"] for e in ends]),
            "compressed_bytes": sorted({e["compressed_bytes"] for e in ends}),
            "busy": {role: med([busy(e, role) for e in ends]) for role in ROLES},
            "load_ours": med([r["load"]["ours_cores"] for r in ok]),
            "load_others": med([r["load"]["others_cores"] for r in ok]),
        }
    rounds = {}
    for r in runs:
        if r["ok"]:
            rounds.setdefault(r["round"], {})[r["which"]] = r["end"]["mb_per_s_in"]
    paired = [x["ingest"] / x["synthetic"] for x in rounds.values() if len(x) == 2]
    out["ingest_vs_synthetic"] = med(paired)
    out["ingest_vs_synthetic_all"] = [round(x, 3) for x in paired]
    return out


def print_summary(args, s, check):
    what = "%d x %dx%d %s %s, zstd level %d%s, %d ranks (%s), %d rounds" % (
        args.count, args.rows, args.cols, args.dtype, args.kind, args.level,
        " + shuffle" if args.shuffle else "", args.ranks,
        "split " + args.split if args.split else "auto split", args.repeat)
    print("\ningest_bench: " + what)
    head = "%-10s %5s %9s %10s %6s %7s %18s %12s %10s" % (
        "job", "ok", "MB/s in", "matrices/s", "ratio", "flow s", "busy % P/C/W", "plan P/C/W", "load us/oth")
    print(head)
    print("-" * len(head))
    for which in ("ingest", "synthetic"):
        x = s[which]
        b = "/".join(fmt(x["busy"][r], ".0f") for r in ROLES)
        print("%-10s %2d/%-2d %9s %10s %6s %7s %18s %12s %10s" % (
            which, x["ok"], x["runs"], fmt(x["mb_per_s_in"], ".1f"), fmt(x["matrices_per_s"], ".1f"),
            fmt(x["ratio"], ".3f"), fmt(x["seconds"], ".2f"), b, ",".join(x["plan"]) or "-",
            "%s/%s" % (fmt(x["load_ours"], ".2f"), fmt(x["load_others"], ".2f"))))
    print("ingest / synthetic throughput (paired per round, median): %s   per round: %s" % (
        fmt(s["ingest_vs_synthetic"], ".3f"), s["ingest_vs_synthetic_all"]))
    for which in ("ingest", "synthetic"):
        print("  %-9s MB/s in per run: %s" % (which, s[which]["mb_per_s_in_all"]))
    for line in check:
        print(line)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if not os.access(args.shmjob, os.X_OK):
        sys.exit("ingest_bench: shmjob not found: %s (build it or pass --shmjob)" % args.shmjob)
    print("ingest_bench: %s" % args.shmjob, flush=True)
    files = build_input(args)
    if not args.cold:
        pre_read(files)
    runs, check = [], []
    verified = None
    with tempfile.TemporaryDirectory(prefix="shmjob-ingest-bench-", dir=args.tmpdir) as work:
        total = 2 * args.repeat
        i = 0
        for rnd in range(args.repeat):
            order = ("ingest", "synthetic") if rnd % 2 == 0 else ("synthetic", "ingest")
            for which in order:
                i += 1
                r = run_once(args, which, files, work, "r%d-%s" % (rnd, which))
                r["round"] = rnd
                runs.append(r)
                e = r["end"] or {}
                print("[%d/%d] %-9s %s MB/s in, %s matrices/s, ratio %s, %s s flow, plan %s, "
                      "load us/others %.2f/%.2f%s  %s" % (
                          i, total, which, fmt(e.get("mb_per_s_in"), ".1f"),
                          fmt(e.get("matrices_per_s"), ".1f"), fmt(e.get("ratio"), ".3f"),
                          fmt(e.get("seconds"), ".2f"), r["plan"], r["load"]["ours_cores"],
                          r["load"]["others_cores"],
                          ", %d progress lines, last '%s'" % (r["progress_lines"], r["progress_last"])
                          if r["progress_lines"] else "",
                          "ok" if r["ok"] else "FAILED: " + "; ".join(r["problems"])),
                      file=sys.stderr, flush=True)
                if not r["ok"]:
                    print("    stderr: " + r["stderr"].strip().replace("\n", "\n    "), file=sys.stderr)
                if which == "ingest" and r["ok"] and verified is None and not args.no_verify:
                    verified = verify(args, os.path.join(r["out_dir"], "ingest.h5"))
                    print("    verify_ingest (%.0f s): %s" % (verified["seconds"], verified["output"]),
                          file=sys.stderr, flush=True)
                if not args.keep:
                    shutil.rmtree(r["out_dir"], ignore_errors=True)
        if args.keep:
            kept = work + "-kept"
            shutil.copytree(work, kept)
            print("outputs kept in " + kept, file=sys.stderr)
    s = summarise(args, runs)
    failures = [r for r in runs if not r["ok"]]
    sizes = s["ingest"]["compressed_bytes"] + s["synthetic"]["compressed_bytes"]
    if len(set(sizes)) == 1:
        check.append("same compressed bytes in every run of both jobs: %d (the same matrices)" % sizes[0])
    elif sizes:
        check.append("PROBLEM: compressed bytes differ between runs/jobs: ingest %s, synthetic %s"
                     % (s["ingest"]["compressed_bytes"], s["synthetic"]["compressed_bytes"]))
    ingest_ok = [r for r in runs if r["which"] == "ingest" and r["ok"]]
    check.append("progress line in every ingest run: %s" % (
        "yes (e.g. '%s')" % ingest_ok[-1]["progress_last"] if ingest_ok else "no successful run"))
    if verified is not None:
        check.append("bit-for-bit check of the ingest output: %s (%s)" % (
            "OK" if verified["ok"] else "FAILED", verified["output"].splitlines()[-1]))
    print_summary(args, s, check)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items()}, "summary": s, "checks": check,
                       "verify": verified, "runs": runs}, f, indent=1)
    bad = failures or (verified is not None and not verified["ok"]) or len(set(sizes)) > 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
