#!/usr/bin/env python3
"""MPI test of elastic stages (stages.elastic): ranks whose stage has nothing to do help the
stage that limits the job, and the output is the same matrices by id whoever did the work.

Cases (each in its own temp dir; the reference is a 1/2/1 run with elastic off):
  identical  splits 1/1/1, 3/1/1, 1/1/3, 2/2/1 and auto on 6 and 16 ranks, elastic on, and 3/1/1 off:
             every stored matrix (h5py through the master) and the index's ids and CRCs equal
             the reference's
  compress   3/1/1, 1/1/3 and 2/1/1 with slow compression (zstd 19): no rank uses more CPU
             than its work accounts for (no spinning while waiting); with elastic on, other ranks
             compress (job_end ranks' "help" adds up: compressors' matrices + helpers'
             compressed = all; the log validates against the schema); with it off, no rank
             has "help"
  produce    a slow producer (testing.producer_delay_ms), 1/2/2: compressors and writers
             produce ("produced" > 0, producers' matrices + helpers' produced = all) and the
             output equals the reference
  resume     3/1/1 with slow compression interrupted (SIGUSR1 to mpirun) while helpers
             compress, then --resume: equal to the reference
  pretend    two pretend nodes (6 ranks): helpers compress but never produce (ids go out in
             blocks job-wide); equal to the reference
Helping needs a core with no working rank, so the "help happened" checks apply on a node of at
least two cores (the job_start record says how many); the equality checks apply everywhere.

usage: elastic_test.py SHMJOB PLUGIN_DIR [case ...]
"""
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

import shmjob_metrics
from helpers.cases import Failed, run_cases

COUNT = 48
SHAPE = (192, 160)
BASE = {"matrices": {"count": COUNT, "rows": SHAPE[0], "cols": SHAPE[1], "dtype": "float64", "kind": "smooth",
                     "seed": 3},
        "compression": {"level": 3}, "metrics": {"interval_s": 0.1}}
# Slow compression, and few raw slots so that producers run out of them (the `auto` pools of
# small matrices would hold every matrix of the job).
SLOW = {"compression": {"level": 19}, "slots": {"per_producer": 2}}


def check(ok, what):
    if not ok:
        raise Failed(what)


def config_for(name, split=None, elastic=True, **extra):
    c = json.loads(json.dumps(BASE))
    c.update(job="el", output_dir=name, metrics=dict(BASE["metrics"], path="m.jsonl"))
    c["stages"] = {"elastic": elastic}
    if split:
        p, z, w = split
        c["stages"].update(producers=p, compressors=z, writers=w)
    for key, value in extra.items():
        c[key] = dict(c.get(key, {}), **value) if isinstance(value, dict) else value
    return c


