#!/usr/bin/python3
"""CPU time burnt by ranks that wait: a job where most ranks have nothing to do.

Default: 16 ranks on this 2-core machine, 1 producer, 1 compressor at zstd level 19 (the
bottleneck by far), 1 writer, and 13 ranks left idle by the explicit stage counts. The producer
and writer wait for the compressor almost all the time; idle ranks wait for the end of the job.

Three measurements, so one's blind spot is covered by another:
  1. job_end (the job's own accounting): per rank cpu_s (getrusage of the whole process, MPI
     start-up included), busy_s, wait_s; wall = job_end wall_seconds.
  2. /proc sampling: utime+stime of every rank process, read by this script every --poll seconds
     while the job runs; the steady-state CPU rate is taken over the middle half of the run, so
     MPI start-up and shutdown are excluded. Ranks are matched by OMPI_COMM_WORLD_RANK.
  3. A short run (--short-count matrices) for the fixed cost: (cpu_long - cpu_short) /
     (wall_long - wall_short) is the CPU a rank spends per second of waiting.
A rank that spun would get about cores / runnable processes of the wall time (2 / 16 = 12.5 %
here, or more); a rank blocked in a futex should be near 0.

  /usr/bin/python3 bench/idle_cpu_bench.py --shmjob build-bench/shmjob
  /usr/bin/python3 bench/idle_cpu_bench.py --ranks 32 --count 12 --json idle.json
"""
import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import MPI_ENV, ROLES, TICK, default_shmjob  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shmjob", default=default_shmjob(), help="shmjob binary (default: %(default)s)")
    p.add_argument("--mpirun", default="mpirun")
    p.add_argument("--mpirun-args", default="--bind-to none", help="extra mpirun arguments (default: %(default)r)")
    p.add_argument("--ranks", type=int, default=16)
    p.add_argument("--producers", type=int, default=1)
    p.add_argument("--compressors", type=int, default=1)
    p.add_argument("--writers", type=int, default=1)
    p.add_argument("--count", type=int, default=16, help="matrices in the long run (default: %(default)s)")
    p.add_argument("--short-count", type=int, default=1,
                   help="matrices in the start-up baseline run; 0 skips it (default: %(default)s)")
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--cols", type=int, default=512)
    p.add_argument("--dtype", default="float64")
    p.add_argument("--kind", default="smooth", choices=("random", "smooth", "poisson"))
    p.add_argument("--level", type=int, default=19)
    p.add_argument("--interval", type=float, default=1.0, help="metrics.interval_s")
    p.add_argument("--poll", type=float, default=0.25, help="seconds between /proc samples")
    p.add_argument("--threshold", type=float, default=2.0,
                   help="steady-state CPU %% of one core above which a waiting rank is flagged (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--tmpdir", default=None)
    p.add_argument("--json", default=None, metavar="OUT")
    args = p.parse_args(argv)
    if args.producers + args.compressors + args.writers > args.ranks:
        p.error("more stage ranks than --ranks")
    return args


# --- /proc sampling -------------------------------------------------------------------------

def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def world_rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"OMPI_COMM_WORLD_RANK="):
                    return int(item.split(b"=", 1)[1])
    except OSError:
        pass
    return None


