#!/usr/bin/env python3
"""MPI test of the transform stage: real jobs under mpirun whose steps use operands from HDF5
files, each output read back with h5py and compared with a numpy twin of the chain.

usage: transform_job_test.py SHMJOB PLUGIN_DIR [CASE...]

Cases (each in its own temp dir, 4 ranks unless said):
  detector     ingested uint16 frames: subtract dark (uint16), multiply by a gain row [1, cols]
               (float32), mask (uint8, value -1), clip min 0, cast float32: bit for bit, and
               `shmjob verify` passes
  saturate     uint16 frames scaled and cast to int8 (nearest) and uint8 (truncate): bit for bit
               with numpy's clip + rint/trunc, the stored dtype is the cast's
  reshape      bin 2 (mean) + transpose + matmul (side right, float64 operand given as float32):
               the stored shape changes; the matmul within 1e-12 of numpy's
  synthetic    a generated float64 job with and without a chain (scale, threshold, divide by a
               column operand [rows, 1]): the transformed output equals the twin of the plain one
  two_sets     an ingest of two shapes (64x48 and 32x48): a row operand [1, 48] fits both; both
               sets transformed
  pretend      two pretend nodes (6 ranks), each loading its own operand copy: same output as
               one node
  reduce       "reduce" over an ingest after a chain: reduce/sum|mean|min|max|count_nonzero in the
               master equal numpy's over the stored matrices (sum and mean within the documented
               bound, the others exactly), and the master's "operands" attribute gives each
               operand's CRC-32 (zlib's)
  resume       a reducing job interrupted (SIGUSR1 to mpirun) after some matrices are written, then
               resumed from its shards alone (the master removed, as after a crash): data and every
               reduction bit for bit equal to an uninterrupted run's; a
               resume with an operand whose content changed is refused (exit 2, names it)
  metrics      the metrics log of a reducing job with a saturating cast and a matmul: valid against
               the schema; compressors' samples carry transform_s and saturated (a job without a
               transform's do not); job_start lists the operands (stored dtype float64 for the
               matmul's); job_end gives the node's operand bytes and its loading ranks' blocks, a
               "transform" stage and the saturated count numpy finds
  numa         a fake two-NUMA topology (HWLOC_SYNTHETIC): "replicate": "numa" keeps 2 copies (job_start,
               job_end, --plan), "node" 1; both outputs identical
  memory       --plan --ranks shows the operands (bytes, copies); operands too large for /dev/shm
               (3.9 GB each, unwritten chunked datasets) are refused up front with exit 2 and no output;
               slots.memory_budget_mb smaller than the operands alone is refused (exit 2), and a
               budget is sized after the operands (fewer slots than without them)
  bad          bad inputs give exit 2, one "shmjob: error:" line naming the operand or the step,
               and no master file: operand shape, missing operand file, missing dataset, a 3-D
               operand, bin factor not dividing, matmul inner dimensions, unknown operand name
Prints "N passed, M failed"; exit 1 on any failure.
"""
import json
import os
import signal
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "analysis")))
import shmjob_metrics as sm  # noqa: E402
from helpers.cases import Failed, run_cases  # noqa: E402

RANKS = 4
ROWS, COLS, COUNT = 64, 48, 30


def check(ok, what):
    if not ok:
        raise Failed(what)


def run(shmjob, config, cwd, env, ranks=RANKS, name="job.json"):
    with open(os.path.join(cwd, name), "w") as f:
        json.dump(config, f)
    return subprocess.run(["mpirun", "-n", str(ranks), shmjob, name], cwd=cwd, capture_output=True, text=True,
                          timeout=300, errors="replace", env=env)


def error_lines(result):
    return [l for l in (result.stdout + result.stderr).splitlines() if l.startswith("shmjob: error:")]


def run_ok(shmjob, config, cwd, env, ranks=RANKS):
    r = run(shmjob, config, cwd, env, ranks)
    check(r.returncode == 0, f"job exited {r.returncode}: {r.stderr[-1500:]}")
    return h5py.File(os.path.join(cwd, config["output_dir"], config["job"] + ".h5"), "r")


