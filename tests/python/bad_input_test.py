#!/usr/bin/env python3
"""Bad ingest inputs (docs/ingest.md, "Errors"): each one run as `mpirun -n 3 shmjob ingest ...`
or as a config with an "input" section must exit 2, print exactly one `shmjob: error:` line that
names the file (and the object, where there is one) and the problem, print no HDF5 error stack
and nothing on stdout, create no output directory, and leave nothing in /dev/shm.

usage: bad_input_test.py SHMJOB

The inputs come from make_inputs.py (its manifest lists every bad file with the expected message
part) plus a few more written here (directory, dangling link, group with only subgroups, virtual
and external datasets, bitfield/array/24-bit/12-bit/128-bit-float types, null and scalar
dataspaces, corrupt superblock and object header, named datatype, missing path components), a
missing file, globs matching nothing, and a matrix larger than slots.slot_bytes. One more case
fails while the job runs (a chunk that fails its fletcher32 checksum): exit 1, one error line
naming file:/dataset[slice], no master file. Prints "N passed, M failed".
"""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from h5py import h5d, h5o, h5s, h5t

from helpers.shm_check import leftover_entries, shm_entries

HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers")
RANKS = 3
FILE_LEVEL = ("not an HDF5 file", "truncated HDF5 file", "corrupt or truncated HDF5 file",
              "no such file", "is a directory", "no file matches")