class ProcSampler(threading.Thread):
    """Polls the CPU ticks of mpirun's child processes (the ranks, on one node)."""

    def __init__(self, mpirun_pid, period):
        super().__init__(daemon=True)
        self.mpirun_pid, self.period = mpirun_pid, period
        self.samples = {}  # world rank -> [(monotonic time, ticks)]
        self.pids = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            for pid in children_of(self.mpirun_pid):
                if pid not in self.pids:
                    rank = world_rank_of(pid)
                    if rank is None:
                        continue
                    self.pids[pid] = rank
                try:
                    ticks = cpu_ticks(pid)
                except (OSError, IndexError, ValueError):
                    continue
                self.samples.setdefault(self.pids[pid], []).append((now, ticks))
            self.stop.wait(self.period)

    def steady_rates(self):
        """CPU share of one core per rank over the middle half of the span every rank was seen."""
        if not self.samples:
            return {}, 0.0
        start = max(s[0][0] for s in self.samples.values())
        end = min(s[-1][0] for s in self.samples.values())
        if end - start < 4 * self.period:
            return {}, 0.0
        lo, hi = start + 0.25 * (end - start), start + 0.75 * (end - start)
        rates = {}
        for rank, series in self.samples.items():
            window = [s for s in series if lo <= s[0] <= hi]
            if len(window) >= 2 and window[-1][0] > window[0][0]:
                rates[rank] = (window[-1][1] - window[0][1]) / TICK / (window[-1][0] - window[0][0])
        return rates, hi - lo


# --- one job ------------------------------------------------------------------------------

def run_job(args, count, work, tag, poll):
    out_dir = os.path.join(work, tag)
    config = {
        "job": "idle", "output_dir": out_dir, "overwrite": True,
        "matrices": {"count": count, "rows": args.rows, "cols": args.cols, "dtype": args.dtype,
                     "kind": args.kind, "seed": 0},
        "stages": {"producers": args.producers, "compressors": args.compressors, "writers": args.writers},
        "compression": {"level": args.level, "shuffle": False},
        "metrics": {"path": "metrics.jsonl", "interval_s": args.interval},
    }
    config_path = os.path.join(work, tag + ".json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    cmd = [args.mpirun, "-n", str(args.ranks)] + args.mpirun_args.split() + [args.shmjob, "--quiet", config_path]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=dict(os.environ, **MPI_ENV), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    sampler = ProcSampler(proc.pid, poll) if poll else None
    if sampler:
        sampler.start()
    timed_out = False
    try:
        _, stderr = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
    elapsed = time.monotonic() - started
    if sampler:
        sampler.stop.set()
        sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    tree_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    end = None
    metrics_path = os.path.join(out_dir, "metrics.jsonl")
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            ends = [r for r in (json.loads(line) for line in f if line.strip()) if r.get("type") == "job_end"]
        end = ends[-1] if ends else None
    problems = []
    if timed_out:
        problems.append(f"timed out after {args.timeout} s")
    elif proc.returncode != 0:
        problems.append(f"exit code {proc.returncode}")
    if end is None:
        problems.append("no job_end record")
    elif end.get("status") != "complete" or end.get("matrices") != count:
        problems.append(f"status {end.get('status')!r}, {end.get('matrices')} of {count} matrices")
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"tag": tag, "count": count, "rc": None if timed_out else proc.returncode,
            "stderr": stderr[-4000:] if stderr else "", "elapsed_s": elapsed, "tree_cpu_s": tree_cpu,
            "end": end, "problems": problems, "sampler": sampler}


# --- report -------------------------------------------------------------------------------

def by_role(end):
    groups = {}
    for r in end["ranks"]:
        groups.setdefault(r["role"], []).append(r)
    return groups


