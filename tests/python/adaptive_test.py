#!/usr/bin/env python3
"""MPI test: compression.shuffle and compression.level "auto" (issue 24).

usage: adaptive_test.py SHMJOB PLUGIN_DIR [case ...]

Cases (each in a temporary directory of its own):
  shuffle_mixed   an ingest of two input files of one shape: 60 float64 `smooth` matrices (shuffle
                  makes them larger) then 60 `poisson` ones (shuffle makes them smaller), tiles
                  of 64 rows, shuffle "auto". The output must hold both choices: >= 90 % of the
                  smooth ids unshuffled, >= 85 % of the poisson ids shuffled (each compressor's
                  first two matrices after the change keep the old choice: two ratios in a row
                  far from the recent mean make it probe). Every chunk's filter mask says what the index says (bit 0 = shuffle
                  skipped). Read back by the independent ingest verifier (h5py, through the VDS
                  and from the shards, bit for bit against the inputs), by h5dump (a shuffled and
                  an unshuffled matrix), by `shmjob read` and `shmjob verify`; `--resume` keeps
                  every matrix (its shard scan accepts both masks). Total stored bytes at most
                  1.03 x the better of the same job with shuffle true and false.
  level_auto      a synthetic job whose producer sleeps 20 ms per matrix (testing.
                  producer_delay_ms): the compressors wait, so the level rises above the start
                  (3) within level_range [2, 9], never outside it; every index row records its
                  level; the output verifies (independent verifier, shmjob verify); the metrics
                  log's samples carry the node's level and the end record the ranks' choices;
                  the report's "Compression choices" states the index's mean level.
  level_fixed     level 5, shuffle false: every index row says level 5, unshuffled; masks 0.
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "analysis"))
sys.path.insert(0, HERE)

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from helpers.cases import Failed, run_cases  # noqa: E402
from helpers.h5dump_check import dumped_values, h5dump, parse_as  # noqa: E402
from shmjob_synthetic import generate_matrix  # noqa: E402

SHAPE = (200, 150)
PER_FILE = 60


def check(ok, what):
    if not ok:
        raise Failed(what)


def run_job(shmjob, cwd, env, name, config, ranks=4, resume=False):
    path = os.path.join(cwd, name + ".json")
    with open(path, "w") as f:
        json.dump(dict(config, job="ad", output_dir=name), f)
    cmd = ["mpirun", "-n", str(ranks), shmjob] + (["--resume"] if resume else []) + [path]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr[-1500:]}")
    return r


def run_tool(cmd, cwd, env, what):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"{what}: exit {r.returncode}: {(r.stdout + r.stderr)[-1500:]}")
    return r


def index_and_masks(master):
    """The master index by id, and per id the OR of its chunks' filter masks (from the shards)."""
    with h5py.File(master, "r") as f:
        index = f["index"][...]
        index = index[np.argsort(index["id"])]
        masks = {}
        directory = os.path.dirname(master)
        for shard_name in sorted(json.loads(f.attrs["shards"])):
            with h5py.File(os.path.join(directory, shard_name), "r") as s:
                for key in s:
                    d = s[key]
                    if not isinstance(d, h5py.Dataset) or d.ndim != 3:
                        continue
                    first = int(d.attrs["first_id"])
                    for i in range(d.id.get_num_chunks()):
                        info = d.id.get_chunk_info(i)
                        matrix = first + int(info.chunk_offset[0])
                        masks[matrix] = masks.get(matrix, 0) | int(info.filter_mask)
    return index, masks


def masks_match_index(index, masks, label):
    for row in index:
        want = 0 if row["shuffled"] else 1
        check(masks.get(int(row["id"])) == want,
              f"{label}: id {row['id']}: chunks' filter mask {masks.get(int(row['id']))}, the index "
              f"says shuffled={row['shuffled']} (mask {want})")


def stored_bytes(master):
    with h5py.File(master, "r") as f:
        return int(f["index"]["compressed_bytes"].sum())


