#!/usr/bin/env python3
"""Filtered HDF5 input that decodes to the wrong size (issue 18): HDF5 does not check that a filter
pipeline decoded a whole chunk, and H5Dread hands over the rest of its chunk buffer (earlier
chunks, heap bytes) without an error. shmjob decodes each chunk once before reading it.

usage: filtered_input_test.py SHMJOB

- every pipeline reads back exactly (one job over a file per pipeline, compared with h5py):
  gzip, shuffle+gzip, zstd, shuffle+zstd, szip, shuffle+szip, fletcher32, gzip+fletcher32,
  gzip+zstd (two compressors), scaleoffset, nbit, and the LZ4 and bzip2 plugins of Debian's
  hdf5-filter-plugin;
- in each, a chunk that decodes to fewer or more bytes than the chunk (a gzip/zstd stream of the
  wrong length, or the stored chunk of a smaller/larger chunk with the same pipeline): exit 3
  with one line naming file:/dataset[index] and "decodes to", no master; scaleoffset, which
  always decodes its declared element count, refuses a chunk too short for it ("holds N bytes,
  fewer than ...": HDF5 would read past it) and reads the front of a longer one;
- scaleoffset whose stored parameters declare half the chunk's elements (h5py itself returns heap
  bytes there): the same refusal.
Prints "N passed, M failed".
"""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np

from helpers.smoke_common import Failures

RANKS = 3
SHAPE = (6, 32, 32)   # six matrices, one chunk each
CHUNK = (1, 32, 32)
ZSTD = 32015
LZ4, BZIP2 = 32004, 307
VALUES = (np.arange(np.prod(SHAPE)).reshape(SHAPE) % 1000)

# name -> (dtype, create_dataset options, extra filters appended through the low-level API)
PIPELINES = {
    "gzip": ("f8", {"compression": "gzip"}),
    "shuffle+gzip": ("f8", {"compression": "gzip", "shuffle": True}),
    "zstd": ("f8", {"compression": ZSTD, "compression_opts": (3,)}),
    "shuffle+zstd": ("f8", {"compression": ZSTD, "compression_opts": (3,), "shuffle": True}),
    "szip": ("f8", {"compression": "szip"}),
    "shuffle+szip": ("f8", {"compression": "szip", "shuffle": True}),
    "fletcher32": ("f8", {"fletcher32": True}),
    "gzip+fletcher32": ("f8", {"compression": "gzip", "fletcher32": True}),
    "gzip+zstd": ("f8", None),
    "scaleoffset": ("i4", {"scaleoffset": 0}),
    "nbit": ("i2", None),
    "lz4 plugin": ("f8", {"compression": LZ4}),
    "bzip2 plugin": ("f8", {"compression": BZIP2}),
}


def plugin_dir():
    """Debian's hdf5-filter-plugin directory (scripts/setup.sh installs the package)."""
    found = glob.glob("/usr/lib/*/hdf5/serial/plugins/libh5lz4.so")
    return os.path.dirname(found[0]) if found else None


def create(f, name, pipeline, shape, chunk):
    dtype, options = PIPELINES[pipeline]
    data = (np.arange(np.prod(shape)).reshape(shape) % 1000).astype(dtype)
    if options is not None:
        return f.create_dataset(name, data=data, chunks=chunk, **options)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(chunk)
    if pipeline == "gzip+zstd":
        dcpl.set_deflate(4)
        dcpl.set_filter(ZSTD, 0, (3,))
    else:  # nbit at full precision: HDF5 stores "nothing to pack" and passes bytes through
        dcpl.set_filter(h5py.h5z.FILTER_NBIT, 0, ())
    space = h5py.h5s.create_simple(shape)
    dataset = h5py.h5d.create(f.id, name.encode(), h5py.h5t.py_create(np.dtype(dtype)), space, dcpl=dcpl)
    dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
    return f[name]


def run(shmjob, args, cwd, env):
    return subprocess.run(["mpirun", "-n", str(RANKS), shmjob] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=120, errors="replace", env=env)


def error_lines(result):
    return [l for l in (result.stdout + result.stderr).splitlines() if l.startswith("shmjob: error:")]