def report(args, long_run, short_run, out=sys.stdout):
    end = long_run["end"]
    wall, flow = end["wall_seconds"], end["seconds"]
    groups = by_role(end)
    cores = os.cpu_count() or 1
    spin_share = min(1.0, cores / args.ranks)
    rates, window = long_run["sampler"].steady_rates() if long_run["sampler"] else ({}, 0.0)
    short_groups = by_role(short_run["end"]) if short_run and short_run["end"] else {}
    short_wall = short_run["end"]["wall_seconds"] if short_groups else None

    print(f"\nidle_cpu_bench: {args.ranks} ranks on {cores} cores: {args.producers} producer(s), "
          f"{args.compressors} compressor(s) at zstd level {args.level}, {args.writers} writer(s), "
          f"{args.ranks - args.producers - args.compressors - args.writers} idle", file=out)
    print(f"  {args.count} x {args.rows}x{args.cols} {args.dtype} {args.kind}; job wall {wall:.2f} s "
          f"(data flow {flow:.2f} s), mpirun elapsed {long_run['elapsed_s']:.2f} s", file=out)
    print(f"  a spinning rank would use about {cores}/{args.ranks} = {100 * spin_share:.1f} % of the wall "
          f"time ({spin_share * wall:.2f} s CPU here); a blocked one only its start-up cost", file=out)

    print("\n1. job_end (per role; cpu_s includes MPI start-up; share = cpu_s / job wall)", file=out)
    head = (f"{'role':<11}{'ranks':>5} {'wall s':>7} {'cpu_s sum':>9} {'cpu_s/rank':>10} {'max':>7} "
            f"{'busy_s':>8} {'wait_s':>8} {'share/rank':>10} {'max share':>9}")
    print(head, file=out)
    print("-" * len(head), file=out)
    table = {}
    for role in ROLES:
        ranks = groups.get(role, [])
        if not ranks:
            continue
        cpu = [r["cpu_s"] for r in ranks]
        row = {"ranks": len(ranks), "wall_s": wall, "cpu_s": sum(cpu), "cpu_s_mean": statistics.mean(cpu),
               "cpu_s_max": max(cpu), "busy_s": sum(r["busy_s"] for r in ranks),
               "wait_s": sum(r["wait_s"] for r in ranks),
               "share_mean": statistics.mean(cpu) / wall, "share_max": max(cpu) / wall}
        table[role] = row
        print(f"{role:<11}{row['ranks']:>5} {wall:>7.2f} {row['cpu_s']:>9.3f} {row['cpu_s_mean']:>10.3f} "
              f"{row['cpu_s_max']:>7.3f} {row['busy_s']:>8.3f} {row['wait_s']:>8.3f} "
              f"{100 * row['share_mean']:>9.2f}% {100 * row['share_max']:>8.2f}%", file=out)
    idle_cpu = table.get("idle", {}).get("cpu_s", 0.0)
    waiting = [r for role in ("producer", "writer", "idle") for r in groups.get(role, [])]
    waiting_cpu = sum(r["cpu_s"] for r in waiting)
    print(f"cpu share of idle ranks = sum cpu_s(idle) / wall = {idle_cpu:.3f} / {wall:.2f} = "
          f"{idle_cpu / wall:.3f} cores ({100 * idle_cpu / wall / cores:.2f} % of the machine)", file=out)
    print(f"cpu share of all waiting ranks (producer + writer + idle, {len(waiting)} ranks) = "
          f"{waiting_cpu:.3f} / {wall:.2f} = {waiting_cpu / wall:.3f} cores", file=out)
    summed = sum(r["cpu_s"] for r in end["ranks"])
    print(f"whole mpirun tree (getrusage of children): {long_run['tree_cpu_s']:.2f} s CPU; ranks' own "
          f"cpu_s sum {summed:.2f} s; mpirun itself and MPI_Finalize therefore ~"
          f"{long_run['tree_cpu_s'] - summed:.2f} s", file=out)

    steady = {}
    if rates:
        print(f"\n2. /proc steady state (middle half of the run, {window:.1f} s window, "
              f"{args.poll:g} s polls, 1/{TICK} s ticks): CPU % of one core", file=out)
        head = f"{'role':<11}{'ranks':>5} {'mean %':>8} {'max %':>8} {'sum (cores)':>12}"
        print(head, file=out)
        print("-" * len(head), file=out)
        role_of = {r["rank"]: r["role"] for r in end["ranks"]}
        for role in ROLES:
            values = [v for rank, v in rates.items() if role_of.get(rank) == role]
            if not values:
                continue
            steady[role] = {"ranks": len(values), "mean": statistics.mean(values), "max": max(values),
                            "sum": sum(values)}
            print(f"{role:<11}{len(values):>5} {100 * steady[role]['mean']:>8.2f} {100 * max(values):>8.2f} "
                  f"{sum(values):>12.3f}", file=out)
    else:
        print("\n2. /proc steady state: run too short to sample (raise --count)", file=out)

    slopes = {}
    if short_groups:
        dw = wall - short_wall
        print(f"\n3. start-up baseline: {short_run['count']} matrix run, wall {short_wall:.2f} s; "
              f"CPU per second of waiting = (cpu_long - cpu_short) / ({wall:.2f} - {short_wall:.2f} s)",
              file=out)
        head = f"{'role':<11}{'cpu_s short/rank':>16} {'cpu_s long/rank':>15} {'ms CPU per s':>12}"
        print(head, file=out)
        print("-" * len(head), file=out)
        for role in ("producer", "writer", "idle"):
            if role not in short_groups or role not in groups:
                continue
            s = statistics.mean(r["cpu_s"] for r in short_groups[role])
            l = statistics.mean(r["cpu_s"] for r in groups[role])
            slopes[role] = (l - s) / dw if dw > 0 else None
            print(f"{role:<11}{s:>16.3f} {l:>15.3f} {fmt_ms(slopes[role]):>12}", file=out)

    flagged = [(role, v) for role, v in steady.items() if role != "compressor" and 100 * v["max"] > args.threshold]
    print(file=out)
    if not rates:
        verdict = "INCONCLUSIVE (no steady-state samples)"
    elif flagged:
        verdict = "SPINNING? " + ", ".join(f"{role} max {100 * v['max']:.1f} %" for role, v in flagged)
    else:
        verdict = (f"OK: every waiting rank stayed below {args.threshold:g} % of a core in steady state "
                   f"(a spinner would show ~{100 * spin_share:.0f} %)")
    print("verdict: " + verdict, file=out)
    return {"wall_s": wall, "flow_s": flow, "job_end_by_role": table, "idle_cpu_share_cores": idle_cpu / wall,
            "waiting_cpu_share_cores": waiting_cpu / wall, "steady_by_role": steady, "steady_window_s": window,
            "cpu_per_wait_second_by_role": slopes, "spin_reference_share": spin_share,
            "tree_cpu_s": long_run["tree_cpu_s"], "verdict": verdict}


