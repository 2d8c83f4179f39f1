#!/usr/bin/python3
"""Benchmark of compression.shuffle / level "auto" against fixed settings, side by side (issue 24).

    bench/adaptive_bench.py                       # 3 rounds, table on stdout
    bench/adaptive_bench.py --rounds 5 --json adaptive.json
    bench/adaptive_bench.py --quick               # tiny matrices, one round (smoke test)

Every round runs each job below once, in this order, so that the machine's noise hits every mode
alike; the table shows per job the median matrices/s (the job's own job_end matrices_per_s) and
stored ratio (raw / stored bytes), then the issue's comparisons as medians of per-round ratios:

  shuffle   W-large's matrices (1000 x 1000 float64, level 3, split 1/2/1) of kind smooth and of
            kind random, each with shuffle false, true and "auto". Goal: auto's ratio within 3 %
            of the better fixed choice's, at no less than the slower fixed choice's speed.
  level     W-large (smooth) with level 3 and with level "auto" (range [1, 19]), once with
            testing.producer_delay_ms 40 (slow producers; with elastic stages, as by default,
            and with stages.elastic false, where only the producer produces) and once without.
            Goals: with the delay, auto's ratio >= 1.1 x level 3's at >= 0.95 of its
            throughput; without it, >= 0.9 of level 3's throughput.
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "analysis"))
import shmjob_metrics  # noqa: E402
from bench_common import MPI_ENV, default_shmjob, fmt, med, run_bounded  # noqa: E402

LARGE = {"rows": 1000, "cols": 1000, "dtype": "float64", "count": 150}
QUICK = {"rows": 200, "cols": 200, "dtype": "float64", "count": 40}


def jobs(shape):
    out = []
    for kind in ("smooth", "random"):
        for shuffle in (False, True, "auto"):
            out.append((f"shuffle/{kind}/{json.dumps(shuffle)}", kind, {"level": 3, "shuffle": shuffle}, 0, True))
    for delay, elastic in ((40, True), (40, False), (0, True)):
        for level in (3, "auto"):
            tag = f"level/delay{delay}{'' if elastic else '/fixed-stages'}/{json.dumps(level)}"
            out.append((tag, "smooth", {"level": level}, delay, elastic))
    return out


def run_job(args, shape, work, name, kind, compression, delay, elastic):
    out = os.path.join(work, name.replace("/", "_").replace('"', ""))
    config = {"job": "ab", "output_dir": out, "overwrite": True,
              "matrices": dict(shape, kind=kind, seed=0),
              "stages": {"producers": 1, "compressors": 2, "writers": 1, "elastic": elastic},
              "compression": compression, "metrics": {"path": "m.jsonl", "interval_s": 1.0}}
    if delay:
        config["testing"] = {"producer_delay_ms": delay}
    path = out + ".json"
    with open(path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ, **MPI_ENV)
    code, _, err = run_bounded(["mpirun", "-n", "4", "--bind-to", "none", args.shmjob, "--quiet", path], env,
                               args.timeout)
    if code != 0:
        raise SystemExit(f"{name}: exit {code}: {err[-1500:]}")
    run = shmjob_metrics.load(os.path.join(out, "m.jsonl"))
    choices = shmjob_metrics.compression_choices(run)
    return {"per_s": run.end["matrices_per_s"], "ratio": run.end["ratio"],
            "mean_level": choices["mean_level"] if choices else None}


def spread(values):
    return f"[{min(values):.3f}..{max(values):.3f}]" if values else ""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shmjob", default=default_shmjob())
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--json", default=None)
    p.add_argument("--only", default="", help="run only the jobs whose name starts with this (e.g. level/)")
    args = p.parse_args(argv)
    shape = QUICK if args.quick else LARGE
    rounds = 1 if args.quick else args.rounds
    plan = [j for j in jobs(shape) if j[0].startswith(args.only)]
    results = {name: [] for name, *_ in plan}
    with tempfile.TemporaryDirectory(prefix="shmjob-adaptive-bench-") as work:
        for r in range(rounds):
            for name, kind, compression, delay, elastic in plan:
                res = run_job(args, shape, work, name, kind, compression, delay, elastic)
                results[name].append(res)
                print(f"round {r + 1}: {name}: {res['per_s']:.1f} matrices/s, ratio {res['ratio']:.3f}"
                      + (f", mean level {res['mean_level']:.1f}" if res["mean_level"] else ""),
                      file=sys.stderr, flush=True)

    print(f"{'job':32} {'matrices/s':>11} {'ratio':>7} {'mean level':>10}")
    for name, *_ in plan:
        rs = results[name]
        print(f"{name:32} {fmt(med([x['per_s'] for x in rs]), '11.1f')} "
              f"{fmt(med([x['ratio'] for x in rs]), '7.3f')} {fmt(med([x['mean_level'] for x in rs]), '10.1f')}")

    def per_round(a, b, key):
        return [x[key] / y[key] for x, y in zip(results[a], results[b])]

    goals = {}
    print("\ncomparisons (median of per-round ratios [min..max]):")
    for kind in ("smooth", "random") if not args.only or args.only.startswith("shuffle") else ():
        base = f"shuffle/{kind}/"
        auto, on, off = base + '"auto"', base + "true", base + "false"
        better = [max(a["ratio"], b["ratio"]) for a, b in zip(results[on], results[off])]
        slower = [min(a["per_s"], b["per_s"]) for a, b in zip(results[on], results[off])]
        ratio_vs = [x["ratio"] / b for x, b in zip(results[auto], better)]
        speed_vs = [x["per_s"] / s for x, s in zip(results[auto], slower)]
        goals[f"shuffle_{kind}"] = {"ratio_vs_better_fixed": med(ratio_vs), "speed_vs_slower_fixed": med(speed_vs)}
        print(f"  shuffle auto, {kind}: ratio / better fixed {med(ratio_vs):.3f} {spread(ratio_vs)} (goal >= 0.97); "
              f"speed / slower fixed {med(speed_vs):.3f} {spread(speed_vs)} (goal >= 1)")
    for delay, goal in (("40", "ratio >= 1.1 at speed >= 0.95"), ("40/fixed-stages", "ratio >= 1.1 at speed >= 0.95"),
                        ("0", "speed >= 0.9")):
        a, b = f'level/delay{delay}/"auto"', f"level/delay{delay}/3"
        if a not in results or b not in results:
            continue
        ratio, speed = per_round(a, b, "ratio"), per_round(a, b, "per_s")
        goals[f"level_delay{delay}"] = {"ratio_vs_level3": med(ratio), "speed_vs_level3": med(speed)}
        print(f"  level auto vs 3, producer delay {delay}: ratio {med(ratio):.3f} {spread(ratio)}, "
              f"speed {med(speed):.3f} {spread(speed)} (goal: {goal})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"format": "shmjob-adaptive-bench", "shape": shape, "rounds": rounds, "results": results,
                       "goals": goals}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
