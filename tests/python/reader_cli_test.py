#!/usr/bin/env python3
"""shmjob read / inspect / verify on real MPI runs of every kind the pipeline writes, compared
with h5py reading the same output through the plugin.

usage: reader_cli_test.py SHMJOB

Jobs: tiled float32 with shuffle (tiles that do not divide the matrix, 2 writers), one chunk per
matrix int16 (3 writers), and an ingest of two shapes with tiles clamped to each shape
(`shmjob ingest --chunk 16x64`; a malformed --chunk exits 2 naming compression.chunk), and a tiled
job interrupted with SIGUSR1 (read of a written id, a clear error for an unwritten one, verify
names only the status and the unwritten ids). For each:
`read --out .npy` and `.csv` and the printed text equal h5py's slice of the master's virtual
dataset (whole matrices, slices across tiles, empty slices), bad requests exit 2 with one line,
`inspect` and `inspect --index` describe the output, `verify` passes. A float16 input is
stored and read back bit for bit (specials and NaN included) with the right index statistics.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np


class Failed(Exception):
    pass


def run(cmd, expect=0):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if expect is not None and r.returncode != expect:
        raise Failed("%s exited %d (expected %d)\nstdout: %s\nstderr: %s"
                     % (" ".join(cmd), r.returncode, expect, r.stdout[-2000:], r.stderr[-2000:]))
    return r


def job(shmjob, tmp, name, ranks, config):
    config = dict(config, job=name, output_dir=os.path.join(tmp, name))
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    run(["mpirun", "-n", str(ranks), shmjob, "--quiet", path])
    return os.path.join(tmp, name)


def check_reads(shmjob, tmp, out, cases):
    """cases: (set name, id, rows slice or None, cols slice or None)."""
    master = [p for p in os.listdir(out) if p.endswith(".h5") and ".shard-" not in p][0]
    with h5py.File(os.path.join(out, master), "r") as f:
        sets = {s["name"]: s for s in json.loads(f.attrs["datasets"])}
        for set_name, mid, rows, cols in cases:
            s = sets[set_name]
            rs = slice(*rows) if rows else slice(None)
            cs = slice(*cols) if cols else slice(None)
            want = f[set_name][mid - s["first_id"], rs, cs]
            args = [shmjob, "read", out, "--id", str(mid)]
            if rows:
                args += ["--rows", "%d:%d" % rows]
            if cols:
                args += ["--cols", "%d:%d" % cols]
            npy = os.path.join(tmp, "m.npy")
            run(args + ["--out", npy])
            got = np.load(npy)
            if got.dtype != want.dtype or got.shape != want.shape or got.tobytes() != want.tobytes():
                raise Failed("%s id %d rows %s cols %s: .npy %s %s differs from h5py's %s %s"
                             % (out, mid, rows, cols, got.dtype, got.shape, want.dtype, want.shape))
            if want.size == 0:
                continue
            csv = os.path.join(tmp, "m.csv")
            run(args + ["--out", csv])
            got = np.loadtxt(csv, delimiter=",", dtype=want.dtype, ndmin=2)
            if got.tobytes() != want.tobytes():
                raise Failed("%s id %d: .csv differs from h5py" % (out, mid))
            text = run(args).stdout.splitlines()
            if not text[0].startswith("# matrix %d:" % mid):
                raise Failed("printed header %r" % text[0])
            got = np.array([[want.dtype.type(v) for v in line.split()] for line in text[1:]], dtype=want.dtype)
            if got.tobytes() != want.tobytes():
                raise Failed("%s id %d: printed values differ from h5py" % (out, mid))
    print("ok: %s: %d reads equal h5py's" % (out, len(cases)))


def check_float16(shmjob, tmp):
    """A float16 input (as numpy and h5py write it) is stored as float16, bit for bit: zeros of
    both signs, subnormals, the largest value, infinities, NaN; read, .npy and .csv give the
    same bits (values printed as the fewest digits that read back); the index's min/max/mean
    are those of the numbers (NaN skipped)."""
    rng = np.random.default_rng(16)
    frames = (rng.normal(size=(4, 9, 7)) * 300).astype(np.float16)
    specials = np.array([0.0, -0.0, 6e-8, -6.1e-5, 65504, -65504, np.inf, -np.inf, 0.1, 1 / 3],
                        dtype=np.float16)
    frames[1].reshape(-1)[:specials.size] = specials
    frames[3, 0, 0] = np.nan
    source = os.path.join(tmp, "half.h5")
    with h5py.File(source, "w") as f:
        f["frames"] = frames
    out = os.path.join(tmp, "half")
    run(["mpirun", "-n", "3", shmjob, "ingest", source, "--out", out, "--job", "half", "--quiet"])
    with h5py.File(os.path.join(out, "half.h5"), "r") as f:
        data = f["data"]
        if data.dtype != np.float16:
            raise Failed("float16 input stored as %s" % data.dtype)
        if data[...].view(np.uint16).tobytes() != frames.view(np.uint16).tobytes():
            raise Failed("float16 output differs from the input bits")
        index = f["index"][...]
    for row in index:
        values = frames[int(row["id"])].astype(np.float64)
        want = (np.nanmin(values), np.nanmax(values), np.nanmean(values))
        got = (row["min"], row["max"], row["mean"])
        if got[:2] != want[:2] or not (got[2] == want[2] or abs(got[2] - want[2]) <= 1e-12 * abs(want[2])
                                       or (np.isnan(got[2]) and np.isnan(want[2]))):
            raise Failed("index of float16 matrix %d: min/max/mean %s, expected %s" % (row["id"], got, want))
    check_reads(shmjob, tmp, out, [("data", 0, None, None), ("data", 1, None, None), ("data", 2, (3, 8), (1, 6))])
    npy = os.path.join(tmp, "nan.npy")
    run([shmjob, "read", out, "--id", "3", "--out", npy])
    got = np.load(npy)
    if got.dtype != np.float16 or got.view(np.uint16).tobytes() != frames[3].view(np.uint16).tobytes():
        raise Failed("read --out .npy of the float16 matrix with a NaN: %s, bits differ" % got.dtype)
    check_inspect_verify(shmjob, out, 4, ["float16"])
    print("ok: float16 ingest stored, read and indexed bit for bit")


def check_errors(shmjob, out, count, rows):
    for args, words in ((["--id", str(count)], ["out of range", "ids 0 to %d" % (count - 1)]),
                        (["--id", "0", "--rows", "0:%d" % (rows + 1)], ["rows 0:%d" % (rows + 1), "outside"]),
                        (["--id", "0", "--cols", "x:y"], ["--cols x:y"]),
                        (["--id", "0", "--out", "m.txt"], [".npy or .csv"])):
        r = run([shmjob, "read", out] + args, expect=2)
        lines = r.stderr.strip().splitlines()
        if len(lines) != 1 or not all(w in lines[0] for w in words):
            raise Failed("read %s: stderr %r lacks %s" % (args, r.stderr, words))
    r = run([shmjob, "read", os.path.join(out, "nothing-here"), "--id", "0"], expect=2)
    if "no such file" not in r.stderr:
        raise Failed("missing output: %r" % r.stderr)


def check_inspect_verify(shmjob, out, count, words):
    r = run([shmjob, "inspect", out])
    for w in ["status complete", "matrices: %d ids, %d in the index" % (count, count), "ratio", "config:",
              "plan:"] + words:
        if w not in r.stdout:
            raise Failed("inspect %s: %r missing from\n%s" % (out, w, r.stdout))
    r = run([shmjob, "inspect", out, "--index"])
    if len(r.stdout.strip().splitlines()) != count + 1:
        raise Failed("inspect --index printed %d lines for %d matrices" % (len(r.stdout.splitlines()), count))
    r = run([shmjob, "verify", out])
    if not r.stdout.startswith("ok: ") or "%d matrices" % count not in r.stdout:
        raise Failed("verify %s: %r" % (out, r.stdout))


def interrupted_job(shmjob, tmp):
    """A tiled job stopped by SIGUSR1 to mpirun after a few matrices: master "interrupted"."""
    name = "intr"
    config = {"job": name, "output_dir": os.path.join(tmp, name),
              "matrices": {"count": 40, "rows": 512, "cols": 256, "kind": "smooth"},
              "stages": {"producers": 1, "compressors": 2, "writers": 2},
              "compression": {"level": 19, "chunk": [128, 128]}, "metrics": {"interval_s": 0.1}}
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    job = subprocess.Popen(["mpirun", "-n", "5", shmjob, "--quiet", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with open(metrics) as f:
                samples = [json.loads(l) for l in f if '"sample"' in l]
            if samples and samples[-1]["written"] >= 3:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    job.send_signal(signal.SIGUSR1)
    out, err = job.communicate(timeout=300)
    if job.returncode != 4:
        raise Failed("interrupted job exited %d: %s" % (job.returncode, err))
    return config["output_dir"]


def check_interrupted(shmjob, tmp, out):
    with h5py.File(os.path.join(out, "intr.h5"), "r") as f:
        written = sorted(int(i) for i in f["index"]["id"])
    missing = sorted(set(range(40)) - set(written))
    if not written or not missing:
        raise Failed("interrupted job wrote %d of 40 matrices" % len(written))
    check_reads(shmjob, tmp, out, [("data", written[0], None, None), ("data", written[-1], (100, 300), (50, 200))])
    r = run([shmjob, "read", out, "--id", str(missing[0])], expect=2)
    if "not in the index" not in r.stderr or "interrupted" not in r.stderr:
        raise Failed("read of an unwritten id: %r" % r.stderr)
    if "status interrupted" not in run([shmjob, "inspect", out]).stdout:
        raise Failed("inspect does not show the interrupted status")
    text = run([shmjob, "verify", out], expect=3).stdout
    problems = [l for l in text.splitlines() if l.startswith("problem: ")]
    # Only the status and the ids that were never written: every written matrix verifies.
    unexpected = [l for l in problems if "status is 'interrupted'" not in l and "missing from the index" not in l]
    if unexpected or not any("status is 'interrupted'" in l for l in problems):
        raise Failed("verify of an interrupted output: %s" % problems)
    if "%d of 40 matrices read back intact" % len(written) not in text:
        raise Failed("verify did not read every written matrix: %r" % text.splitlines()[-1])
    print("ok: interrupted output: %d of 40 written, read/inspect/verify agree" % len(written))


def main():
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-reader-") as tmp:
        tiled = job(shmjob, tmp, "tiled", 5, {
            "matrices": {"count": 9, "rows": 100, "cols": 70, "dtype": "float32", "kind": "random", "seed": 5},
            "stages": {"producers": 1, "compressors": 2, "writers": 2},
            "compression": {"level": 1, "shuffle": True, "chunk": [32, 25]}})
        check_reads(shmjob, tmp, tiled, [("data", 0, None, None), ("data", 8, None, None),
                                         ("data", 4, (30, 70), (20, 51)), ("data", 5, (99, 100), (69, 70)),
                                         ("data", 6, (10, 10), None), ("data", 7, (0, 100), (0, 70))])
        check_errors(shmjob, tiled, 9, 100)
        check_inspect_verify(shmjob, tiled, 9, ["chunks [32, 25]", "tiled.shard-00000.h5", "tiled.shard-00001.h5",
                                                "float32"])

        whole = job(shmjob, tmp, "whole", 5, {
            "matrices": {"count": 7, "rows": 33, "cols": 17, "dtype": "int16", "kind": "poisson"},
            "stages": {"producers": 1, "compressors": 1, "writers": 3}})
        check_reads(shmjob, tmp, whole, [("data", 0, None, None), ("data", 6, (3, 9), (0, 17)),
                                         ("data", 3, (0, 33), (16, 17))])
        check_inspect_verify(shmjob, whole, 7, ["chunks [33, 17]", "int16"])

        # An ingest of two shapes: tiles [16, 64] are clamped to each shape's columns.
        inputs = os.path.join(tmp, "inputs")
        os.makedirs(inputs)
        rng = np.random.default_rng(3)
        with h5py.File(os.path.join(inputs, "a.h5"), "w") as f:
            f["frames"] = rng.integers(0, 250, size=(5, 50, 40), dtype=np.uint8)
        with h5py.File(os.path.join(inputs, "b.h5"), "w") as f:
            f["frames"] = rng.normal(size=(3, 30, 20))
        ingest = os.path.join(tmp, "ingest")
        run(["mpirun", "-n", "4", shmjob, "ingest", os.path.join(inputs, "*.h5"), "--dataset", "/frames",
             "--chunk", "16x64", "--out", ingest, "--job", "ingest", "--quiet"])
        bad = run(["mpirun", "-n", "3", shmjob, "ingest", os.path.join(inputs, "*.h5"), "--dataset", "/frames",
                   "--chunk", "16", "--out", os.path.join(tmp, "bad"), "--quiet"], expect=2)
        if "compression.chunk" not in bad.stderr:
            raise Failed("ingest --chunk 16: %r" % bad.stderr)
        with h5py.File(os.path.join(ingest, "ingest.h5"), "r") as f:
            names = [s["name"] for s in json.loads(f.attrs["datasets"])]
            firsts = {s["name"]: s["first_id"] for s in json.loads(f.attrs["datasets"])}
        u8 = [n for n in names if "uint8" in n][0]
        f64 = [n for n in names if "float64" in n][0]
        check_reads(shmjob, tmp, ingest, [(u8, firsts[u8] + 0, None, None), (u8, firsts[u8] + 4, (15, 33), (5, 40)),
                                          (f64, firsts[f64] + 2, None, None), (f64, firsts[f64] + 1, (16, 30), None)])
        with h5py.File(os.path.join(inputs, "a.h5"), "r") as src:
            got = run([shmjob, "read", ingest, "--id", str(firsts[u8] + 3), "--out", os.path.join(tmp, "in.npy")])
            if not np.array_equal(np.load(os.path.join(tmp, "in.npy")), src["frames"][3]):
                raise Failed("ingest: read differs from the input matrix")
        check_inspect_verify(shmjob, ingest, 8, ["chunks [16, 40]", "chunks [16, 20]", u8, f64])

        check_float16(shmjob, tmp)
        check_interrupted(shmjob, tmp, interrupted_job(shmjob, tmp))
    print("OK")


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print("FAIL: %s" % e)
        sys.exit(1)