def fmt_ms(v):
    return "-" if v is None else f"{1000 * v:.2f}"


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if not os.access(args.shmjob, os.X_OK):
        sys.exit(f"idle_cpu_bench: shmjob binary not found: {args.shmjob} (build it, or pass --shmjob)")
    with tempfile.TemporaryDirectory(prefix="shmjob-idle-bench-", dir=args.tmpdir) as work:
        short_run = None
        if args.short_count > 0:
            print(f"short run: {args.short_count} matrices ...", file=sys.stderr, flush=True)
            short_run = run_job(args, args.short_count, work, "short", 0)
            if short_run["problems"]:
                print("short run FAILED: " + "; ".join(short_run["problems"]) + "\n" + short_run["stderr"],
                      file=sys.stderr)
        print(f"long run: {args.count} matrices ...", file=sys.stderr, flush=True)
        long_run = run_job(args, args.count, work, "long", args.poll)
    if long_run["problems"]:
        print("long run FAILED: " + "; ".join(long_run["problems"]) + "\n" + long_run["stderr"], file=sys.stderr)
        return 1
    if short_run and short_run["problems"]:
        short_run = None
    result = report(args, long_run, short_run)
    if args.json:
        def plain(run):
            if run is None:
                return None
            d = {k: v for k, v in run.items() if k != "sampler"}
            if run["sampler"]:
                d["proc_samples"] = {str(k): v for k, v in run["sampler"].samples.items()}
            return d
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "result": result, "long": plain(long_run), "short": plain(short_run)},
                      f, indent=1)
    return 0 if not result["verdict"].startswith("SPINNING") else 1


if __name__ == "__main__":
    sys.exit(main())