def same_bits(a, b):
    """Equal dtype, shape and bytes (NaN payloads and signed zeros included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def make_frames(cwd, rng, shape=(COUNT, ROWS, COLS), name="frames.h5"):
    frames = rng.integers(0, 4000, size=shape, dtype=np.uint16)
    with h5py.File(os.path.join(cwd, name), "w") as f:
        f["data"] = frames
    return frames


def make_calib(cwd, rng):
    calib = {
        "dark": rng.integers(90, 110, size=(ROWS, COLS), dtype=np.uint16),
        "gain": rng.uniform(0.9, 1.1, size=(1, COLS)).astype(np.float32),
        "mask": (rng.random((ROWS, COLS)) < 0.02).astype(np.uint8),
        "column": rng.uniform(1.0, 3.0, size=(ROWS, 1)),
        "P": rng.standard_normal((ROWS // 2, 20)).astype(np.float32),
        "cube": np.zeros((2, ROWS, COLS)),
    }
    with h5py.File(os.path.join(cwd, "calib.h5"), "w") as f:
        for name, value in calib.items():
            f[name] = value
    return calib


def operands(*names):
    return {n: {"file": "calib.h5", "dataset": "/" + n} for n in names}


def case_detector(shmjob, cwd, env, rng):
    x = make_frames(cwd, rng)
    c = make_calib(cwd, rng)
    config = {"job": "det", "output_dir": "out", "input": {"files": "frames.h5"},
              "operands": operands("dark", "gain", "mask"),
              "transform": [{"op": "subtract", "operand": "dark"}, {"op": "multiply", "operand": "gain"},
                            {"op": "mask", "operand": "mask", "value": -1}, {"op": "clip", "min": 0.0},
                            {"op": "cast", "dtype": "float32"}]}
    out = run_ok(shmjob, config, cwd, env)["data"][...]
    y = x.astype("f8") - c["dark"]
    y = y * c["gain"].astype("f8")
    y = np.where(c["mask"] != 0, -1.0, y)
    y = np.clip(y, 0.0, None).astype("f4")
    check(same_bits(out, y), f"detector chain differs from numpy: {out.dtype} {out.shape}, "
                             f"{np.count_nonzero(out != y)} values differ")
    v = subprocess.run([shmjob, "verify", "out"], cwd=cwd, capture_output=True, text=True, env=env)
    check(v.returncode == 0, f"shmjob verify: {v.stdout}{v.stderr}")


def case_saturate(shmjob, cwd, env, rng):
    x = make_frames(cwd, rng)
    for dtype, rounding, lo, hi in (("int8", "nearest", -128, 127), ("uint8", "truncate", 0, 255)):
        config = {"job": "sat_" + dtype, "output_dir": "out_" + dtype, "input": {"files": "frames.h5"},
                  "transform": [{"op": "scale", "factor": 0.1, "offset": -100.5},
                                {"op": "cast", "dtype": dtype, "rounding": rounding}]}
        out = run_ok(shmjob, config, cwd, env)["data"][...]
        y = x.astype("f8") * 0.1 + -100.5
        y = np.rint(y) if rounding == "nearest" else np.trunc(y)
        y = np.clip(y, lo, hi).astype(dtype)
        check(same_bits(out, y), f"cast to {dtype} ({rounding}) differs from numpy: "
                                 f"{np.count_nonzero(out != y)} values")


def case_reshape(shmjob, cwd, env, rng):
    x = make_frames(cwd, rng)
    c = make_calib(cwd, rng)  # P is [ROWS // 2, 20] float32
    config = {"job": "rs", "output_dir": "out", "input": {"files": "frames.h5"}, "operands": operands("P"),
              "transform": [{"op": "bin", "factor": 2, "how": "mean"}, {"op": "transpose"},
                            {"op": "matmul", "operand": "P"}]}
    out = run_ok(shmjob, config, cwd, env)["data"][...]
    v = x.astype("f8").reshape(COUNT, ROWS // 2, 2, COLS // 2, 2)
    s = v[:, :, 0, :, 0].copy()
    for a, b in ((0, 1), (1, 0), (1, 1)):
        s = s + v[:, :, a, :, b]
    binned = s / 4.0
    y = np.transpose(binned, (0, 2, 1)) @ c["P"].astype("f8")
    check(out.shape == (COUNT, COLS // 2, 20) and out.dtype == np.float64, f"stored shape {out.shape} {out.dtype}")
    scale = np.abs(np.transpose(binned, (0, 2, 1))) @ np.abs(c["P"].astype("f8"))
    err = np.max(np.abs(out - y) / np.maximum(scale, 1e-300))
    check(err < 1e-12, f"matmul differs from numpy by {err:g} (relative to |X||P|)")


def case_synthetic(shmjob, cwd, env, rng):
    c = make_calib(cwd, rng)
    base = {"matrices": {"count": 24, "rows": ROWS, "cols": COLS, "dtype": "float64", "kind": "random"}}
    plain = run_ok(shmjob, dict(base, job="plain", output_dir="plain"), cwd, env)["data"][...]
    steps = [{"op": "scale", "factor": 3.0, "offset": 0.25}, {"op": "threshold", "below": 0.5, "value": 0.0},
             {"op": "divide", "operand": "column"}]
    out = run_ok(shmjob, dict(base, job="tf", output_dir="tf", operands=operands("column"), transform=steps),
                 cwd, env)["data"][...]
    y = plain * 3.0 + 0.25
    y = np.where(y < 0.5, 0.0, y)
    y = y / c["column"]
    check(same_bits(out, y), f"synthetic chain differs from numpy: {np.count_nonzero(out != y)} values")


def case_two_sets(shmjob, cwd, env, rng):
    a = make_frames(cwd, rng, (10, ROWS, COLS), "a.h5")
    b = make_frames(cwd, rng, (7, ROWS // 2, COLS), "b.h5")
    c = make_calib(cwd, rng)
    config = {"job": "two", "output_dir": "out", "input": {"files": ["a.h5", "b.h5"]}, "operands": operands("gain"),
              "transform": [{"op": "multiply", "operand": "gain"}, {"op": "cast", "dtype": "float32"}]}
    f = run_ok(shmjob, config, cwd, env)
    for x, name in ((a, f"data_{ROWS}x{COLS}_uint16"), (b, f"data_{ROWS // 2}x{COLS}_uint16")):
        check(name in f, f"no set {name} in {list(f)}")
        y = (x.astype("f8") * c["gain"].astype("f8")).astype("f4")
        check(same_bits(f[name][...], y), f"set {name} differs from numpy")


def case_pretend(shmjob, cwd, env, rng):
    make_frames(cwd, rng)
    make_calib(cwd, rng)
    config = {"job": "one", "output_dir": "one", "input": {"files": "frames.h5"}, "operands": operands("dark"),
              "transform": [{"op": "subtract", "operand": "dark"}]}
    one = run_ok(shmjob, config, cwd, env, ranks=6)["data"][...]
    two = run_ok(shmjob, dict(config, job="two", output_dir="two", testing={"pretend_nodes": 2}), cwd, env,
                 ranks=6)["data"][...]
    check(same_bits(one, two), "two pretend nodes give another output than one node")


def load_log(cwd, config):
    log = os.path.join(cwd, config["output_dir"], config["job"] + ".metrics.jsonl")
    problems = sm.schema_errors(log)
    check(not problems, "log does not match the schema: " + "; ".join(problems[:5]))
    return sm.load(log)


def case_metrics(shmjob, cwd, env, rng):
    x = make_frames(cwd, rng)
    c = make_calib(cwd, rng)
    with h5py.File(os.path.join(cwd, "calib.h5"), "a") as f:
        f["Q"] = rng.standard_normal((COLS, COLS)).astype(np.float32)
    config = {"job": "m", "output_dir": "out", "input": {"files": "frames.h5"}, "operands": operands("dark", "Q"),
              "transform": [{"op": "subtract", "operand": "dark"}, {"op": "matmul", "operand": "Q"},
                            {"op": "scale", "factor": 0.05}, {"op": "cast", "dtype": "int8"}],
              "reduce": ["mean", "max"], "metrics": {"interval_s": 0.05}}
    run_ok(shmjob, config, cwd, env)
    run = load_log(cwd, config)
    ops = {o["name"]: o for o in run.start.get("operands", [])}
    check(set(ops) == {"dark", "Q"}, f"job_start operands: {list(ops)}")
    check(ops["Q"]["dtype"] == "float32" and ops["Q"]["stored_dtype"] == "float64"
          and ops["Q"]["bytes_per_copy"] == COLS * COLS * 8, f"matmul operand as recorded: {ops['Q']}")
    check(ops["dark"]["stored_dtype"] == "uint16" and ops["dark"]["bytes_per_copy"] == ROWS * COLS * 2
          and ops["dark"]["rows"] == ROWS and ops["dark"]["file"] == "calib.h5" and ops["dark"]["dataset"] == "/dark"
          and ops["dark"]["copies"] >= 1, f"dark as recorded: {ops['dark']}")
    node_bytes = sum(o["bytes_per_copy"] * o["copies"] for o in ops.values())
    node = run.end["nodes"][0]
    check(node["operand_bytes"] == node_bytes, f"job_end operand_bytes {node['operand_bytes']} != {node_bytes}")
    check(node["operand_loads"] and sum(l["bytes"] for l in node["operand_loads"]) == node_bytes
          and all(l["seconds"] > 0 for l in node["operand_loads"]), f"operand loads {node['operand_loads']}")
    compressors = [r for s in run.samples for r in s["ranks"] if r["role"] == "compressor"]
    check(compressors and all("transform_s" in r and "saturated" in r for r in compressors),
          "compressors' samples lack transform_s/saturated")
    # Other ranks have them only once they helped compress (elastic stages).
    check(all("transform_s" not in r for s in run.samples for r in s["ranks"]
              if r["role"] != "compressor" and not r.get("help", {}).get("compressed")),
          "other ranks' samples carry transform_s without having compressed")
    # The saturated count: values outside int8 after the scale (numpy's formula of the chain).
    y = (x.astype("f8") - c["dark"]) @ np.asarray(h5py.File(os.path.join(cwd, "calib.h5"))["Q"], "f8") * 0.05
    expected = int(np.count_nonzero((np.rint(y) < -128) | (np.rint(y) > 127)))
    stage = run.end["stages"].get("transform")
    check(stage is not None and stage["saturated"] == expected and expected > 0,
          f"job_end transform stage {stage}, numpy counts {expected} saturated values")
    check(sum(r.get("saturated", 0) for r in run.end["ranks"]) == expected, "ranks' saturated do not add up")
    # Every rank that compressed (compressors, and helpers with elastic stages) has its count.
    last = run.node_samples(0)[-1]
    check(sum(r.get("saturated", 0) for r in last["ranks"]) == expected,
          f"the last sample's saturated counts do not add up: "
          f"{[(r['role'], r.get('saturated')) for r in last['ranks']]}, numpy {expected}")
    check(0 < stage["busy"] <= 1 and run.end["stages"]["compressor"]["busy"] < 1,
          f"transform {stage['busy']}, compress {run.end['stages']['compressor']['busy']}")
    busy = sum(r["busy_s"] for r in run.end["ranks"] if r["role"] == "compressor")
    in_transform = sum(r["transform_s"] for r in run.end["ranks"] if r["role"] == "compressor")
    check(0 < in_transform <= busy, f"transform_s {in_transform} vs busy_s {busy}")
    # A job without a transform logs as before.
    plain = {"job": "p", "output_dir": "plain", "input": {"files": "frames.h5"}}
    run_ok(shmjob, plain, cwd, env)
    plain_run = load_log(cwd, plain)
    check("operands" not in plain_run.start and "transform" not in plain_run.end["stages"]
          and all("transform_s" not in r for s in plain_run.samples for r in s["ranks"])
          and "operand_bytes" not in plain_run.end["nodes"][0], "a job without a transform logs transform fields")


SYNTHETIC_NUMA = "pack:2 [numa] core:2 pu:1"


def case_numa(shmjob, cwd, env, rng):
    make_frames(cwd, rng)
    make_calib(cwd, rng)
    numa_env = dict(env, HWLOC_SYNTHETIC=SYNTHETIC_NUMA)
    outputs = {}
    for replicate, copies in (("numa", 2), ("node", 1)):
        ops = {n: dict(o, replicate=replicate) for n, o in operands("dark", "gain").items()}
        config = {"job": replicate, "output_dir": "out_" + replicate, "input": {"files": "frames.h5"},
                  "operands": ops, "stages": {"producers": 2, "compressors": 2, "writers": 2},
                  "transform": [{"op": "subtract", "operand": "dark"}, {"op": "multiply", "operand": "gain"}]}
        with open(os.path.join(cwd, replicate + ".json"), "w") as f:
            json.dump(config, f)
        r = subprocess.run(["mpirun", "-x", "HWLOC_SYNTHETIC", "-n", "6", shmjob, replicate + ".json"], cwd=cwd,
                           capture_output=True, text=True, timeout=300, env=numa_env)
        check(r.returncode == 0, f"{replicate}: job exited {r.returncode}: {r.stderr[-1500:]}")
        run = load_log(cwd, config)
        check(run.start["topology"]["numa_domains"] == 2, f"topology {run.start['topology']['summary']}")
        recorded = {o["name"]: o["copies"] for o in run.start["operands"]}
        check(recorded == {"dark": copies, "gain": copies}, f"replicate {replicate}: copies {recorded}")
        node_bytes = copies * (ROWS * COLS * 2 + COLS * 4)
        check(run.end["nodes"][0]["operand_bytes"] == node_bytes,
              f"replicate {replicate}: operand_bytes {run.end['nodes'][0]['operand_bytes']} != {node_bytes}")
        # Every rank of a copy's domain reads a block of its rows: together, every copy whole.
        loads = run.end["nodes"][0]["operand_loads"]
        check(len(loads) >= copies and sum(l["bytes"] for l in loads) == node_bytes,
              f"replicate {replicate}: loads {loads} do not add up to {node_bytes} bytes")
        p = subprocess.run(["mpirun", "-x", "HWLOC_SYNTHETIC", "-n", "6", shmjob, "--plan", replicate + ".json"],
                           cwd=cwd, capture_output=True, text=True, timeout=300, env=numa_env)
        check(p.returncode == 0 and f"x {copies} cop" in p.stdout, f"--plan: {p.stdout[-600:]}{p.stderr[-300:]}")
        node0 = json.loads(p.stdout.strip().splitlines()[-1])["nodes"][0]
        check(node0["operand_bytes"] == node_bytes, f"--plan JSON operand_bytes {node0.get('operand_bytes')}")
        with h5py.File(os.path.join(cwd, config["output_dir"], replicate + ".h5"), "r") as f:
            outputs[replicate] = f["data"][...]
    check(same_bits(outputs["numa"], outputs["node"]), "replicate numa and node give different outputs")


def plan(shmjob, cwd, env, config, ranks=4):
    with open(os.path.join(cwd, "plan.json"), "w") as f:
        json.dump(config, f)
    return subprocess.run([shmjob, "--plan", "--ranks", str(ranks), "plan.json"], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


HUGE = 22000  # a 22000 x 22000 float64 operand: 3.9 GB


def case_memory(shmjob, cwd, env, rng):
    make_frames(cwd, rng)
    make_calib(cwd, rng)
    with h5py.File(os.path.join(cwd, "calib.h5"), "a") as f:
        f["P2"] = rng.standard_normal((COLS, 2 * 1024 * 1024 // (8 * COLS)))  # 2 MiB of float64
        # Operands of 3.9 GB each (just under HDF5's 4 GiB limit on one matrix) that the file does not
        # hold: chunks never written read as fill values. Enough of them to pass what this node has.
        shm = os.statvfs("/dev/shm")
        room = shm.f_bavail * shm.f_frsize
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    room = min(room, int(line.split()[1]) * 1024)
        huge = [f"h{i}" for i in range(room // (HUGE * HUGE * 8) + 2)]
        for name in huge:
            f.create_dataset(name, shape=(HUGE, HUGE), dtype="f8", chunks=(1000, 1000))
    base = {"job": "mem", "output_dir": "out", "input": {"files": "frames.h5"}}
    # --plan shows each operand's bytes and copies.
    r = plan(shmjob, cwd, env, dict(base, operands=operands("dark", "P2"),
                                    transform=[{"op": "subtract", "operand": "dark"},
                                               {"op": "matmul", "operand": "P2"}]))
    line = next((l for l in r.stdout.splitlines() if l.startswith("operands on each node:")), "")
    check(r.returncode == 0 and f"dark {ROWS * COLS * 2 / 1e3:.1f} KB (uint16) x " in line and "P2 2.1 MB (float64)" in line,
          f"--plan operands line: {line!r} {r.stderr}")
    node0 = json.loads(r.stdout.strip().splitlines()[-1])["nodes"][0]
    check({o["name"] for o in node0["operands"]} == {"dark", "P2"}, f"--plan JSON operands {node0.get('operands')}")
    # Too large for /dev/shm: refused before anything is allocated.
    config = {"job": "huge", "output_dir": "huge_out", "operands": operands(*huge),
              "matrices": {"count": 4, "rows": 1, "cols": HUGE, "dtype": "float64", "kind": "random"},
              "transform": [{"op": "matmul", "operand": name} for name in huge]}
    r = run(shmjob, config, cwd, env)
    errors = error_lines(r)
    check(r.returncode == 2 and errors and "operands: this node needs" in errors[0]
          and "h0 3.9 GB (float64) x 1 copy" in errors[0] and "are available" in errors[0],
          f"{len(huge)} operands of 3.9 GB: exit {r.returncode}, {errors or r.stderr[-800:]}")
    check(not os.path.exists(os.path.join(cwd, "huge_out", "huge.h5")), "a refused job wrote a master")
    # slots.memory_budget_mb: the operands (here 2 MiB, one copy) come out of it first.
    with h5py.File(os.path.join(cwd, "calib.h5"), "a") as f:
        f["big"] = rng.standard_normal((512, 512))
    synthetic = {"job": "budget", "output_dir": "budget_out",
                 "matrices": {"count": 4, "rows": 512, "cols": 512, "dtype": "float64", "kind": "random"}}
    with_operand = dict(synthetic, operands=operands("big"), transform=[{"op": "add", "operand": "big"}])
    r = run(shmjob, dict(with_operand, slots={"memory_budget_mb": 2}), cwd, env)
    errors = error_lines(r)
    check(r.returncode == 2 and errors and "slots.memory_budget_mb: 2 MB cannot hold the transform's operands alone"
          in errors[0], f"budget below the operands: exit {r.returncode}, {errors or r.stderr[-800:]}")
    check(not os.path.exists(os.path.join(cwd, "budget_out", "budget.h5")), "a refused job wrote a master")
    sized = {}
    for name, config in (("with", with_operand),
                         ("without", dict(synthetic, transform=[{"op": "scale", "factor": 2.0}]))):
        r = plan(shmjob, cwd, env, dict(config, slots={"memory_budget_mb": 20}))
        check(r.returncode == 0, f"--plan with a 20 MB budget ({name} the operand): {r.stderr}")
        sized[name] = json.loads(r.stdout.strip().splitlines()[-1])["nodes"][0]["layout"]["raw_slots_per_producer"]
    check(sized["with"] < sized["without"], f"slots per producer with the operand {sized['with']}, "
                                            f"without {sized['without']}")
    # Each compressor's private scratch counts too. A 512 x 999424 float64 input (4.1 GB) binned by
    # 512 needs one raw slot of 4.1 GB and compressed slots the size of the binned matrix (16 KB),
    # but every compressor keeps a scratch buffer of 4.1 GB: enough compressors to pass the room.
    big = 512 * 999424 * 8
    compressors = room // big + 1
    config = {"job": "scratch", "output_dir": "scratch_out",
              "matrices": {"count": 2, "rows": 512, "cols": 999424, "dtype": "float64", "kind": "random"},
              "stages": {"producers": 1, "compressors": compressors, "writers": 1},
              "slots": {"per_producer": 1, "per_compressor": 1},
              "transform": [{"op": "scale", "factor": 1.0}, {"op": "bin", "factor": 512}]}
    r = plan(shmjob, cwd, env, config, ranks=compressors + 2)
    layout = json.loads(r.stdout.strip().splitlines()[-1])["nodes"][0]["layout"] if r.returncode == 0 else {}
    check(0 < layout.get("compressed_slot_bytes", 0) < 64 * 1024,
          f"compressed slots of a binned 4.1 GB input: {layout or r.stderr}")
    r = run(shmjob, config, cwd, env, ranks=compressors + 2)
    errors = error_lines(r)
    check(r.returncode == 2 and errors and "transform: this node needs" in errors[0]
          and f"for the compressors' transform scratch ({compressors} x " in errors[0],
          f"{compressors} compressors with 4.1 GB of scratch each: exit {r.returncode}, {errors or r.stderr[-800:]}")
    check(not os.path.exists(os.path.join(cwd, "scratch_out", "scratch.h5")), "a refused job wrote a master")


REDUCE = ["sum", "mean", "min", "max", "count_nonzero"]


def expect_reductions(f, stored, prefix="reduce/"):
    d = stored.astype("f8")
    total = np.sum(d, axis=0)
    bound = np.finfo("f8").eps * (np.abs(total) + d.shape[0] * np.sum(np.abs(d), axis=0))
    check(np.all(np.abs(f[prefix + "sum"][...] - total) <= bound), "reduce/sum off numpy's by more than the bound")
    check(np.all(np.abs(f[prefix + "mean"][...] - total / d.shape[0]) <= bound / d.shape[0] * 2), "reduce/mean off")
    check(same_bits(f[prefix + "min"][...], d.min(axis=0)), "reduce/min differs from numpy's")
    check(same_bits(f[prefix + "max"][...], d.max(axis=0)), "reduce/max differs from numpy's")
    check(same_bits(f[prefix + "count_nonzero"][...], np.count_nonzero(d, axis=0).astype("u8")),
          "reduce/count_nonzero differs from numpy's")
    check(f[prefix + "sum"].attrs["matrices"] in (str(d.shape[0]), str(d.shape[0]).encode()),
          f"reduce/sum says {f[prefix + 'sum'].attrs['matrices']} matrices, not {d.shape[0]}")


def case_reduce(shmjob, cwd, env, rng):
    make_frames(cwd, rng)
    c = make_calib(cwd, rng)
    config = {"job": "red", "output_dir": "out", "input": {"files": "frames.h5"}, "operands": operands("dark"),
              "transform": [{"op": "subtract", "operand": "dark"}, {"op": "cast", "dtype": "float32"}],
              "reduce": REDUCE}
    f = run_ok(shmjob, config, cwd, env)
    expect_reductions(f, f["data"][...])
    listed = json.loads(f.attrs["operands"])
    check(len(listed) == 1 and listed[0]["name"] == "dark" and listed[0]["crc32"] == zlib.crc32(c["dark"].tobytes())
          and (listed[0]["rows"], listed[0]["cols"], listed[0]["dtype"]) == (ROWS, COLS, "uint16"),
          f"operands attribute {listed}")


def written_so_far(metrics):
    try:
        with open(metrics) as f:
            samples = [json.loads(l) for l in f if '"sample"' in l]
        return samples[-1]["written"] if samples else 0
    except (OSError, ValueError, KeyError):
        return 0


def case_resume(shmjob, cwd, env, rng):
    count = 120
    make_frames(cwd, rng, (count, ROWS, COLS))
    make_calib(cwd, rng)
    config = {"job": "res", "output_dir": "out", "input": {"files": "frames.h5"}, "operands": operands("gain"),
              "transform": [{"op": "multiply", "operand": "gain"}, {"op": "scale", "factor": 1e-3}],
              "reduce": REDUCE, "metrics": {"interval_s": 0.1}, "slots": {"per_producer": 2, "per_compressor": 2}}
    whole = run_ok(shmjob, dict(config, job="whole", output_dir="whole"), cwd, env)
    paced = dict(config, testing={"writer_delay_ms": 60})
    with open(os.path.join(cwd, "paced.json"), "w") as f:
        json.dump(paced, f)
    job = subprocess.Popen(["mpirun", "-n", str(RANKS), shmjob, "paced.json"], cwd=cwd, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while written_so_far(os.path.join(cwd, "out", "res.metrics.jsonl")) < 5 and time.time() < deadline:
        time.sleep(0.02)
    job.send_signal(signal.SIGUSR1)  # mpirun forwards it to every rank: drain and stop
    out, err = job.communicate(timeout=120)
    check(job.returncode == 4, f"interrupted job exited {job.returncode}: {err[-800:]}")
    with h5py.File(os.path.join(cwd, "out", "res.h5"), "r") as f:
        kept = len(f["index"])
        check(f.attrs["status"] in ("interrupted", b"interrupted") and 0 < kept < count and "reduce" not in f,
              f"after the interrupt: status {f.attrs['status']}, {kept} matrices, reduce in it: {'reduce' in f}")
    print(f"      resume: interrupted with {kept} of {count} matrices written")
    # As after a crash: no master, only the shards (their own indexes and records) are left.
    os.remove(os.path.join(cwd, "out", "res.h5"))
    # An operand whose content changed (same file, dataset, shape and dtype) is refused.
    calib = os.path.join(cwd, "calib.h5")
    os.rename(calib, calib + ".orig")
    with h5py.File(os.path.join(cwd, calib + ".orig"), "r") as f, h5py.File(calib, "w") as g:
        for name in f:
            g[name] = f[name][...] * 2 if name == "gain" else f[name][...]
    r = run(shmjob, dict(config, resume=True), cwd, env)
    errors = error_lines(r)
    check(r.returncode == 2 and len(errors) == 1 and "operands.gain" in errors[0] and "changed" in errors[0],
          f"resume with a changed operand: exit {r.returncode}, errors {errors}")
    os.replace(calib + ".orig", calib)
    resumed = run_ok(shmjob, dict(config, resume=True), cwd, env)
    check(same_bits(resumed["data"][...], whole["data"][...]), "resumed data differs from the uninterrupted run's")
    for name in REDUCE:
        check(same_bits(resumed["reduce/" + name][...], whole["reduce/" + name][...]),
              f"reduce/{name} after a resume ({kept} matrices kept) differs from the uninterrupted run's")


def case_bad(shmjob, cwd, env, rng):
    make_frames(cwd, rng)
    make_calib(cwd, rng)

    def job(ops, steps):
        return {"job": "bad", "output_dir": "out", "input": {"files": "frames.h5"}, "operands": ops, "transform": steps}

    cases = [
        (job(operands("P"), [{"op": "subtract", "operand": "P"}]), ["transform[0] (subtract)", 'operand "P"']),
        (job({"dark": {"file": "nope.h5", "dataset": "/dark"}}, [{"op": "subtract", "operand": "dark"}]),
         ["operands.dark", "nope.h5"]),
        (job({"dark": {"file": "calib.h5", "dataset": "/nothing"}}, [{"op": "subtract", "operand": "dark"}]),
         ["operands.dark", "/nothing"]),
        (job(operands("cube"), [{"op": "subtract", "operand": "cube"}]), ["operands.cube"]),
        (job({}, [{"op": "bin", "factor": 5}]), ["transform[0] (bin)"]),
        (job(operands("P"), [{"op": "matmul", "operand": "P"}]), ["transform[0] (matmul)", 'operand "P"']),
        (job(operands("dark"), [{"op": "subtract", "operand": "drak"}]), ["transform[0].operand", '"drak"']),
    ]
    for config, words in cases:
        r = run(shmjob, config, cwd, env)
        errors = error_lines(r)
        check(r.returncode == 2 and len(errors) == 1 and all(w in errors[0] for w in words)
              and not os.path.exists(os.path.join(cwd, "out", "bad.h5")),
              f"{config['transform']}: exit {r.returncode}, errors {errors}, expected exit 2 and one line with {words}")


CASES = {"detector": case_detector, "saturate": case_saturate, "reshape": case_reshape, "synthetic": case_synthetic,
         "two_sets": case_two_sets, "pretend": case_pretend, "reduce": case_reduce, "resume": case_resume,
         "bad": case_bad, "metrics": case_metrics, "numa": case_numa, "memory": case_memory}


def main():
    shmjob, plugins = os.path.abspath(sys.argv[1]), sys.argv[2]
    chosen = sys.argv[3:]
    os.environ["HDF5_PLUGIN_PATH"] = plugins  # h5py here reads the zstd chunks too
    env = dict(os.environ)
    return run_cases(CASES, chosen, "shmjob-transform-",
                     lambda name, case, cwd: case(shmjob, cwd, env, np.random.default_rng(sum(map(ord, name)))))


if __name__ == "__main__":
    sys.exit(main())