def run(shmjob, cwd, env, config, ranks, resume=False, wait=True):
    path = os.path.join(cwd, config["output_dir"] + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    cmd = ["mpirun", "-n", str(ranks), shmjob, "--quiet"] + (["--resume"] if resume else []) + [path]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def records(cwd, name):
    start = end = None
    with open(os.path.join(cwd, name, "m.jsonl")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                start = r if r["type"] == "job_start" and start is None else start
                end = r if r["type"] == "job_end" else end
    return start, end


def stored(cwd, name):
    with h5py.File(os.path.join(cwd, name, "el.h5"), "r") as f:
        index = f["index"][...]
        order = np.argsort(index["id"])
        return f["data"][...], index["id"][order], index["crc32"][order]


def same_output(cwd, name, reference):
    data, ids, crcs = stored(cwd, name)
    ref_data, ref_ids, ref_crcs = reference
    check(np.array_equal(ids, ref_ids), f"{name}: index ids differ from the reference's")
    check(np.array_equal(crcs, ref_crcs), f"{name}: index CRCs differ from the reference's")
    check(data.shape == ref_data.shape and np.array_equal(data.view(np.uint64), ref_data.view(np.uint64)),
          f"{name}: stored matrices differ from the reference's")


def run_ok(shmjob, cwd, env, config, ranks):
    r = run(shmjob, cwd, env, config, ranks)
    check(r.returncode == 0, f"{config['output_dir']}: exit {r.returncode}: {r.stderr[-1500:]}")
    return records(cwd, config["output_dir"])


def reference(shmjob, cwd, env, **extra):
    run_ok(shmjob, cwd, env, config_for("ref", (1, 2, 1), elastic=False, **extra), 4)
    return stored(cwd, "ref")


def help_totals(end):
    ranks = end["ranks"]
    helped = {"compressed": 0, "produced": 0}
    for r in ranks:
        for k in helped:
            helped[k] += r.get("help", {}).get(k, 0)
    own = {role: sum(r["matrices"] for r in ranks if r["role"] == role) for role in ("producer", "compressor")}
    return helped, own


def helping_possible(start):
    return (start.get("topology") or {}).get("cores", 2) >= 2


def case_identical(shmjob, cwd, env):
    ref = reference(shmjob, cwd, env)
    for name, split, ranks, elastic in (("s111", (1, 1, 1), 3, True), ("s311", (3, 1, 1), 5, True),
                                        ("s113", (1, 1, 3), 5, True), ("s221", (2, 2, 1), 5, True),
                                        ("auto6", None, 6, True), ("auto16", None, 16, True),
                                        ("s311_off", (3, 1, 1), 5, False)):
        run_ok(shmjob, cwd, env, config_for(name, split, elastic), ranks)
        same_output(cwd, name, ref)


def no_spinning(name, end):
    """A rank's CPU time fits in the time it worked (own stage, help, disk) plus start-up: a rank
    that polled while it waited would use CPU in its wait time."""
    for r in end["ranks"]:
        h = r.get("help", {})
        worked = r["busy_s"] + r["wait_disk_s"] + h.get("compress_s", 0) + h.get("produce_s", 0)
        limit = worked + 0.05 * (r["wait_s"] - r["wait_disk_s"]) + 0.6
        check(r["cpu_s"] <= limit, f"{name}: rank {r['rank']} ({r['role']}) used {r['cpu_s']:.2f} CPU s, "
                                   f"more than its {worked:.2f} s of work allow (spinning while it waited?)")


def case_compress(shmjob, cwd, env):
    for name, split, elastic in (("c311", (3, 1, 1), True), ("c113", (1, 1, 3), True), ("c211", (2, 1, 1), True),
                                 ("c311_off", (3, 1, 1), False)):
        ranks = sum(split)
        start, end = run_ok(shmjob, cwd, env, config_for(name, split, elastic, **SLOW), ranks)
        no_spinning(name, end)
        helped, own = help_totals(end)
        if not elastic:
            check(all("help" not in r for r in end["ranks"]), f"{name}: a rank helped with elastic off")
            continue
        check(own["compressor"] + helped["compressed"] == COUNT,
              f"{name}: compressors {own['compressor']} + helpers {helped['compressed']} != {COUNT}")
        if helping_possible(start):
            check(helped["compressed"] > 0, f"{name}: no rank helped the compressors: {end['ranks']}")
        stages = end["stages"]["compressor"]
        check(stages.get("helped", 0) == helped["compressed"], f"{name}: stages.compressor.helped {stages}")
        problems = shmjob_metrics.schema_errors(os.path.join(cwd, name, "m.jsonl"))
        check(not problems, f"{name}: the log does not validate against the schema: {problems[:3]}")


def case_produce(shmjob, cwd, env):
    ref = reference(shmjob, cwd, env)
    slow_input = {"testing": {"producer_delay_ms": 40}}
    start, end = run_ok(shmjob, cwd, env, config_for("p122", (1, 2, 2), True, **slow_input), 5)
    same_output(cwd, "p122", ref)
    helped, own = help_totals(end)
    check(own["producer"] + helped["produced"] == COUNT,
          f"p122: producers {own['producer']} + helpers {helped['produced']} != {COUNT}")
    if helping_possible(start):
        check(helped["produced"] > 0, f"p122: no rank helped the producer: {end['ranks']}")
        check("Other ranks helped" in end["bottleneck"]["sentence"] or end["bottleneck"]["stage"] != "producer",
              f"p122: verdict does not mention the help: {end['bottleneck']}")


def written_so_far(cwd, name):
    try:
        with open(os.path.join(cwd, name, "m.jsonl")) as f:
            samples = [json.loads(line) for line in f if '"type": "sample"' in line or '"type":"sample"' in line]
    except OSError:
        return 0, 0
    if not samples:
        return 0, 0
    last = samples[-1]
    helped = sum(r.get("help", {}).get("compressed", 0) for r in last["ranks"])
    return last["written"], helped


def case_resume(shmjob, cwd, env):
    ref = reference(shmjob, cwd, env, **SLOW)
    config = config_for("r311", (3, 1, 1), True, **SLOW)
    config["slots"] = {"per_producer": 2, "per_compressor": 2}
    job = run(shmjob, cwd, env, config, 5, wait=False)
    deadline = time.time() + 120
    written = helped = 0
    while time.time() < deadline and job.poll() is None:
        written, helped = written_so_far(cwd, "r311")
        if written >= COUNT // 4 and helped > 0:
            break
        time.sleep(0.05)
    job.send_signal(signal.SIGUSR1)
    _, err = job.communicate(timeout=120)
    check(job.returncode in (0, 4), f"interrupted run: exit {job.returncode}: {err[-1500:]}")
    if job.returncode == 4:
        _, end = records(cwd, "r311")
        check(end["status"] == "interrupted", f"interrupted run's status {end['status']}")
        check(end["matrices"] < COUNT, "the interrupted run wrote everything")
    r = run(shmjob, cwd, env, config, 5, resume=True)
    check(r.returncode == 0, f"resume: exit {r.returncode}: {r.stderr[-1500:]}")
    same_output(cwd, "r311", ref)
    print(f"  interrupted after {written} written, helpers had compressed {helped}; exit {job.returncode}")


def case_pretend(shmjob, cwd, env):
    ref = reference(shmjob, cwd, env)
    start, end = run_ok(shmjob, cwd, env, config_for("pn", None, True, testing={"pretend_nodes": 2}), 6)
    same_output(cwd, "pn", ref)
    helped, _ = help_totals(end)
    check(helped["produced"] == 0, f"pretend nodes: helpers produced {helped['produced']} (blocks are job-wide)")


CASES = {"identical": case_identical, "compress": case_compress, "produce": case_produce, "resume": case_resume,
         "pretend": case_pretend}


def main():
    shmjob, plugins = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.environ["HDF5_PLUGIN_PATH"] = plugins  # h5py here reads the stored zstd chunks too
    env = dict(os.environ)
    return run_cases(CASES, sys.argv[3:], "shmjob-elastic-", lambda name, case, cwd: case(shmjob, cwd, env))


if __name__ == "__main__":
    sys.exit(main())