def refused_as_wrong_size(r, cwd, words="decodes to"):
    errors = error_lines(r)
    ok = (r.returncode == 3 and len(errors) == 1 and "in.h5:/data[3]" in errors[0] and words in errors[0]
          and not os.path.exists(os.path.join(cwd, "out", "j.h5")))
    return ok, f"exit {r.returncode}: {errors[:1] or r.stderr.strip()[-300:]}"


def matrix_crc(cwd, matrix_id):
    """The index's CRC of one matrix of job j (the matrix as read into the slot), or None."""
    master = os.path.join(cwd, "out", "j.h5")
    if not os.path.exists(master):
        return None
    with h5py.File(master, "r") as f:
        rows = [row for row in f["index"][...] if int(row["id"]) == matrix_id]
    return int(rows[0]["crc32"]) if rows else None


def all_pipelines_read_back(shmjob, tmp, env, failures):
    cwd = tempfile.mkdtemp(dir=tmp)
    names = []
    for i, pipeline in enumerate(PIPELINES):
        names.append(f"p{i:02d}.h5")
        with h5py.File(os.path.join(cwd, names[-1]), "w") as f:
            create(f, "data", pipeline, SHAPE, CHUNK)
    r = run(shmjob, ["ingest"] + names + ["--dataset", "/data", "--out", "out", "--job", "all"], cwd, env)
    failures.check(r.returncode == 0, f"every pipeline: exit {r.returncode}: {error_lines(r)[:1]}")
    if r.returncode != 0:
        return
    # Each index row's CRC is of the matrix as read into the slot. One output set per dtype; within
    # a set, ids follow the inputs' order.
    crc, first_id = {}, {}
    with h5py.File(os.path.join(cwd, "out", "all.h5"), "r") as f:
        for entry in json.loads(f.attrs["datasets"]):
            first_id[np.dtype(entry["dtype"])] = entry["first_id"]
            for row in f[entry["index"]][...]:
                crc[int(row["id"])] = int(row["crc32"])
    for pipeline, (dtype, _) in PIPELINES.items():
        start = first_id.get(np.dtype(dtype), -1)
        first_id[np.dtype(dtype)] = start + SHAPE[0]
        ok = all(crc.get(start + k) == zlib.crc32(VALUES[k].astype(dtype).tobytes()) for k in range(SHAPE[0]))
        failures.check(ok, f"{pipeline}: the matrices read back exactly")
        print(("ok    " if ok else "FAIL  ") + f"{pipeline}: the matrices read back exactly", flush=True)
    r = subprocess.run([shmjob, "verify", "out"], cwd=cwd, capture_output=True, text=True, env=env)
    failures.check(r.returncode == 0, f"every pipeline: shmjob verify: exit {r.returncode}")


def zstd_frame(raw, cwd):
    """A zstd frame of `raw` that records its content size (the zstd CLI does for a file)."""
    path = os.path.join(cwd, "raw.bin")
    with open(path, "wb") as f:
        f.write(raw)
    return subprocess.run(["zstd", "-q", "-c", path], capture_output=True, check=True).stdout


def crafted_streams(shmjob, tmp, env, failures):
    """gzip and zstd streams of the wrong length, written as chunk 3."""
    chunk = VALUES[0].astype("f8").tobytes()
    for pipeline in ("gzip", "shuffle+gzip", "zstd", "shuffle+zstd"):
        for how, raw in (("short", chunk[:1000]), ("long", chunk + chunk[:800])):
            cwd = tempfile.mkdtemp(dir=tmp)
            with h5py.File(os.path.join(cwd, "in.h5"), "w") as f:
                d = create(f, "data", pipeline, SHAPE, CHUNK)
                payload = zlib.compress(raw) if "gzip" in pipeline else zstd_frame(raw, cwd)
                d.id.write_direct_chunk((3, 0, 0), payload, 0)
            ok, what = refused_as_wrong_size(run(shmjob, ["ingest", "in.h5", "--out", "out", "--job", "j"], cwd, env), cwd)
            failures.check(ok, f"{pipeline} stream decoding {how}: {what}")
            print(("ok    " if ok else "FAIL  ") + f"{pipeline} stream decoding {how}: {what}", flush=True)