def make_extra(d):
    """Bad inputs make_inputs.py does not write. Returns [(name, file, dataset, expected part)]."""
    os.makedirs(d)
    out = []

    def mk(name, write, dataset, expect):
        path = os.path.join(d, name + ".h5")
        with h5py.File(path, "w") as f:
            write(f)
        out.append((name, "extra/%s.h5" % name, dataset, expect))

    def lowlevel(f, t, space=None):
        h5d.create(f.id, b"data", t, space or h5s.create_simple((2, 3, 3)))

    def int24(f):
        t = h5t.STD_I32LE.copy()
        t.set_size(3)
        lowlevel(f, t)

    def prec12(f):
        t = h5t.STD_I16LE.copy()
        t.set_precision(12)
        lowlevel(f, t)

    def virtual(f):
        f.create_dataset("src", data=np.zeros((2, 3, 3)))
        layout = h5py.VirtualLayout(shape=(2, 3, 3), dtype="f8")
        layout[:] = h5py.VirtualSource(f["src"])
        f.create_virtual_dataset("data", layout)

    def dangling(f):
        f.create_dataset("g/a", data=np.zeros((2, 2)))
        f["g/x"] = h5py.SoftLink("/nowhere")

    mk("dangling", dangling, "/g", ":/g/x: dangling link")
    mk("subgroups_only", lambda f: f.create_dataset("g/sub/a", data=np.zeros((2, 2))), "/g",
       ":/g: group holds no 2-D datasets (it has subgroups: set input.recursive to search them)")
    mk("virtual", virtual, "/data", ":/data: virtual datasets are not supported")
    mk("external", lambda f: f.create_dataset("data", shape=(2, 3, 3), dtype="f8",
                                              external=[("ext.raw", 0, h5py.h5f.UNLIMITED)]),
       "/data", ":/data: data in external raw files are not supported")
    mk("bitfield", lambda f: lowlevel(f, h5t.STD_B8LE), "/data",
       ":/data: unsupported element type: bitfield")
    mk("array", lambda f: f.create_dataset("data", shape=(2, 3), dtype=np.dtype(("<i4", (2,)))),
       "/data", ":/data: unsupported element type: array")
    mk("int24", int24, "/data", ":/data: unsupported element type: 24-bit integer")
    mk("precision12", prec12, "/data",
       ":/data: unsupported element type: integer with 12 significant bits in 16-bit")
    mk("float128", lambda f: f.create_dataset("data", shape=(2, 3, 3), dtype=np.longdouble),
       "/data", ":/data: unsupported element type: 128-bit float")
    mk("null_space", lambda f: lowlevel(f, h5t.IEEE_F64LE, h5s.create(h5s.NULL)), "/data",
       ":/data: is empty (null dataspace)")
    mk("scalar", lambda f: f.create_dataset("data", data=1.0), "/data", ":/data: rank 0")
    mk("named_type", lambda f: f.__setitem__("data", np.dtype("<i4")), "/data",
       ":/data: is a named datatype, not a dataset or group")
    mk("no_parent", lambda f: f.create_dataset("a", data=np.zeros((2, 2))), "/nope/x",
       ":/nope/x: no such dataset or group (/nope does not exist)")
    mk("not_a_group", lambda f: f.create_dataset("a", data=np.zeros((2, 2))), "/a/x",
       ":/a/x: no such dataset or group (/a is not a group)")

    # Corrupt superblock: the bytes after the signature overwritten.
    path = os.path.join(d, "corrupt_superblock.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.zeros((2, 3, 3)))
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(b"\xff" * 40)
    out.append(("corrupt_superblock", "extra/corrupt_superblock.h5", "/data",
                ": corrupt or truncated HDF5 file"))
    # Corrupt object header of /data.
    path = os.path.join(d, "corrupt_header.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.zeros((2, 3, 3)))
        addr = h5o.get_info(f["data"].id).addr
    with open(path, "r+b") as f:
        f.seek(addr)
        f.write(b"\xab" * 32)
    out.append(("corrupt_header", "extra/corrupt_header.h5", "/data", ":/data: unreadable metadata"))

    # Runtime failure: a chunk that fails its fletcher32 checksum (exit 1).
    path = os.path.join(d, "fletcher_bad.h5")
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("data", data=np.arange(6 * 32 * 32, dtype="<f8").reshape(6, 32, 32),
                                chunks=(1, 32, 32), fletcher32=True)
        offset = dset.id.get_chunk_info_by_coord((4, 0, 0)).byte_offset
    with open(path, "r+b") as f:
        f.seek(offset + 100)
        byte = f.read(1)[0]
        f.seek(offset + 100)
        f.write(bytes([byte ^ 0x40]))
    return out


class Runner:
    def __init__(self, shmjob, tmp):
        self.shmjob, self.tmp = shmjob, tmp
        self.passed, self.failed = 0, []
        self.n = 0

    def out_dir(self):
        self.n += 1
        return "out%02d" % self.n

    def run(self, args):
        return subprocess.run(["mpirun", "-n", str(RANKS), self.shmjob] + args, cwd=self.tmp,
                              capture_output=True, text=True, timeout=120)

    def check(self, name, args, fragments, out_dir, code=2, master=None):
        """fragments: every one must be in the error line. out_dir must not exist afterwards
        (code 2) or must hold no master file `master` (code 3)."""
        result = self.run(args)
        text = result.stdout + result.stderr
        errors = [l for l in text.splitlines() if l.startswith("shmjob: error:")]
        problems = []
        if result.returncode != code:
            problems.append("exit code %d, expected %d" % (result.returncode, code))
        if len(errors) != 1:
            problems.append("%d 'shmjob: error:' lines, expected 1" % len(errors))
        if errors and not all(f in errors[0] for f in fragments):
            missing = [f for f in fragments if f not in errors[0]]
            problems.append("message lacks %s" % missing)
        if "HDF5-DIAG" in text:
            problems.append("HDF5 printed its error stack")
        if result.stdout.strip():
            problems.append("unexpected stdout: %r" % result.stdout.strip()[:200])
        full = os.path.join(self.tmp, out_dir)
        if code == 2 and os.path.exists(full):
            problems.append("%s was created" % out_dir)
        if master and os.path.exists(os.path.join(full, master)):
            problems.append("%s/%s was written" % (out_dir, master))
        shown = errors[0] if errors else "(no error line)"
        if len(errors) > 1 and len(set(errors)) == 1:
            shown += "   [printed %d times]" % len(errors)
        if problems:
            print("FAIL %-38s %s\n       %s" % (name, "; ".join(problems), shown), flush=True)
            self.failed.append(name)
        else:
            print("ok   %-38s %s" % (name, shown), flush=True)
            self.passed += 1

    def ingest(self, name, path, dataset, fragments, job="bad", extra=()):
        """dataset None: no --dataset (shmjob looks for /data or the file's only candidate)."""
        out = self.out_dir()
        args = ["ingest", path] + (["--dataset", dataset] if dataset else []) + ["--out", out] + list(extra)
        if job:
            args += ["--job", job]
        self.check(name, args, fragments, out)

    def config(self, name, section, fragments, extra=None):
        out = self.out_dir()
        config = {"job": "bad", "output_dir": out, "input": section}
        config.update(extra or {})
        path = os.path.join(self.tmp, out + ".json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.check(name, [out + ".json"], fragments, out)


def expected_fragments(path, dataset, expect):
    """The file, the object (unless the problem is the file itself) and the problem."""
    if any(k in expect for k in FILE_LEVEL):
        return ["input: %s: " % path, expect.lstrip(": ")]
    if expect.startswith(":"):
        return ["input: %s%s" % (path, expect)]
    return ["input: %s:%s" % (path, dataset), expect]


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    shmjob = os.path.abspath(sys.argv[1])
    before = shm_entries()
    with tempfile.TemporaryDirectory(prefix="shmjob-badin-") as tmp:
        made = subprocess.run([sys.executable, os.path.join(HELPERS, "make_inputs.py"),
                               os.path.join(tmp, "in")], capture_output=True, text=True)
        if made.returncode != 0:
            print("FAIL: make_inputs.py: %s" % made.stderr)
            return 1
        with open(os.path.join(tmp, "in", "manifest.json")) as f:
            manifest = json.load(f)
        extra = make_extra(os.path.join(tmp, "extra"))
        r = Runner(shmjob, tmp)

        # make_inputs.py's bad inputs, through `shmjob ingest` (relative paths, cwd = tmp).
        for bad in manifest["bad"]:
            path = "in/" + bad["file"]
            name = os.path.splitext(os.path.basename(bad["file"]))[0]
            r.ingest(name, path, bad["dataset"], expected_fragments(path, bad["dataset"], bad["expect"]))
        for name, path, dataset, expect in extra:
            r.ingest(name, path, dataset, expected_fragments(path, dataset, expect))
        # No --dataset and no /data: the file's only candidate is used, else a list of them.
        finding = os.path.join(tmp, "find")
        os.makedirs(finding)
        with h5py.File(os.path.join(finding, "two.h5"), "w") as f:
            f["a"] = np.zeros((4, 8, 8))
            f["g/b"] = np.zeros((8, 8), dtype=np.int32)
            f["g/line"] = np.zeros(8)  # 1-D: not a candidate
        r.ingest("two candidates, no --dataset", "find/two.h5", None,
                 ["input: find/two.h5: no input.dataset given and no /data, and 2 datasets could "
                  "hold the matrices: /a [4, 8, 8] float64, /g/b [8, 8] int32 (choose one with "
                  "input.dataset or --dataset)"])
        with h5py.File(os.path.join(finding, "many.h5"), "w") as f:
            for k in range(25):
                f["m%02d" % k] = np.zeros((2, 2), dtype=np.uint8)
        r.ingest("25 candidates, no --dataset", "find/many.h5", None,
                 ["25 datasets could hold the matrices: /m00 [2, 2] uint8, /m01",
                  "/m19 [2, 2] uint8, and 5 more (choose one"])
        with h5py.File(os.path.join(finding, "none.h5"), "w") as f:
            f["line"] = np.zeros(8)
            f["names"] = np.array([b"a", b"b"])
            f["empty"] = np.zeros((0, 4, 4))
        r.ingest("no candidate, no --dataset", "find/none.h5", None,
                 ["input: find/none.h5: no input.dataset given, no /data, and no 2-D or 3-D "
                  "dataset of a supported type"])
        with h5py.File(os.path.join(finding, "stack.h5"), "w") as f:
            f["frames/stack"] = np.zeros((3, 4, 4), dtype=np.float32)
        with h5py.File(os.path.join(finding, "with_data.h5"), "w") as f:
            f["data"] = np.zeros((3, 4, 4), dtype=np.float32)
        r.config("files that choose differently, no dataset",
                 {"files": ["find/stack.h5", "find/with_data.h5"]},
                 ["input: find/with_data.h5: its matrices would be read from /data, but "
                  "find/stack.h5's from /frames/stack"])
        r.ingest("missing file", "in/nope.h5", "/data", ["input: in/nope.h5: no such file"])
        r.ingest("directory", "in/types", "/data", ["input: in/types: is a directory, not an HDF5 file"])
        r.ingest("missing dataset in a good file", "in/groups.h5", "/frames",
                 ["input: in/groups.h5:/frames: no such dataset or group"])
        r.ingest("glob matching nothing", "in/runs/zz*.h5", "/frames",
                 ["input: in/runs/zz*.h5: no file matches this pattern"])
        # No --job: the job name defaults to the first input's stem ("zz*" here), which must not
        # hide the input error.
        r.ingest("glob matching nothing, no --job", "in/runs/zz*.h5", "/frames",
                 ["input: in/runs/zz*.h5: no file matches this pattern"], job=None)
        if os.geteuid() != 0:
            locked = os.path.join(tmp, "locked.h5")
            with h5py.File(locked, "w") as f:
                f.create_dataset("data", data=np.zeros((2, 3, 3)))
            os.chmod(locked, 0)
            r.ingest("unreadable file", "locked.h5", "/data",
                     ["input: locked.h5: cannot read: Permission denied"])
        else:
            print("skip %-38s (running as root: every file is readable)" % "unreadable file")

        # The same through config files.
        r.config("config: missing second file",
                 {"files": ["in/runs/run_000.h5", "in/nope.h5"], "dataset": "/frames"},
                 ["input: in/nope.h5: no such file"])
        r.config("config: glob matching nothing",
                 {"files": ["in/runs/*.h5", "in/none/*.h5"], "dataset": "frames"},
                 ["input: in/none/*.h5: no file matches this pattern"])
        r.config("config: bad file after good ones",
                 {"files": ["in/runs/*.h5", "in/bad/truncated.h5"], "dataset": "/frames"},
                 ["input: in/bad/truncated.h5: truncated HDF5 file"])
        r.config("config: type error in a group",
                 {"files": "in/bad/group_3d.h5", "dataset": "/data", "recursive": True},
                 ["input: in/bad/group_3d.h5:/data/b: rank 3"])
        # A matrix larger than slots.slot_bytes: /matrices/a (8x8 float64, 512 bytes) is the
        # largest; the line must name the key, the file and that matrix.
        r.config("config: matrix > slots.slot_bytes",
                 {"files": ["in/groups.h5"], "dataset": "/matrices"},
                 ["slots.slot_bytes", "300", "512", "in/groups.h5", "/matrices/a"],
                 {"slots": {"slot_bytes": 300}})
        r.config("config: 3-D slice > slots.slot_bytes",
                 {"files": ["in/runs/run_001.h5", "in/runs/run_000.h5"], "dataset": "/frames"},
                 ["slots.slot_bytes", "1000", "1024", "in/runs/run_001.h5", "/frames"],
                 {"slots": {"slot_bytes": 1000}})

        # Failure while the job runs: exit 3 (runtime I/O), the matrix named, no master file.
        out = r.out_dir()
        r.check("runtime: fletcher32 mismatch",
                ["ingest", "extra/fletcher_bad.h5", "--out", out, "--job", "fl"],
                ["input: extra/fletcher_bad.h5:/data[4]: cannot read", "Fletcher32"], out,
                code=3, master="fl.h5")

    left = leftover_entries(before)
    if left:
        print("FAIL: left in /dev/shm: %s" % left)
        r.failed.append("/dev/shm")
    print("%d passed, %d failed" % (r.passed, len(r.failed)))
    if r.failed:
        print("failed: " + ", ".join(r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