def write_inputs(cwd):
    os.makedirs(os.path.join(cwd, "in"))
    sources = {}
    for name, kind in (("a", "smooth"), ("b", "poisson")):
        frames = np.stack([generate_matrix(kind, "float64", SHAPE[0], SHAPE[1], 11, i) for i in range(PER_FILE)])
        with h5py.File(os.path.join(cwd, "in", name + ".h5"), "w") as f:
            f["frames"] = frames
        sources[kind] = frames
    return np.concatenate([sources["smooth"], sources["poisson"]])


def ingest_config(shuffle):
    return {"input": {"files": ["in/a.h5", "in/b.h5"], "dataset": "/frames"},
            "stages": {"producers": 1, "compressors": 2, "writers": 1},
            "compression": {"level": 3, "shuffle": shuffle, "chunk": [64, SHAPE[1]]}}


def case_shuffle_mixed(shmjob, plugins, cwd, env):
    inputs = write_inputs(cwd)
    run_job(shmjob, cwd, env, "auto", ingest_config("auto"))
    master = os.path.join(cwd, "auto", "ad.h5")
    index, masks = index_and_masks(master)
    check(len(index) == 2 * PER_FILE, f"index has {len(index)} rows")
    smooth_plain = np.mean(index["shuffled"][:PER_FILE] == 0)
    poisson_shuffled = np.mean(index["shuffled"][PER_FILE:] == 1)
    print(f"  shuffle auto: {smooth_plain:.0%} of smooth ids unshuffled, {poisson_shuffled:.0%} of poisson "
          f"ids shuffled")
    check(smooth_plain >= 0.9, f"only {smooth_plain:.0%} of the smooth matrices unshuffled")
    check(poisson_shuffled >= 0.85, f"only {poisson_shuffled:.0%} of the poisson matrices shuffled")
    check(set(index["level"].tolist()) == {3}, f"levels {set(index['level'].tolist())}, expected 3")
    masks_match_index(index, masks, "auto")

    run_tool([sys.executable, os.path.join(HERE, "helpers", "verify_ingest.py"), master, "--input-cwd", cwd,
              "--plugin-dir", plugins], cwd, env, "verify_ingest")
    run_tool([shmjob, "verify", os.path.join(cwd, "auto")], cwd, env, "shmjob verify")
    # One matrix of each choice through h5dump (the VDS, HDF5's own filter pipeline) and
    # through `shmjob read` (the project's reader).
    unshuffled = int(index["id"][np.flatnonzero(index["shuffled"] == 0)[0]])
    shuffled = int(index["id"][np.flatnonzero(index["shuffled"] == 1)[-1]])
    for i in (unshuffled, shuffled):
        code, out, err, cmd = h5dump(master, [i, 60, 0], [1, 8, SHAPE[1]], env)
        values = dumped_values(out)
        check(code == 0 and values is not None, f"{cmd}: exit {code}: {err[-500:]}")
        got = parse_as(values, "float64")
        check(np.array_equal(got.view(np.uint64), inputs[i, 60:68, :].reshape(-1).view(np.uint64)),
              f"h5dump of id {i} differs from the input")
        npy = os.path.join(cwd, f"read{i}.npy")
        run_tool([shmjob, "read", os.path.join(cwd, "auto"), "--id", str(i), "--out", npy], cwd, env, "shmjob read")
        check(np.array_equal(np.load(npy).view(np.uint64), inputs[i].view(np.uint64)),
              f"shmjob read of id {i} differs from the input")

    r = run_job(shmjob, cwd, env, "auto", ingest_config("auto"), resume=True)
    check(f"kept {2 * PER_FILE} of {2 * PER_FILE}" in r.stderr + r.stdout,
          f"--resume did not keep every matrix: {(r.stderr + r.stdout)[-800:]}")

    sizes = {"auto": stored_bytes(master)}
    for fixed in (True, False):
        name = "shuffle_" + str(fixed).lower()
        run_job(shmjob, cwd, env, name, ingest_config(fixed))
        sizes[name] = stored_bytes(os.path.join(cwd, name, "ad.h5"))
    best = min(sizes["shuffle_true"], sizes["shuffle_false"])
    print(f"  stored bytes: auto {sizes['auto']}, shuffle true {sizes['shuffle_true']}, "
          f"false {sizes['shuffle_false']} (auto / better fixed = {sizes['auto'] / best:.3f})")
    check(sizes["auto"] <= 1.03 * best, f"auto stored {sizes['auto']} bytes, more than 1.03 x {best}")