def transplanted_chunks(shmjob, tmp, env, failures):
    """The stored chunk of a dataset with half (or twice) the chunk rows and the same pipeline,
    written as chunk 3: a valid stream of the wrong size, for any filter."""
    for pipeline in PIPELINES:
        for how, rows in (("short", CHUNK[1] // 2), ("long", CHUNK[1] * 2)):
            cwd = tempfile.mkdtemp(dir=tmp)
            with h5py.File(os.path.join(cwd, "in.h5"), "w") as f:
                d = create(f, "data", pipeline, SHAPE, CHUNK)
                other = create(f, "other", pipeline, (1, rows, CHUNK[2]), (1, rows, CHUNK[2]))
                mask, payload = other.id.read_direct_chunk((0, 0, 0))
                d.id.write_direct_chunk((3, 0, 0), payload, mask)
            r = run(shmjob, ["ingest", "in.h5", "--dataset", "/data", "--out", "out", "--job", "j"], cwd, env)
            if pipeline == "scaleoffset" and how == "long":
                # scaleoffset decodes the values its parameters declare from the front of the
                # stored bytes and never reads the rest: the first 32 rows of the larger chunk.
                ok, what = matrix_crc(cwd, 3) == zlib.crc32(VALUES[0].astype("i4").tobytes()), f"exit {r.returncode}"
            else:
                ok, what = refused_as_wrong_size(r, cwd, "scaleoffset chunk holds" if pipeline == "scaleoffset" else "decodes to")
            failures.check(ok, f"{pipeline} chunk decoding {how}: {what}")
            print(("ok    " if ok else "FAIL  ") + f"{pipeline} chunk decoding {how}: {what}", flush=True)


def forged_scaleoffset_parameters(shmjob, tmp, env, failures):
    """scaleoffset decodes as many elements as its stored parameters say: half the chunk leaves the
    other half to the heap (h5py shows it)."""
    cwd = tempfile.mkdtemp(dir=tmp)
    path = os.path.join(cwd, "in.h5")
    with h5py.File(path, "w") as f:
        parameters = create(f, "data", "scaleoffset", SHAPE, CHUNK).id.get_create_plist().get_filter(0)[2]
    with open(path, "rb") as f:
        blob = f.read()
    key = struct.pack("<5I", *parameters[:5])  # parameter 2: elements per chunk
    forged = list(parameters[:5])
    forged[2] //= 2
    if not failures.check(blob.count(key) == 1, "scaleoffset: its parameters found once in the file"):
        return
    with open(path, "wb") as f:
        f.write(blob.replace(key, struct.pack("<5I", *forged)))
    r = run(shmjob, ["ingest", "in.h5", "--out", "out", "--job", "j"], cwd, env)
    errors = error_lines(r)
    ok = r.returncode == 3 and len(errors) == 1 and "in.h5:/data[" in errors[0] and "decodes to 2048 bytes" in errors[0]
    failures.check(ok, f"scaleoffset declaring half a chunk: exit {r.returncode}: {errors[:1]}")
    print(("ok    " if ok else "FAIL  ") + f"scaleoffset declaring half a chunk: {errors[:1]}", flush=True)


def main():
    shmjob = os.path.abspath(sys.argv[1])
    failures = Failures("filtered_input_test")
    plugins = plugin_dir()
    if not failures.check(plugins is not None, "Debian's hdf5-filter-plugin is installed (scripts/setup.sh)"):
        return failures.report()
    env = dict(os.environ)
    env["HDF5_PLUGIN_PATH"] = ":".join(p for p in (env.get("HDF5_PLUGIN_PATH"), plugins) if p)
    os.environ["HDF5_PLUGIN_PATH"] = env["HDF5_PLUGIN_PATH"]  # h5py writes the plugin pipelines
    with tempfile.TemporaryDirectory(prefix="shmjob-filters-") as tmp:
        for case in (all_pipelines_read_back, crafted_streams, transplanted_chunks, forged_scaleoffset_parameters):
            print(f"--- {case.__name__}", flush=True)
            case(shmjob, tmp, env, failures)
    return failures.report()


if __name__ == "__main__":
    sys.exit(main())
