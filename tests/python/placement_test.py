#!/usr/bin/env python3
"""Placement end to end: the plan `shmjob --plan` prints is the plan the job runs.

usage: placement_test.py SHMJOB

1. `--plan --ranks N --topology T` (no MPI) for the topologies of the placement issue: valid
   JSON, every rank one role, every lane with a producer, compressor and writer.
2. Under mpirun with HWLOC_SYNTHETIC (2 NUMA domains x 4 cores) for every rank: the plan printed
   by `--plan` equals the roles and lanes the job's ranks took (start record), nothing is bound
   ("not this system"), and the output is still right (verify_output.py).
3. On this machine (pinning auto): every rank is bound to the PUs of its plan and the PU it last
   ran on (hwloc_get_last_cpu_location) is one of them; with pinning "none" nothing is bound.
"""
import json
import os
import subprocess
import sys
import tempfile

HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers")
SYNTHETIC = "pack:2 [numa] core:4 pu:1"
failures = []
passed = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message)
    (passed if condition else failures).append(message)


def plan_json(output):
    return json.loads(output.strip().splitlines()[-1])


def run(cmd, env=None, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, **kw)


def start_record(out_dir):
    # Every job here is named after its output directory; its log is <job>.metrics.jsonl.
    with open(os.path.join(out_dir, os.path.basename(out_dir) + ".metrics.jsonl")) as f:
        return json.loads(f.readline())


def main():
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-place-") as tmp:
        def config(name, **extra):
            c = {"job": name, "output_dir": os.path.join(tmp, name),
                 "matrices": {"count": 24, "rows": 64, "cols": 64, "kind": "smooth"}}
            c.update(extra)
            path = os.path.join(tmp, name + ".json")
            with open(path, "w") as f:
                json.dump(c, f)
            return path, c["output_dir"]

        path, _ = config("plan")
        for topo, ranks, lanes in [("pack:1 [numa] core:2 pu:1", 16, 1),
                                   ("pack:2 [numa] core:8 pu:1", 16, 2),
                                   ("pack:2 numa:4 core:16 pu:2", 64, 8),
                                   ("numa:8 core:8 pu:1", 64, 8)]:
            r = run([shmjob, "--plan", path, "--ranks", str(ranks), "--topology", topo])
            if r.returncode != 0:
                check(False, f"--plan for {topo}: exit {r.returncode}: {r.stderr}")
                continue
            plan = plan_json(r.stdout)["nodes"][0]
            roles = [x["role"] for x in plan["ranks"]]
            check(len(roles) == ranks and len(plan["lanes"]) == lanes and
                  all(l["producers"] >= 1 and l["compressors"] >= 1 and l["writers"] >= 1 for l in plan["lanes"]),
                  f"--plan {ranks} ranks on '{topo}': {len(plan['lanes'])} lanes, every stage in every lane")
            check("rank  role" in r.stdout, f"--plan on '{topo}' prints a table")

        # 2. Synthetic topology for every rank, under mpirun.
        env = dict(os.environ, HWLOC_SYNTHETIC=SYNTHETIC)
        path, out = config("synthetic", stages={"producers": 2, "compressors": 4, "writers": 2})
        r = run(["mpirun", "-x", "HWLOC_SYNTHETIC", "-n", "8", shmjob, "--plan", path], env=env)
        check(r.returncode == 0, f"mpirun --plan with HWLOC_SYNTHETIC exits 0 ({r.stderr.strip()[:200]})")
        if r.returncode == 0:
            printed = plan_json(r.stdout)["nodes"][0]
            check(len(printed["lanes"]) == 2, "the synthetic plan has 2 lanes (one per NUMA domain)")
            check(not os.path.exists(out), "--plan writes no output")
            job = run(["mpirun", "-x", "HWLOC_SYNTHETIC", "-n", "8", shmjob, path], env=env)
            check(job.returncode == 0, f"the job runs on the synthetic topology ({job.stderr.strip()[:300]})")
            if job.returncode == 0:
                ranks = start_record(out)["plan"]["ranks"]
                taken = [(x["node_rank"], x["role"], x["role_index"], x["lane"]) for x in ranks]
                planned = [(x["node_rank"], x["role"], x["role_index"], x["lane"]) for x in printed["ranks"]]
                check(sorted(taken) == sorted(planned), "ranks took the roles and lanes --plan printed")
                check(all(not x["bound"] and "not this system" in x["binding"] for x in ranks),
                      "nothing is bound on a synthetic topology, and the log says why")
                v = run([sys.executable, os.path.join(HELPERS, "verify_output.py"),
                         os.path.join(out, "synthetic.h5")])
                check(v.returncode == 0, "output of the synthetic-topology job verifies: " + v.stdout.strip()[-200:])

        # Compressors taking from every lane in turn ("shared") give the same output.
        path, out = config("shared", stages={"producers": 2, "compressors": 4, "writers": 2},
                           placement={"work_sharing": "shared"})
        job = run(["mpirun", "-x", "HWLOC_SYNTHETIC", "-n", "8", shmjob, path], env=env)
        v = run([sys.executable, os.path.join(HELPERS, "verify_output.py"), os.path.join(out, "shared.h5")])
        check(job.returncode == 0 and v.returncode == 0,
              "2 lanes with work_sharing shared: output verifies " + (job.stderr + v.stdout).strip()[-200:])

        # 3. This machine: pinned by the plan.
        path, out = config("pinned")
        job = run(["mpirun", "--bind-to", "none", "-n", "4", shmjob, path])
        check(job.returncode == 0, f"pinned job runs ({job.stderr.strip()[:300]})")
        # One core (two hyperthreads, say): the plan binds nothing there (pinning auto), and
        # there is nothing to check.
        cores = start_record(out)["topology"]["cores"] if job.returncode == 0 else 0
        if job.returncode == 0 and cores < 2:
            print(f"note: this machine has {cores} core(s): pinning by the plan not checked here")
        elif job.returncode == 0:
            ranks = start_record(out)["plan"]["ranks"]
            plan = start_record(out)["plan"]["node0"]["ranks"]
            for x in ranks:
                planned = plan[x["node_rank"]]["pus"]
                pus = [int(p) for p in x["pus"].split(",") if p] if "-" not in x["pus"] else None
                check(x["bound"] and x["current_pu"] in planned and (pus is None or pus == planned),
                      f"rank {x['rank']} bound to PUs {x['pus']} (plan {planned}), last ran on PU {x['current_pu']}")
            v = run([sys.executable, os.path.join(HELPERS, "verify_output.py"), os.path.join(out, "pinned.h5")])
            check(v.returncode == 0, "output of the pinned job verifies")
        path, out = config("unpinned", placement={"pinning": "none"})
        job = run(["mpirun", "-n", "4", shmjob, path])
        check(job.returncode == 0 and all(not x["bound"] for x in start_record(out)["plan"]["ranks"]),
              "pinning none binds nothing")

    print(f"{len(passed)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
