"""Self-test of verify_output.py: it accepts a real job's output and rejects corrupted copies.

Usage: /usr/bin/python3 verify_output_self_test.py SHMJOB_BINARY PLUGIN_DIR [--ranks N]

Runs a small job (13 float64 "smooth" matrices of 16x12, shuffle on, 2 writers so the shards get
unequal blocks of 7 and 6 matrices) with mpirun into a temporary directory, checks that
verify_output.py exits 0 on it, then applies each corruption below to a fresh copy of the output
and checks that verify_output.py exits 1 and names the problem. Exits 1 on the first surprise.
About 10 s.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers")
VERIFY = os.path.join(HELPERS, "verify_output.py")
JOB = "selftest"
COUNT, ROWS, COLS = 13, 16, 12


def parse_args():
    parser = argparse.ArgumentParser(description="self-test of verify_output.py")
    parser.add_argument("shmjob", help="path to the shmjob binary")
    parser.add_argument("plugin_dir", help="directory of libh5zstd.so")
    parser.add_argument("--ranks", type=int, default=4,
                        help="MPI ranks (default 4: 1 producer, 1 compressor, 2 writers)")
    return parser.parse_args()


ARGS = parse_args()
os.environ["HDF5_PLUGIN_PATH"] = os.path.abspath(ARGS.plugin_dir)  # before h5py is imported
import h5py  # noqa: E402
import numpy as np  # noqa: E402


class SelfTestFailure(Exception):
    pass


def run_job(workdir):
    out = os.path.join(workdir, "out")
    writers = 2 if ARGS.ranks >= 4 else 1
    config = {
        "job": JOB, "output_dir": out, "overwrite": True,
        "matrices": {"count": COUNT, "rows": ROWS, "cols": COLS, "dtype": "float64",
                     "kind": "smooth", "seed": 7},
        "stages": {"producers": 1, "compressors": ARGS.ranks - 1 - writers, "writers": writers},
        "compression": {"level": 3, "shuffle": True},
    }
    path = os.path.join(workdir, "job.json")
    with open(path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    mpirun = os.environ.get("MPIEXEC") or shutil.which("mpirun") or "mpirun"
    cmd = [mpirun, "-n", str(ARGS.ranks), os.path.abspath(ARGS.shmjob), "--quiet", path]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SelfTestFailure("%s exited %d:\n%s%s"
                              % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return out


def verify(out_dir, *extra):
    cmd = [sys.executable, VERIFY, os.path.join(out_dir, JOB + ".h5"),
           "--plugin-dir", ARGS.plugin_dir, "--max-problems", "0"] + list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def shard_path(out_dir, k):
    with h5py.File(os.path.join(out_dir, JOB + ".h5"), "r") as f:
        names = json.loads(f.attrs["shards"])
    return os.path.join(out_dir, names[k])


# --- corruptions: each takes a copy of the output directory -------------------------------------

def delete_shard(d):
    os.remove(shard_path(d, -1))


def truncate_shard(d):
    p = shard_path(d, 0)
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) // 2)


def swap_chunk_frames(d):
    """Row 1 of shard 0 gets the (valid) zstd frame of row 2; the index sizes are fixed up in both
    index tables so that only the data comparison can notice."""
    p = shard_path(d, 0)
    with h5py.File(p, "r+") as f:
        dset = f["data"]
        _, frame = dset.id.read_direct_chunk((2, 0, 0))
        dset.id.write_direct_chunk((1, 0, 0), frame, 0)
        first = int(dset.attrs["first_id"])
        index = f["index"][...]
        index["compressed_bytes"][1] = len(frame)
        f["index"][...] = index
    with h5py.File(os.path.join(d, JOB + ".h5"), "r+") as f:
        index = f["index"][...]
        index["compressed_bytes"][first + 1] = len(frame)
        f["index"][...] = index


def replace_chunk_other_frame(d):
    """Row 0 of the last shard gets the frame of row 3 (the index is left alone, so the sizes
    disagree too)."""
    with h5py.File(shard_path(d, -1), "r+") as f:
        _, frame = f["data"].id.read_direct_chunk((3, 0, 0))
        f["data"].id.write_direct_chunk((0, 0, 0), frame, 0)


def flip_chunk_byte(d, shard=0, row=4):
    """One byte in the middle of a stored chunk (id 4), changed in the file itself."""
    p = shard_path(d, shard)
    with h5py.File(p, "r") as f:
        info = f["data"].id.get_chunk_info_by_coord((row, 0, 0))
    with open(p, "r+b") as f:
        pos = info.byte_offset + info.size // 2
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x5A]))


def flip_last_chunk_byte(d):
    """Like flip_chunk_byte, in the last matrix (id 12, the last row of the last shard)."""
    with h5py.File(shard_path(d, -1), "r") as f:
        first = int(f["data"].attrs["first_id"])
    flip_chunk_byte(d, shard=-1, row=COUNT - 1 - first)


def drop_chunk(d):
    """Shard 0 rebuilt with every chunk but row 3 (unwritten chunks read as fill values)."""
    p = shard_path(d, 0)
    tmp = p + ".tmp"
    with h5py.File(p, "r") as src, h5py.File(tmp, "w", libver=("v108", "latest")) as dst:
        s = src["data"]
        t = dst.create_dataset("data", shape=s.shape, dtype=s.dtype, chunks=s.chunks,
                               shuffle=True, compression=32015, compression_opts=(3,))
        t.attrs["first_id"] = s.attrs["first_id"]
        for row in range(s.shape[0]):
            if row != 3:
                mask, frame = s.id.read_direct_chunk((row, 0, 0))
                t.id.write_direct_chunk((row, 0, 0), frame, mask)
        src.copy("index", dst)
    os.replace(tmp, p)


def alter_master_crc(d):
    with h5py.File(os.path.join(d, JOB + ".h5"), "r+") as f:
        index = f["index"][...]
        index["crc32"][5] ^= 1
        f["index"][...] = index


def alter_crc_everywhere(d):
    """crc32 of matrix 8 changed in the master and in its shard's index alike."""
    with h5py.File(os.path.join(d, JOB + ".h5"), "r+") as f:
        index = f["index"][...]
        index["crc32"][8] ^= 0x80000000
        shard, row = int(index["shard"][8]), int(index["row"][8])
        f["index"][...] = index
    with h5py.File(os.path.join(d, "%s.shard-%05d.h5" % (JOB, shard)), "r+") as f:
        index = f["index"][...]
        index["crc32"][row] ^= 0x80000000
        f["index"][...] = index


