#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/{config,chunk,shard}.
Run once by hand (the outputs are committed); needs a built shmjob (for a real shard) and its
plugin (HDF5_PLUGIN_PATH) for zstd-filtered datasets.

usage: make_corpus.py BUILD_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def configs():
    with open(os.path.join(ROOT, "jobs", "default.json"), "rb") as f:
        put("config", "default.json", f.read())
    seeds = {
        "minimal": {"matrices": {"count": 10, "rows": 10, "cols": 10}},
        "full": {"job": "full", "output_dir": "o", "overwrite": True,
                 "matrices": {"count": 37, "rows": 64, "cols": 96, "dtype": "int32", "kind": "poisson", "seed": 3},
                 "stages": {"producers": 3, "compressors": "auto", "writers": 2},
                 "slots": {"per_producer": 1, "per_compressor": 2, "slot_bytes": "auto", "memory_budget_mb": 64},
                 "compression": {"level": 5, "shuffle": True},
                 "metrics": {"path": "m.jsonl", "interval_s": 0.5},
                 "placement": {"pinning": "none", "work_sharing": "shared"},
                 "testing": {"writer_delay_ms": 1}},
        "input": {"job": "in", "input": {"files": ["a.h5", "runs/*.h5"], "dataset": "/frames", "recursive": True},
                  "slots": {"slot_bytes": 4096}},
        "input_string": {"input": {"files": "a.h5"}},
        "budget": {"matrices": {"count": 5, "rows": 2000, "cols": 2000}, "slots": {"memory_budget_mb": 1}},
    }
    for name, doc in seeds.items():
        put("config", name + ".json", json.dumps(doc))
    put("config", "duplicate.json", '{"matrices": {"count": 1, "rows": 2, "cols": 2, "rows": 3}}')
    put("config", "nested.json", '{"matrices": {"count": [[[[[[1]]]]]], "rows": 2, "cols": 2}}')
    put("config", "numbers.json", '{"matrices": {"count": 1e3, "rows": -0, "cols": 18446744073709551616}}')


def chunks(tmp):
    raw = {
        "zeros": np.zeros(4096, dtype="u1").tobytes(),
        "ramp_f8": np.arange(512, dtype="<f8").tobytes(),
        "random_f4": np.random.default_rng(1).standard_normal(256).astype("<f4").tobytes(),
        "text": b"shmjob " * 40,
    }
    for name, data in raw.items():
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        subprocess.run(["zstd", "-q", "-f", "-3", path, "-o", path + ".zst"], check=True)
        with open(path + ".zst", "rb") as f:
            put("chunk", name + ".zst", f.read())
    put("chunk", "empty_frame.zst", bytes([0x28, 0xB5, 0x2F, 0xFD, 0x20, 0x00, 0x01, 0x00, 0x00]))
    put("chunk", "claims_2e40.zst",
        bytes([0x28, 0xB5, 0x2F, 0xFD, 0xE0]) + (2**40).to_bytes(8, "little") + bytes([1, 0, 0]))


def shards(build, tmp):
    shmjob = os.path.join(build, "shmjob")
    config = {"job": "seed", "output_dir": os.path.join(tmp, "out"),
              "matrices": {"count": 3, "rows": 6, "cols": 5, "dtype": "float32", "kind": "random"},
              "stages": {"producers": 1, "compressors": 1, "writers": 1},
              "compression": {"level": 1, "shuffle": True}, "metrics": {"interval_s": 0.1}}
    path = os.path.join(tmp, "seed.json")
    with open(path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    subprocess.run(["mpirun", "-n", "3", shmjob, "--quiet", path], check=True, env=env)
    with open(os.path.join(tmp, "out", "seed.shard-00000.h5"), "rb") as f:
        put("shard", "shard_float32_shuffle.h5", f.read())

    def h5(name, fill):
        p = os.path.join(tmp, name)
        with h5py.File(p, "w", libver="earliest") as f:
            fill(f)
        with open(p, "rb") as f:
            put("shard", name, f.read())

    h5("input_3d.h5", lambda f: f.create_dataset("data", data=np.arange(2 * 3 * 4, dtype="<i2").reshape(2, 3, 4)))

    def group(f):
        f.create_dataset("g/a", data=np.ones((3, 3), dtype=">f8"))
        f.create_dataset("g/sub/b", data=np.zeros((2, 5), dtype="u1"))
        f["g/soft"] = h5py.SoftLink("/g/a")
        f["data"] = h5py.SoftLink("/g/a")
    h5("input_group.h5", group)
    h5("input_zstd.h5", lambda f: f.create_dataset(
        "data", data=np.arange(2 * 8 * 8, dtype="<f8").reshape(2, 8, 8), chunks=(1, 8, 8),
        compression=32015, compression_opts=(3,)))
    h5("input_gzip_shuffle.h5", lambda f: f.create_dataset(
        "data", data=np.arange(4 * 4 * 4, dtype="<i4").reshape(4, 4, 4), chunks=(2, 4, 4),
        compression="gzip", shuffle=True, fletcher32=True))

    # Chunks whose streams decode short or long (the reader must refuse them, never leak the
    # rest of HDF5's chunk buffer): a gzip one and a zstd one.
    def off_size_chunks(f):
        raw = np.full((1, 8, 8), 3.0).tobytes()
        d = f.create_dataset("data", data=np.full((3, 8, 8), 3.0), chunks=(1, 8, 8), compression="gzip")
        d.id.write_direct_chunk((1, 0, 0), zlib.compress(raw[:100]), 0)
        z = f.create_dataset("zstd", data=np.full((2, 8, 8), 3.0), chunks=(1, 8, 8),
                             compression=32015, compression_opts=(3,))
        frame = os.path.join(tmp, "long.raw")
        with open(frame, "wb") as out:
            out.write(raw + raw[:64])
        z.id.write_direct_chunk((0, 0, 0), subprocess.run(["zstd", "-q", "-c", frame], check=True,
                                                          capture_output=True).stdout, 0)
    h5("input_off_size_chunks.h5", off_size_chunks)


def main():
    build = os.path.abspath(sys.argv[1])
    os.environ.setdefault("HDF5_PLUGIN_PATH", os.path.join(build, "plugins"))
    for target in ("config", "chunk", "shard"):
        shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        configs()
        chunks(tmp)
        shards(build, tmp)


if __name__ == "__main__":
    main()