def verify_synthetic(shmjob, plugins, cwd, env, name):
    run_tool([sys.executable, os.path.join(HERE, "helpers", "verify_output.py"), os.path.join(cwd, name, "ad.h5"),
              "--plugin-dir", plugins], cwd, env, f"{name}: verify_output")
    run_tool([shmjob, "verify", os.path.join(cwd, name)], cwd, env, f"{name}: shmjob verify")


SYNTHETIC = {"matrices": {"count": 60, "rows": SHAPE[0], "cols": SHAPE[1], "dtype": "float64", "kind": "smooth",
                          "seed": 4},
             "stages": {"producers": 1, "compressors": 2, "writers": 1}, "metrics": {"interval_s": 0.1}}


def case_level_auto(shmjob, plugins, cwd, env):
    config = dict(SYNTHETIC, compression={"level": "auto", "level_range": [2, 9], "shuffle": False},
                  testing={"producer_delay_ms": 20})
    run_job(shmjob, cwd, env, "la", config)
    index, masks = index_and_masks(os.path.join(cwd, "la", "ad.h5"))
    levels = index["level"]
    print(f"  levels by id: {levels.tolist()}")
    check(levels.min() >= 2 and levels.max() <= 9, f"levels outside [2, 9]: {sorted(set(levels.tolist()))}")
    check(levels.max() > 3, f"the level never rose above 3 while the compressors waited: {levels.tolist()}")
    check(all(m == 0 for m in masks.values()) and len(masks) == 60, "filter masks not all 0 (shuffle false)")
    check(not index["shuffled"].any(), "index says shuffled with shuffle false")
    verify_synthetic(shmjob, plugins, cwd, env, "la")
    with open(os.path.join(cwd, "la", "ad.metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    sampled = [r["compression"]["level"] for r in records if r["type"] == "sample" and "compression" in r]
    check(sampled and min(sampled) >= 2 and max(sampled) <= 9, f"samples' compression.level {sampled}")
    end = [r for r in records if r["type"] == "job_end"][-1]
    compressed = sum(r.get("compression", {}).get("matrices", 0) for r in end["ranks"])
    level_sum = sum(r.get("compression", {}).get("level_sum", 0) for r in end["ranks"])
    check(compressed == 60 and level_sum == int(levels.sum()),
          f"end record: {compressed} matrices, level sum {level_sum}; the index: 60, {int(levels.sum())}")
    # The report's "Compression choices" section states the index's mean level.
    report = os.path.join(cwd, "report.html")
    run_tool([sys.executable, os.path.join(ROOT, "analysis", "report.py"), os.path.join(cwd, "la", "ad.metrics.jsonl"),
              "-o", report], cwd, env, "report.py")
    with open(report) as f:
        html = f.read()
    match = re.search(r'id="choices" data-mean-level="([0-9.]+)"', html)
    check(match and abs(float(match.group(1)) - levels.mean()) < 0.01,
          f"report's mean level {match and match.group(1)}, the index's {levels.mean():.2f}")


def case_level_fixed(shmjob, plugins, cwd, env):
    run_job(shmjob, cwd, env, "lf", dict(SYNTHETIC, compression={"level": 5, "shuffle": False}))
    index, masks = index_and_masks(os.path.join(cwd, "lf", "ad.h5"))
    check(set(index["level"].tolist()) == {5}, f"levels {sorted(set(index['level'].tolist()))}, expected 5")
    check(not index["shuffled"].any() and all(m == 0 for m in masks.values()), "shuffled rows or masks != 0")
    verify_synthetic(shmjob, plugins, cwd, env, "lf")


CASES = {"shuffle_mixed": case_shuffle_mixed, "level_auto": case_level_auto, "level_fixed": case_level_fixed}


def main():
    shmjob, plugins = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    env = dict(os.environ, HDF5_PLUGIN_PATH=plugins)
    return run_cases(CASES, sys.argv[3:], "shmjob-adaptive-",
                     lambda name, case, cwd: case(shmjob, plugins, cwd, env))


if __name__ == "__main__":
    sys.exit(main())