def alter_mean(d):
    with h5py.File(os.path.join(d, JOB + ".h5"), "r+") as f:
        index = f["index"][...]
        index["mean"][2] *= 1 + 1e-6
        f["index"][...] = index


def status_failed(d):
    with h5py.File(os.path.join(d, JOB + ".h5"), "r+") as f:
        f.attrs["status"] = np.bytes_(b"failed")


def config_seed_changed(d):
    """The recorded config says seed 8: none of the stored matrices is what it describes."""
    with h5py.File(os.path.join(d, JOB + ".h5"), "r+") as f:
        config = json.loads(f.attrs["config"])
        config["matrices"]["seed"] = 8
        f.attrs["config"] = np.bytes_(json.dumps(config).encode())


def shard_first_id_shifted(d):
    with h5py.File(shard_path(d, -1), "r+") as f:
        f["data"].attrs["first_id"] = np.uint64(int(f["data"].attrs["first_id"]) + 1)


def master_index_row_swapped(d):
    with h5py.File(os.path.join(d, JOB + ".h5"), "r+") as f:
        index = f["index"][...]
        index[[3, 4]] = index[[4, 3]]
        f["index"][...] = index


# (name, corruption, extra verifier arguments, text the verifier's output must contain)
CASES = [
    ("shard deleted", delete_shard, [], "listed shard file does not exist"),
    ("shard truncated", truncate_shard, [], "cannot open"),
    ("chunk frames swapped, index sizes fixed up", swap_chunk_frames, [],
     "matrix 1: master data (virtual dataset) differs"),
    ("chunk replaced by another valid frame", replace_chunk_other_frame, [], "the index says"),
    ("byte flipped inside a chunk", flip_chunk_byte, [], "matrix 4: "),
    ("one chunk never written", drop_chunk, [], "chunks not stored"),
    ("master index crc32 altered", alter_master_crc, [], "matrix 5: index crc32"),
    ("crc32 altered in master and shard index", alter_crc_everywhere, [], "matrix 8: index crc32"),
    ("index mean off by 1e-6", alter_mean, [], "matrix 2: index mean"),
    ("status not complete", status_failed, [], "status is 'failed'"),
    ("config seed changed", config_seed_changed, [], "differs from the regenerated matrix"),
    ("shard first_id shifted", shard_first_id_shifted, [], "but the shard holds"),
    ("master index rows out of order", master_index_row_swapped, [], "not 0..12 in order"),
    ("wrong expected count", None, ["--expect-count", str(COUNT + 1)], "expected %d" % (COUNT + 1)),
    ("byte flipped in the last matrix, --sample 1", flip_last_chunk_byte, ["--sample", "1"],
     "matrix 12: "),
]


def main():
    start = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="shmjob-verify-selftest-") as workdir:
        out = run_job(workdir)
        code, text = verify(out)
        if code != 0:
            raise SelfTestFailure("verify_output.py rejected a good output (exit %d):\n%s"
                                  % (code, text))
        print("ok: good output accepted: " + text.strip().splitlines()[-1])
        for n, (name, corrupt, extra, expected_text) in enumerate(CASES):
            copy = os.path.join(workdir, "case%02d" % n)
            shutil.copytree(out, copy)
            if corrupt is not None:
                corrupt(copy)
            code, text = verify(copy, *extra)
            lines = text.strip().splitlines()
            if code != 1:
                results.append("FAIL: %s: verify_output.py exited %d, expected 1:\n%s"
                               % (name, code, text))
            elif expected_text not in text:
                results.append("FAIL: %s: exit 1 but no line mentions %r:\n%s"
                               % (name, expected_text, text))
            else:
                first = next(line for line in lines if expected_text in line)
                print("ok: %s: exit 1, %d lines, e.g. %s" % (name, len(lines), first))
            shutil.rmtree(copy)
    for r in results:
        print(r)
    print("%d passed, %d failed" % (len(CASES) + 1 - len(results), len(results)))
    print("(%.1f s)" % (time.monotonic() - start))
    return 1 if results else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SelfTestFailure as e:
        print("FAIL: %s" % e)
        sys.exit(1)
