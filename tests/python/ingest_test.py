#!/usr/bin/env python3
"""MPI test of HDF5 ingest: real `shmjob ingest` / input-config jobs under mpirun, each output
checked bit for bit against its inputs.

usage: ingest_test.py SHMJOB PLUGIN_DIR

Generates the inputs with make_inputs.py (HDF5_PLUGIN_PATH=PLUGIN_DIR, so the zstd inputs are
made) in a temp dir, then runs (3-6 ranks each, working directory = the temp dir, relative
input paths):

  a  `shmjob ingest` of every types/ file (contiguous, chunk per slice, tiles, chunks spanning
     slices, compact; int8..uint64, float16, float32, float64; little- and big-endian) by a quoted glob,
     the filter files (gzip, shuffle+gzip, fletcher32, zstd, shuffle+zstd) by another, and a file
     named twice: 23 output sets; a2: a quoted glob without --job (default job name)
  b  a config file whose input section globs runs/*.h5, dataset "frames" (no leading slash),
     stages 2/2/2 (two producers, two shards)
  c  the group /matrices of groups.h5 (mixed shapes, nested subgroups): --recursive, and
     without it from a config; c3: hard links, a soft-link cycle, a group linked twice, a
     soft link to a dataset elsewhere, a named datatype (each object taken once, first name)
  d  --level / --shuffle variants (filters/*.h5 /ints big-endian int32 at level 1 + shuffle,
     /data at level 19)
  e  progress: `--progress` (ingest and config) prints "[shmjob] N/M matrices  X MB  Y MB/s
     ETA Z s" lines on stderr, ending at M/M; without --progress, stderr (a pipe) gets none
  f  no --dataset: a file whose only matrix dataset is /frames/stack is read from there, with
     one note on stderr; a file with /data and another candidate is read from /data, no note

Every output is checked by verify_ingest.py (master VDS and shards against the source files read
with h5py) and, independently, against the sha256 of each matrix that make_inputs.py recorded in
its manifest (input order and set split derived from the manifest). The verifier must also
reject a copy of an output with a shard deleted and an output whose input was changed.
Finally nothing may be left in /dev/shm. Prints "N passed, M failed".
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = os.path.join(HERE, "helpers")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "analysis"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

import shmjob_output  # noqa: E402
from helpers.shm_check import leftover_entries, shm_entries  # noqa: E402
PROGRESS = re.compile(r"\[shmjob\] (\d+)/(\d+) matrices\s+(\d+) MB\s+(\d+) MB/s\s+ETA (\d+) s")


class Failed(Exception):
    pass


def native_sha256(a):
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
    return hashlib.sha256(a.tobytes()).hexdigest()


class Suite:
    def __init__(self, shmjob, plugin_dir, tmp):
        self.shmjob, self.plugin_dir, self.tmp = shmjob, plugin_dir, tmp
        self.indir = os.path.join(tmp, "in")
        self.env = dict(os.environ, HDF5_PLUGIN_PATH=plugin_dir)
        self.passed, self.failed = [], []
        self.manifest = None

    # --- helpers ------------------------------------------------------------------------------

    def mpirun(self, ranks, args, timeout=120):
        cmd = ["mpirun", "-n", str(ranks), self.shmjob] + args
        start = time.monotonic()
        run = subprocess.run(cmd, cwd=self.tmp, env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        run.seconds = time.monotonic() - start
        return run

    def job(self, ranks, args, master, count, manifest=True):
        """Runs a job that must succeed; checks the output (against the manifest too if its
        inputs are make_inputs.py's). Returns the CompletedProcess."""
        run = self.mpirun(ranks, args)
        if run.returncode != 0:
            raise Failed("shmjob exited %d\nstdout: %s\nstderr: %s"
                         % (run.returncode, run.stdout, run.stderr))
        if "--quiet" not in args and ("complete: %d matrices" % count) not in run.stdout:
            raise Failed("no summary with %d matrices on stdout: %r" % (count, run.stdout))
        if "shmjob: error" in run.stderr or "HDF5-DIAG" in run.stderr:
            raise Failed("errors on stderr of a successful job: %r" % run.stderr)
        self.verify(master, count)
        if manifest:
            self.manifest_check(master)
        return run

    def verify(self, master, count, expect_ok=True):
        cmd = [sys.executable, os.path.join(HELPERS, "verify_ingest.py"), os.path.join(self.tmp, master),
               "--input-cwd", self.tmp, "--expect-count", str(count), "--plugin-dir", self.plugin_dir]
        v = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        out = (v.stdout + v.stderr).strip()
        if expect_ok and v.returncode != 0:
            raise Failed("verify_ingest.py rejected %s:\n%s" % (master, out))
        if not expect_ok and v.returncode != 1:
            raise Failed("verify_ingest.py exited %d on a broken output, expected 1:\n%s"
                         % (v.returncode, out))
        print("    verify_ingest: " + out.splitlines()[-1])
        return out

    def manifest_check(self, master):
        """Second opinion: the master's sets, row by row, against make_inputs.py's manifest."""
        good = {(e["file"], e["dataset"]): e for e in self.manifest["good"]}
        groups = {(g["file"], g["dataset"], g["recursive"]): g for g in self.manifest["groups"]}
        with h5py.File(os.path.join(self.tmp, master), "r") as f:
            config = json.loads(f.attrs["config"])
            inp = config["input"]
            # No input.dataset: make_inputs.py's files all hold /data, which is then read.
            dataset = "/" + inp.get("dataset", "/data").strip("/")
            expected = []  # (shape key, sha256, description) in input order
            for path in f["inputs/files"][...]:
                rel = os.path.relpath(path.decode(), self.indir)
                if (rel, dataset) in good:
                    e = good[(rel, dataset)]
                    key = (e["shape"][-2], e["shape"][-1], e["dtype"])
                    expected += [(key, sha, "%s:%s[%d]" % (rel, dataset, i))
                                 for i, sha in enumerate(e["sha256"])]
                elif (rel, dataset, inp["recursive"]) in groups:
                    for m in groups[(rel, dataset, inp["recursive"])]["matrices"]:
                        expected.append(((m["shape"][0], m["shape"][1], m["dtype"]), m["sha256"],
                                         rel + ":" + m["path"]))
                else:
                    raise Failed("manifest has no entry for %s:%s" % (rel, dataset))
            order, by = [], {}
            for key, sha, what in expected:
                if key not in by:
                    order.append(key)
                    by[key] = []
                by[key].append((sha, what))
            sets = json.loads(f.attrs["datasets"])
            names = [s["name"] for s in sets]
            want = ["data"] if len(order) == 1 else ["data_%dx%d_%s" % k for k in order]
            if names != want:
                raise Failed("%s: sets %s, the manifest implies %s" % (master, names, want))
            for s, key in zip(sets, order):
                data = f[s["name"]]
                if data.shape[0] != len(by[key]):
                    raise Failed("%s:%s has %d rows, the manifest %d"
                                 % (master, s["name"], data.shape[0], len(by[key])))
                for k, (sha, what) in enumerate(by[key]):
                    if native_sha256(data[k]) != sha:
                        raise Failed("%s:%s row %d differs from the manifest's %s"
                                     % (master, s["name"], k, what))
        print("    manifest: %d matrices in %d set(s) match make_inputs.py's sha256"
              % (len(expected), len(order)))

    def count(self, rels, dataset="/data"):
        good = {(e["file"], e["dataset"]): e for e in self.manifest["good"]}
        return sum(len(good[(r, dataset)]["sha256"]) for r in rels)

    def listdir(self, sub, pattern=".h5"):
        return sorted(os.path.join(sub, n) for n in os.listdir(os.path.join(self.indir, sub))
                      if n.endswith(pattern))

    def case(self, name, fn):
        print("--- %s" % name, flush=True)
        start = time.monotonic()
        try:
            fn()
        except (Failed, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
            print("FAIL %s: %s" % (name, e), flush=True)
            self.failed.append(name)
            return
        print("ok   %s (%.1f s)" % (name, time.monotonic() - start), flush=True)
        self.passed.append(name)

    def write_config(self, name, config):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(config, f)
        return name

    # --- cases --------------------------------------------------------------------------------

    def make_inputs(self):
        run = subprocess.run([sys.executable, os.path.join(HELPERS, "make_inputs.py"), self.indir],
                             env=self.env, capture_output=True, text=True, timeout=120)
        print("    " + run.stdout.strip().replace("\n", "\n    "))
        if run.returncode != 0:
            raise Failed("make_inputs.py exited %d: %s" % (run.returncode, run.stderr))
        with open(os.path.join(self.indir, "manifest.json")) as f:
            self.manifest = json.load(f)
        if self.manifest["skipped"]:
            raise Failed("make_inputs.py skipped inputs (zstd plugin not found in %s?): %s"
                         % (self.plugin_dir, self.manifest["skipped"]))
        # A larger compressible input for the progress case: 96 x 256x256 float64, gzip 1.
        y, x = np.mgrid[0:256, 0:256]
        base = np.round(100 * np.sin(x / 7.0) * np.cos(y / 5.0), 3)
        with h5py.File(os.path.join(self.tmp, "big.h5"), "w") as f:
            f.create_dataset("data", data=np.stack([base + k for k in range(96)]),
                             chunks=(1, 256, 256), compression="gzip", compression_opts=1)

    def a_types_and_filters(self):
        types = self.listdir("types")
        filters = self.listdir("filters")
        count = self.count(types) + self.count(filters)
        # A quoted glob (expanded by shmjob), a plain path, the same file again under another
        # name (kept at its first position only), and a second glob that repeats it.
        args = ["ingest", "in/types/*.h5", "in/filters/gzip.h5", "./in/types/compact_int8_le.h5",
                "in/filters/*.h5", "--out", "out_a", "--job", "a"]
        self.job(5, args, "out_a/a.h5", count)
        with h5py.File(os.path.join(self.tmp, "out_a/a.h5"), "r") as f:
            files = [p.decode() for p in f["inputs/files"][...]]
            nsets = len(json.loads(f.attrs["datasets"]))
        want = [os.path.join(self.indir, p) for p in types + ["filters/gzip.h5"]] + \
            [os.path.join(self.indir, p) for p in filters if p != "filters/gzip.h5"]
        if files != want:
            raise Failed("inputs/files in unexpected order: %s" % files)
        if nsets != 23:  # 11 dtypes x 2 shapes of types/, and the filters' float64 tiles
            raise Failed("%d sets, expected 23" % nsets)

    def a2_glob_without_job(self):
        # The job name defaults to the first input's stem; for a quoted glob that stem is "run_*",
        # which is no valid job name: the command must still work (some valid default name).
        run = self.mpirun(3, ["ingest", "in/runs/run_*.h5", "--dataset", "/frames", "--out", "out_a2"])
        if run.returncode != 0:
            raise Failed("`shmjob ingest 'in/runs/run_*.h5' --dataset /frames --out out_a2` "
                         "(no --job) exited %d: %s" % (run.returncode, (run.stderr.strip().splitlines() or [""])[0]))
        masters = [n for n in os.listdir(os.path.join(self.tmp, "out_a2"))
                   if n.endswith(".h5") and ".shard-" not in n]
        if len(masters) != 1:
            raise Failed("out_a2 holds %s, expected one master file" % masters)
        self.verify("out_a2/" + masters[0], self.count(self.listdir("runs"), "/frames"))

    def f_found_dataset(self):
        # No --dataset: /data where a file has it, else the file's only 2-D or 3-D dataset of a
        # supported type, with one note on stderr naming it. Checked by verify_ingest.py, which
        # finds the dataset with h5py's own walk.
        rng = np.random.default_rng(11)
        stack = rng.normal(size=(6, 16, 12)).astype(np.float32)
        with h5py.File(os.path.join(self.tmp, "stack.h5"), "w") as f:
            f["frames/stack"] = stack
            f["meta/time"] = np.arange(6.0)                    # 1-D: not a candidate
            f["meta/names"] = np.array([b"a", b"b"], dtype="S1")  # strings: not one either
        run = self.job(3, ["ingest", "stack.h5", "--out", "out_f", "--job", "f"], "out_f/f.h5", 6,
                       manifest=False)
        notes = [l for l in run.stderr.splitlines() if l.startswith("shmjob: note:")]
        want = ("shmjob: note: input: stack.h5: no input.dataset given and no /data: reading "
                "/frames/stack [6, 16, 12] float32, the file's only 2-D or 3-D dataset")
        if len(notes) != 1 or not notes[0].startswith(want):
            raise Failed("stderr notes %r, expected one starting %r" % (notes, want))
        with h5py.File(os.path.join(self.tmp, "out_f/f.h5"), "r") as f:
            if not np.array_equal(f["data"][...], stack):
                raise Failed("out_f/f.h5 /data differs from stack.h5:/frames/stack")
        # A file with /data and another candidate: /data, and no note.
        with h5py.File(os.path.join(self.tmp, "both.h5"), "w") as f:
            f["data"] = stack[:2]
            f["other"] = stack
        run = self.job(3, ["ingest", "both.h5", "--out", "out_f2", "--job", "f2"], "out_f2/f2.h5", 2,
                       manifest=False)
        if "shmjob: note:" in run.stderr:
            raise Failed("a note for a file with /data: %r" % run.stderr)

    def b_config_glob(self):
        runs = self.listdir("runs")
        config = {"job": "runs", "output_dir": "out_b",
                  "input": {"files": ["in/runs/run_*.h5"], "dataset": "frames"},
                  "stages": {"producers": 2, "compressors": 2, "writers": 2},
                  "slots": {"per_producer": 1, "per_compressor": 1}}
        self.job(6, [self.write_config("b.json", config)], "out_b/runs.h5",
                 self.count(runs, "/frames"))
        shards = sorted(n for n in os.listdir(os.path.join(self.tmp, "out_b")) if ".shard-" in n)
        if shards != ["runs.shard-00000.h5", "runs.shard-00001.h5"]:
            raise Failed("shards %s, expected two" % shards)
        # The verifier must notice a deleted shard (the VDS reads zeros without an error) ...
        shutil.copytree(os.path.join(self.tmp, "out_b"), os.path.join(self.tmp, "out_b_broken"))
        os.remove(os.path.join(self.tmp, "out_b_broken", "runs.shard-00001.h5"))
        out = self.verify("out_b_broken/runs.h5", self.count(runs, "/frames"), expect_ok=False)
        if "runs.shard-00001.h5" not in out:
            raise Failed("verifier did not name the missing shard:\n" + out)

    def b2_changed_input(self):
        # ... and an input changed after the job (one element of one slice).
        os.makedirs(os.path.join(self.tmp, "copy"))
        for n in ("run_000.h5", "run_002.h5"):
            shutil.copy(os.path.join(self.indir, "runs", n), os.path.join(self.tmp, "copy", n))
        self.job(3, ["ingest", "copy/run_000.h5", "copy/run_002.h5", "--dataset", "/frames",
                     "--out", "out_copy", "--quiet"], "out_copy/run_000.h5", 7, manifest=False)
        with h5py.File(os.path.join(self.tmp, "copy", "run_002.h5"), "r+") as f:
            a = f["frames"][1]
            a[3, 4] = a[3, 4] + 1
            f["frames"][1] = a
        out = self.verify("out_copy/run_000.h5", 7, expect_ok=False)
        if "run_002.h5:/frames[1]" not in out:
            raise Failed("verifier did not name the changed matrix:\n" + out)

    def c_group(self):
        listing = {g["recursive"]: g["matrices"] for g in self.manifest["groups"]}
        self.job(4, ["ingest", "in/groups.h5", "--dataset", "/matrices", "--recursive",
                     "--out", "out_c", "--job", "groups"], "out_c/groups.h5", len(listing[True]))
        with h5py.File(os.path.join(self.tmp, "out_c/groups.h5"), "r") as f:
            paths = [p.decode() for p in f["inputs/datasets"][...]]
        if paths != [m["path"] for m in listing[True]]:
            raise Failed("inputs/datasets %s, expected depth-first name order %s"
                         % (paths, [m["path"] for m in listing[True]]))
        config = {"job": "flat", "output_dir": "out_c2",
                  "input": {"files": "in/groups.h5", "dataset": "/matrices/", "recursive": False}}
        self.job(3, [self.write_config("c2.json", config)], "out_c2/flat.h5", len(listing[False]))

    def c3_links(self):
        # Objects reached twice are taken once, at their first name: a hard link to a dataset
        # seen before, a soft link back to the parent group (a cycle), a group linked twice; a
        # soft link to a dataset not reached otherwise counts, at the link's name.
        rng = np.random.default_rng(5)
        with h5py.File(os.path.join(self.tmp, "links.h5"), "w") as f:
            g = f.create_group("g")
            g["a"] = rng.standard_normal((3, 4))
            g["b_same_as_a"] = g["a"]                        # hard link, after "a": skipped
            g.create_group("c")["x"] = rng.integers(0, 9, (2, 5)).astype(">u2")
            g["c/up"] = h5py.SoftLink("/g")                  # cycle: skipped
            g["d_same_group"] = g["c"]                       # the group again: skipped
            f["elsewhere"] = rng.standard_normal((3, 4)).astype(">f8")
            g["e_soft"] = h5py.SoftLink("/elsewhere")        # counts, as /g/e_soft
            g["t"] = np.dtype("<f4")                         # named datatype: skipped
        self.job(3, ["ingest", "links.h5", "--dataset", "/g", "--recursive", "--out", "out_c3"],
                 "out_c3/links.h5", 3, manifest=False)
        with h5py.File(os.path.join(self.tmp, "out_c3/links.h5"), "r") as f:
            paths = [p.decode() for p in f["inputs/datasets"][...]]
        if paths != ["/g/a", "/g/c/x", "/g/e_soft"]:
            raise Failed("inputs/datasets %s, expected ['/g/a', '/g/c/x', '/g/e_soft']" % paths)

    def d_level_shuffle(self):
        filters = self.listdir("filters")
        self.job(4, ["ingest", "in/filters/*.h5", "--dataset", "/ints", "--level", "1",
                     "--shuffle", "--out", "out_d1", "--job", "ints"], "out_d1/ints.h5",
                 self.count(filters, "/ints"))
        self.job(3, ["ingest", "in/filters/*.h5", "--level", "19", "--out", "out_d2",
                     "--job", "floats"], "out_d2/floats.h5", self.count(filters))
        for master, level, shuffle in (("out_d1/ints.h5", 1, True), ("out_d2/floats.h5", 19, False)):
            with h5py.File(os.path.join(self.tmp, master), "r") as f:
                comp = json.loads(f.attrs["config"])["compression"]
            if comp != {"level": level, "shuffle": shuffle}:
                raise Failed("%s: config compression %s" % (master, comp))

    def e_progress(self):
        def lines(stderr):
            return [m.groups() for m in PROGRESS.finditer(stderr)]

        def check(run, label, total, raw_bytes, several):
            found = lines(run.stderr)
            if not found:
                raise Failed("%s: no progress line on stderr: %r" % (label, run.stderr))
            done = [int(g[0]) for g in found]
            if any(int(g[1]) != total for g in found) or done != sorted(done) or done[-1] != total:
                raise Failed("%s: progress counts %s, expected rising to %d" % (label, found, total))
            mb, rate, eta = int(found[-1][2]), int(found[-1][3]), int(found[-1][4])
            if abs(mb - raw_bytes / 1e6) > 1 or rate <= 0 or eta != 0:
                raise Failed("%s: last progress line %s; expected %.0f MB, MB/s > 0, ETA 0"
                             % (label, found[-1], raw_bytes / 1e6))
            if several and len(found) < 2:
                raise Failed("%s: only %d progress line(s) with interval_s 0.05" % (label, len(found)))
            print("    %s: %d progress line(s), last: %s" % (label, len(found), PROGRESS.search(
                run.stderr[run.stderr.rfind("[shmjob]"):]).group(0)))

        raw = 96 * 256 * 256 * 8
        run = self.job(4, ["ingest", "big.h5", "--out", "out_e1", "--progress"], "out_e1/big.h5", 96,
                       manifest=False)
        check(run, "ingest --progress", 96, raw, False)
        config = {"job": "big", "output_dir": "out_e2", "input": {"files": ["big.h5"]},
                  "metrics": {"interval_s": 0.05},
                  "stages": {"producers": 1, "compressors": 2, "writers": 1}}
        run = self.job(4, ["--progress", self.write_config("e2.json", config)], "out_e2/big.h5", 96,
                       manifest=False)
        check(run, "--progress config", 96, raw, True)
        run = self.job(4, ["ingest", "big.h5", "--out", "out_e3"], "out_e3/big.h5", 96,
                       manifest=False)
        if "[shmjob]" in run.stderr or lines(run.stderr):
            raise Failed("progress line without --progress on a non-terminal stderr: %r" % run.stderr)
        config = dict(config, output_dir="out_e4")
        run = self.job(4, [self.write_config("e4.json", config)], "out_e4/big.h5", 96,
                       manifest=False)
        if "[shmjob]" in run.stderr:
            raise Failed("progress line without --progress (config, interval 0.05): %r" % run.stderr)
        print("    no progress line without --progress")


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return 2
    shmjob, plugin_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    try:
        shmjob_output.ensure_plugin(plugin_dir)  # this process reads the output too
    except shmjob_output.PluginNotFound as e:
        print("FAIL: %s" % e)
        return 1
    before = shm_entries()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shmjob-ingest-") as tmp:
        s = Suite(shmjob, plugin_dir, tmp)
        s.case("make inputs", s.make_inputs)
        if s.failed:
            print("0 passed, 1 failed")
            return 1
        s.case("a: ingest types + filters (glob, duplicates)", s.a_types_and_filters)
        s.case("a2: quoted glob without --job", s.a2_glob_without_job)
        s.case("b: config with input glob, 2/2/2, verifier catches a lost shard", s.b_config_glob)
        s.case("b2: verifier catches a changed input", s.b2_changed_input)
        s.case("c: group, mixed shapes, recursive and not", s.c_group)
        s.case("c3: hard/soft links, cycles, named datatype in a group", s.c3_links)
        s.case("d: --level / --shuffle variants", s.d_level_shuffle)
        s.case("e: progress line", s.e_progress)
        s.case("f: no --dataset: /data, else the file's only dataset", s.f_found_dataset)
    left = leftover_entries(before)
    if left:
        print("FAIL: left in /dev/shm: %s" % left)
        s.failed.append("/dev/shm")
    print("%d passed, %d failed (%.1f s)" % (len(s.passed), len(s.failed), time.monotonic() - start))
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
