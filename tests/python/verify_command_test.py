#!/usr/bin/env python3
"""shmjob verify on a real MPI run's output and on corrupted copies of it.

usage: verify_command_test.py SHMJOB

A clean output passes (exit 0). Each corruption must exit 3 (a broken output) and name the matrix ids and the
file: a flipped byte inside one stored chunk (located with h5py's chunk index), a truncated
shard, a missing shard (the VDS then reads fill values without an error, which h5py shows),
a master whose status is not "complete", a duplicated index row, and a VDS that maps ids to
other shards than the index says. A directory without a master exits 2.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np


class Failed(Exception):
    pass


def verify(shmjob, out, expect):
    r = subprocess.run([shmjob, "verify", out], capture_output=True, text=True, timeout=300)
    if r.returncode != expect:
        raise Failed("verify %s exited %d, expected %d\n%s%s" % (out, r.returncode, expect, r.stdout, r.stderr))
    return r.stdout + r.stderr


def expect_lines(text, *words, case):
    lines = [l for l in text.splitlines() if l.startswith("problem: ") and all(w in l for w in words)]
    if not lines:
        raise Failed("%s: no problem line with %s in:\n%s" % (case, words, text))
    print("ok: %s: %s" % (case, lines[0]))


def main():
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-verify-") as tmp:
        config = {"job": "v", "output_dir": os.path.join(tmp, "clean"),
                  "matrices": {"count": 10, "rows": 64, "cols": 48, "dtype": "float64", "kind": "random"},
                  "stages": {"producers": 1, "compressors": 1, "writers": 2},
                  "compression": {"level": 1, "chunk": [32, 32]}}
        with open(os.path.join(tmp, "v.json"), "w") as f:
            json.dump(config, f)
        r = subprocess.run(["mpirun", "-n", "4", shmjob, "--quiet", os.path.join(tmp, "v.json")],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise Failed("job exited %d: %s" % (r.returncode, r.stderr))
        clean = config["output_dir"]
        text = verify(shmjob, clean, 0)
        if not text.startswith("ok: ") or "10 matrices in 2 shards" not in text:
            raise Failed("clean output: %r" % text)
        print("ok: clean output passes: %s" % text.strip())
        with h5py.File(os.path.join(clean, "v.shard-00001.h5"), "r") as f:
            first1 = int(f["data"].attrs["first_id"])
            n1 = f["data"].shape[0]

        def copy(case):
            dst = os.path.join(tmp, case)
            shutil.copytree(clean, dst)
            return dst

        # A flipped byte in the middle of matrix 2's first (full, unpadded) tile.
        out = copy("flipped")
        shard0 = os.path.join(out, "v.shard-00000.h5")
        with h5py.File(shard0, "r") as f:
            info = f["data"].id.get_chunk_info_by_coord((2, 0, 0))
        with open(shard0, "r+b") as f:
            f.seek(info.byte_offset + info.size // 2)
            b = f.read(1)
            f.seek(info.byte_offset + info.size // 2)
            f.write(bytes([b[0] ^ 0x10]))
        expect_lines(verify(shmjob, out, 3), "matrix 2:", "v.shard-00000.h5", case="flipped byte")

        # A truncated shard: it cannot be opened; all its matrices are named.
        out = copy("truncated")
        shard1 = os.path.join(out, "v.shard-00001.h5")
        os.truncate(shard1, os.path.getsize(shard1) // 2)
        expect_lines(verify(shmjob, out, 3), "matrices %d..%d:" % (first1, first1 + n1 - 1), "v.shard-00001.h5",
                     "cannot be opened", case="truncated shard")

        # A missing shard: h5py reads zeros through the VDS without an error; verify does not.
        out = copy("missing")
        os.remove(os.path.join(out, "v.shard-00001.h5"))
        with h5py.File(os.path.join(out, "v.h5"), "r") as f:
            if np.any(f["data"][first1]):
                raise Failed("expected the VDS to read fill values for a missing shard")
        expect_lines(verify(shmjob, out, 3), "matrices %d..%d:" % (first1, first1 + n1 - 1), "v.shard-00001.h5",
                     "missing", case="missing shard")

        # A master whose status is not complete.
        out = copy("status")
        with h5py.File(os.path.join(out, "v.h5"), "r+") as f:
            f.attrs["status"] = "interrupted"
        expect_lines(verify(shmjob, out, 3), "v.h5", "status is 'interrupted'", case="status")

        # An index row doubled (id 4 listed twice, id 5 missing).
        out = copy("index")
        with h5py.File(os.path.join(out, "v.h5"), "r+") as f:
            index = f["index"][...]
            index[5] = index[4]
            f["index"][...] = index
        text = verify(shmjob, out, 3)
        expect_lines(text, "matrix 4:", "2 times", case="doubled id")
        expect_lines(text, "matrix 5:", "missing from the index", case="missing id")

        # A master whose VDS maps the two shards' blocks the other way round (h5py would read the
        # wrong matrices for those ids without any error).
        out = copy("vds")
        with h5py.File(os.path.join(out, "v.h5"), "r+") as f:
            shape, dtype = f["data"].shape, f["data"].dtype
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            n0 = first1
            layout[0:n0] = h5py.VirtualSource("v.shard-00001.h5", "/data", shape=(n1,) + shape[1:])[0:n0]
            layout[n0:] = h5py.VirtualSource("v.shard-00000.h5", "/data", shape=(n0,) + shape[1:])[0:n1]
            del f["data"]
            f.create_virtual_dataset("data", layout)
        expect_lines(verify(shmjob, out, 3), "matrices 0..%d:" % (n0 - 1), "virtual dataset data maps this id to "
                     "v.shard-00001.h5", case="swapped VDS")

        # Not an output directory at all.
        os.makedirs(os.path.join(tmp, "empty"))
        text = verify(shmjob, os.path.join(tmp, "empty"), 2)
        if "no master file" not in text:
            raise Failed("empty directory: %r" % text)
        print("ok: a directory without a master exits 2")
    print("OK")


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print("FAIL: %s" % e)
        sys.exit(1)
