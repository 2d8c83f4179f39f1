#!/usr/bin/python3
"""Stage splits side by side: runs the real shmjob job under mpirun for several
producer/compressor/writer splits, interleaved (A, B, C, A, B, C, ...) and repeated, then prints
the median of each split's job_end record and its throughput relative to the 1/1/1 baseline.

On a shared, noisy machine absolute numbers drift from minute to minute; the interleaving puts
every split under the same drift, and the ratio to the baseline is computed per round (the runs
of one round are neighbours in time), then the median over rounds is taken.

  /usr/bin/python3 bench/pipeline_bench.py --shmjob build-bench/shmjob
  /usr/bin/python3 bench/pipeline_bench.py --splits 1/1/1,1/2/1,2/2/2,1/1/1:16 --repeat 5 --json out.json

A split is P/C/W (that many ranks: producers/compressors/writers), or P/C/W:N to launch N ranks
of which the N-P-C-W not named are idle. Standard library only.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import resource

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import MPI_ENV, ROLES, TICK, default_shmjob, fmt, machine_jiffies, med, run_bounded  # noqa: E402


def parse_split(text):
    text = text.strip()
    ranks = None
    if ":" in text:
        text, n = text.split(":", 1)
        ranks = int(n)
    parts = [int(x) for x in text.split("/")]
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"split {text!r}: expected P/C/W with each >= 1")
    total = sum(parts)
    if ranks is None:
        ranks = total
    if ranks < total:
        raise argparse.ArgumentTypeError(f"split {text}:{ranks}: fewer ranks than stages")
    name = "/".join(map(str, parts)) + (f":{ranks}" if ranks != total else "")
    return {"name": name, "producers": parts[0], "compressors": parts[1], "writers": parts[2],
            "ranks": ranks}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shmjob", default=default_shmjob(), help="shmjob binary (default: %(default)s)")
    p.add_argument("--mpirun", default="mpirun")
    p.add_argument("--mpirun-args", default="--bind-to none",
                   help="extra mpirun arguments (default: %(default)r; shmjob does its own placement)")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--cols", type=int, default=1000)
    p.add_argument("--dtype", default="float64")
    p.add_argument("--kind", default="smooth", choices=("random", "smooth", "poisson"))
    p.add_argument("--level", type=int, default=3)
    p.add_argument("--shuffle", action="store_true", help="byte-shuffle before zstd")
    p.add_argument("--splits", default="1/1/1,2/2/2,1/2/1",
                   help="comma-separated P/C/W[:N] (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="rounds over all splits (default: %(default)s)")
    p.add_argument("--slots", type=int, default=None, help="slots.per_producer and per_compressor")
    p.add_argument("--interval", type=float, default=1.0, help="metrics.interval_s")
    p.add_argument("--timeout", type=float, default=900, help="seconds before one run is killed")
    p.add_argument("--tmpdir", default=None, help="where the temporary output dirs go (default: $TMPDIR or /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the output dirs (default: delete each after reading)")
    p.add_argument("--json", default=None, metavar="OUT", help="write every run and the summary here")
    args = p.parse_args(argv)
    args.split_list = [parse_split(s) for s in args.splits.split(",") if s.strip()]
    if not args.split_list:
        p.error("--splits is empty")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def job_config(args, split, out_dir):
    config = {
        "job": "bench",
        "output_dir": out_dir,
        "overwrite": True,
        "matrices": {"count": args.count, "rows": args.rows, "cols": args.cols,
                     "dtype": args.dtype, "kind": args.kind, "seed": 0},
        "stages": {"producers": split["producers"], "compressors": split["compressors"],
                   "writers": split["writers"]},
        "compression": {"level": args.level, "shuffle": bool(args.shuffle)},
        "metrics": {"path": "metrics.jsonl", "interval_s": args.interval},
    }
    if args.slots is not None:
        config["slots"] = {"per_producer": args.slots, "per_compressor": args.slots}
    return config


def read_records(metrics_path):
    records = []
    with open(metrics_path) as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def run_once(args, split, work, tag):
    """Runs one job; returns a dict with the job_end record (or the failure)."""
    out_dir = os.path.join(work, tag)
    config_path = os.path.join(work, tag + ".json")
    with open(config_path, "w") as f:
        json.dump(job_config(args, split, out_dir), f, indent=1)
    cmd = [args.mpirun, "-n", str(split["ranks"])] + args.mpirun_args.split() + [args.shmjob, "--quiet", config_path]
    env = dict(os.environ, **MPI_ENV)
    started = time.monotonic()
    result = {"split": split["name"], "tag": tag, "cmd": cmd}
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_machine = machine_jiffies()
    rc, _, stderr = run_bounded(cmd, env, args.timeout)
    elapsed = time.monotonic() - started
    after_machine = machine_jiffies()
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU load during the run, in cores: ours (mpirun + ranks) and everything else on the machine.
    ours = (after_children.ru_utime - before_children.ru_utime) + (after_children.ru_stime - before_children.ru_stime)
    machine_busy = (after_machine[0] - before_machine[0]) / TICK
    result["load"] = {"ours_cores": ours / elapsed, "machine_cores": machine_busy / elapsed,
                      "others_cores": max(0.0, machine_busy - ours) / elapsed,
                      "steal_cores": (after_machine[1] - before_machine[1]) / TICK / elapsed}
    result["rc"] = rc
    result["stderr"] = stderr[-4000:]
    result["elapsed_s"] = elapsed
    metrics_path = os.path.join(out_dir, "metrics.jsonl")
    end = None
    if os.path.exists(metrics_path):
        try:
            ends = [r for r in read_records(metrics_path) if r.get("type") == "job_end"]
            end = ends[-1] if ends else None
        except (OSError, ValueError) as e:
            result["metrics_error"] = str(e)
    result["end"] = end
    problems = []
    if result["rc"] != 0:
        problems.append(f"exit code {result['rc']}")
    if end is None:
        problems.append("no job_end record")
    else:
        if end.get("status") != "complete":
            problems.append(f"status {end.get('status')!r}")
        if end.get("matrices") != args.count:
            problems.append(f"{end.get('matrices')} matrices written, expected {args.count}")
    result["ok"] = not problems
    result["problems"] = problems
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return result


def role_stats(end):
    """Per role: summed cpu_s and mean busy fraction (busy_s / flow seconds)."""
    seconds = end["seconds"] or float("nan")
    out = {}
    for role in ROLES:
        ranks = [r for r in end["ranks"] if r["role"] == role]
        if not ranks:
            continue
        out[role] = {"n": len(ranks),
                     "cpu_s": sum(r["cpu_s"] for r in ranks),
                     "busy_frac": statistics.mean(r["busy_s"] for r in ranks) / seconds,
                     "wait_frac": statistics.mean(r["wait_s"] for r in ranks) / seconds}
    return out


def summarise(args, runs):
    names = [s["name"] for s in args.split_list]
    baseline = "1/1/1" if "1/1/1" in names else names[0]
    by_split = {n: [r for r in runs if r["split"] == n] for n in names}
    base_by_round = {r["round"]: r for r in by_split[baseline] if r["ok"]}
    summary = {"baseline": baseline, "splits": []}
    for split in args.split_list:
        ok = [r for r in by_split[split["name"]] if r["ok"]]
        row = {"split": split["name"], "ranks": split["ranks"], "runs": len(by_split[split["name"]]),
               "ok": len(ok)}
        if ok:
            ends = [r["end"] for r in ok]
            row.update({
                "matrices_per_s": med([e["matrices_per_s"] for e in ends]),
                "matrices_per_s_all": [round(e["matrices_per_s"], 3) for e in ends],
                "mb_per_s_in": med([e["mb_per_s_in"] for e in ends]),
                "mb_per_s_out": med([e["mb_per_s_out"] for e in ends]),
                "ratio": med([e["ratio"] for e in ends]),
                "seconds": med([e["seconds"] for e in ends]),
                "wall_seconds": med([e["wall_seconds"] for e in ends]),
                "ours_cores": med([r["load"]["ours_cores"] for r in ok]),
                "others_cores": med([r["load"]["others_cores"] for r in ok]),
                "steal_cores": med([r["load"]["steal_cores"] for r in ok]),
            })
            roles = {}
            for role in ROLES:
                stats = [role_stats(e).get(role) for e in ends]
                stats = [s for s in stats if s]
                if stats:
                    roles[role] = {k: med([s[k] for s in stats]) for k in ("n", "cpu_s", "busy_frac", "wait_frac")}
            row["roles"] = roles
            paired = [r["end"]["matrices_per_s"] / base_by_round[r["round"]]["end"]["matrices_per_s"]
                      for r in ok if r["round"] in base_by_round]
            row["vs_baseline"] = med(paired)
            row["vs_baseline_all"] = [round(x, 3) for x in paired]
        summary["splits"].append(row)
    return summary


def print_table(args, summary, out=sys.stdout):
    shape = f"{args.rows}x{args.cols} {args.dtype} {args.kind}, zstd level {args.level}" + \
            (" + shuffle" if args.shuffle else "") + f", {args.count} matrices, {args.repeat} rounds"
    print(f"\npipeline_bench: {shape}", file=out)
    print(f"medians over rounds; 'vs base' = median of per-round throughput / {summary['baseline']} "
          f"throughput in the same round", file=out)
    head = (f"{'split':<10} {'ranks':>5} {'ok':>4} {'matrices/s':>10} {'MB/s in':>8} {'MB/s out':>8} "
            f"{'ratio':>6} {'flow s':>7} {'vs base':>7}  {'cpu s P/C/W/idle':<22} {'busy % P/C/W':<13} {'load us/others':<14}")
    print(head, file=out)
    print("-" * len(head), file=out)
    for row in summary["splits"]:
        roles = row.get("roles", {})
        cpu = "/".join(fmt(roles[r]["cpu_s"], ".1f") if r in roles else "-" for r in ROLES)
        busy = "/".join(fmt(100 * roles[r]["busy_frac"], ".0f") if r in roles else "-" for r in ROLES[:3])
        print(f"{row['split']:<10} {row['ranks']:>5} {row['ok']:>2}/{row['runs']:<1} "
              f"{fmt(row.get('matrices_per_s'), '10.2f')} {fmt(row.get('mb_per_s_in'), '8.1f')} "
              f"{fmt(row.get('mb_per_s_out'), '8.1f')} {fmt(row.get('ratio'), '6.2f')} "
              f"{fmt(row.get('seconds'), '7.2f')} {fmt(row.get('vs_baseline'), '7.2f')}  {cpu:<22} {busy:<13} "
              f"{fmt(row.get('ours_cores'), '.2f')}/{fmt(row.get('others_cores'), '.2f')}",
              file=out)
    print("cpu s: summed CPU seconds of all ranks of that role (median over rounds); busy %: mean over "
          "the role's ranks of busy_s / flow seconds;\nload us/others: cores used during the run by this job "
          "(mpirun tree) and by everything else on the machine (/proc/stat), medians", file=out)
    for row in summary["splits"]:
        if "matrices_per_s_all" in row:
            print(f"  {row['split']:<10} matrices/s per round: {row['matrices_per_s_all']}  "
                  f"vs base per round: {row['vs_baseline_all']}", file=out)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if not os.access(args.shmjob, os.X_OK):
        sys.exit(f"pipeline_bench: shmjob binary not found: {args.shmjob} (build it, or pass --shmjob)")
    runs = []
    with tempfile.TemporaryDirectory(prefix="shmjob-pipeline-bench-", dir=args.tmpdir) as work:
        total = args.repeat * len(args.split_list)
        i = 0
        for rnd in range(args.repeat):
            for split in args.split_list:
                i += 1
                tag = f"r{rnd}-" + split["name"].replace("/", "-").replace(":", "n")
                r = run_once(args, split, work, tag)
                r["round"] = rnd
                runs.append(r)
                end = r["end"] or {}
                status = "ok" if r["ok"] else "FAILED: " + "; ".join(r["problems"])
                print(f"[{i}/{total}] {split['name']:<8} ranks {split['ranks']:>2}: "
                      f"{fmt(end.get('matrices_per_s'), '.2f')} matrices/s, "
                      f"{fmt(end.get('seconds'), '.2f')} s flow, {r['elapsed_s']:.1f} s elapsed, load us/others "
                      f"{r['load']['ours_cores']:.2f}/{r['load']['others_cores']:.2f} cores  {status}",
                      file=sys.stderr, flush=True)
                if not r["ok"] and r.get("stderr"):
                    print("    stderr: " + r["stderr"].strip().replace("\n", "\n    "), file=sys.stderr)
        if args.keep:
            kept = work + "-kept"
            shutil.copytree(work, kept)
            print(f"output kept in {kept}", file=sys.stderr)
    summary = summarise(args, runs)
    print_table(args, summary)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if k != "split_list"},
                       "summary": summary, "runs": runs}, f, indent=1)
    failed = [r for r in runs if not r["ok"]]
    if failed:
        print(f"\n{len(failed)} of {len(runs)} runs failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r['tag']}: {'; '.join(r['problems'])}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
