"""h5dump reads a shmjob job's output through the zstd filter plugin, and only with it.

Usage: /usr/bin/python3 h5dump_check.py MASTER_PATH PLUGIN_DIR

With HDF5_PLUGIN_PATH=PLUGIN_DIR, dumps small hyperslabs with h5dump and compares the printed
numbers with the numpy regeneration (analysis/shmjob_synthetic.py), exactly (floats are printed
with -m %.17g, which round-trips float64 and float32):

- the master's virtual dataset: a 1x2x3 corner of the first matrix (top left) and of the last
  matrix (bottom right);
- the last shard file directly: the top-left corner of its first row (matrix first_id).

Then runs the same h5dumps with HDF5_PLUGIN_PATH removed from the environment and checks that
they do NOT print the values (h5dump 1.10 prints an empty DATA block and may still exit 0):
documents that the plugin is required.

Exits 1 with one line per failure, 0 with a summary line.
"""

import os
import re
import shutil
import subprocess
import sys

# This file is in tests/python/helpers/: the repository root is three levels up.
_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(_ROOT, "analysis"))

import h5py  # noqa: E402  (metadata only)
import numpy as np  # noqa: E402

import shmjob_output  # noqa: E402  (metadata only: no plugin needed for it)
from shmjob_synthetic import regenerate_from_config  # noqa: E402

_INDEX = re.compile(r"\(\s*\d+(?:\s*,\s*\d+)*\s*\)\s*:")


def h5dump(path, start, count, env):
    """Runs h5dump on /data of ``path`` for one hyperslab; returns (exit code, stdout, stderr)."""
    cmd = ["h5dump", "-A", "0", "-m", "%.17g", "-d", "/data",
           "-s", ",".join(map(str, start)), "-c", ",".join(map(str, count)), path]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr, " ".join(cmd)


def dumped_values(text):
    """The numbers in the DATA block of the dumped subset, as strings (without the "(i,j,k):"
    position markers), or None if there is no DATA block."""
    match = re.search(r"SUBSET \{.*?DATA \{(.*?)\}", text, re.S)
    if not match:
        return None
    body = _INDEX.sub(" ", match.group(1))
    return [tok for tok in re.split(r"[\s,]+", body) if tok]


def parse_as(tokens, dtype):
    dt = np.dtype(dtype)
    conv = float if dt.kind == "f" else int
    return np.array([conv(t) for t in tokens], dtype=np.float64 if dt.kind == "f" else object) \
        .astype(dt)


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.dtype("u%d" % a.dtype.itemsize))


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    master, plugin_dir = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    failures = []

    def fail(message):
        failures.append(message)
        print("FAIL: " + message, flush=True)

    if shutil.which("h5dump") is None:
        print("FAIL: h5dump is not on PATH (Debian: apt-get install hdf5-tools)")
        return 1
    if not os.path.isfile(os.path.join(plugin_dir, shmjob_output.PLUGIN_FILE)):
        print("FAIL: no %s in %s" % (shmjob_output.PLUGIN_FILE, plugin_dir))
        return 1
    job = shmjob_output.open_job(master)
    if job.config is None or job.count is None or not job.shards:
        print("FAIL: %s has no usable config/shards attributes" % master)
        return 1
    m = job.config["matrices"]
    rows, cols, count, dtype = m["rows"], m["cols"], m["count"], np.dtype(m["dtype"])
    nr, nc = min(2, rows), min(3, cols)

    # (label, file, start in the file, matrix id, start row/col inside the matrix)
    cases = [("master matrix 0, top left", master, (0, 0, 0), 0, 0, 0)]
    last = count - 1
    cases.append(("master matrix %d, bottom right" % last, master,
                  (last, rows - nr, cols - nc), last, rows - nr, cols - nc))
    shard_path = job.shard_paths[-1]
    shard_first = None
    if not os.path.isfile(shard_path):
        fail("%s: listed shard does not exist" % shard_path)
    else:
        with h5py.File(shard_path, "r") as f:
            shard_first = int(f["data"].attrs["first_id"])
        label = "%s row 0 (matrix %d), top left" % (os.path.basename(shard_path), shard_first)
        cases.append((label, shard_path, (0, 0, 0), shard_first, 0, 0))

    with_plugin = dict(os.environ, HDF5_PLUGIN_PATH=plugin_dir)
    without_plugin = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    checked = 0
    for label, path, start, matrix_id, r0, c0 in cases:
        expected = regenerate_from_config(job.config, matrix_id)[r0:r0 + nr, c0:c0 + nc].ravel()
        code, out, err, cmd = h5dump(path, start, (1, nr, nc), with_plugin)
        tokens = dumped_values(out)
        if code != 0 or tokens is None or len(tokens) != expected.size:
            fail("%s: `HDF5_PLUGIN_PATH=%s %s` exited %d and printed %s values, expected %d%s"
                 % (label, plugin_dir, cmd, code, "no" if tokens is None else len(tokens),
                    expected.size, (": " + err.strip().splitlines()[-1]) if err.strip() else ""))
            continue
        try:
            got = parse_as(tokens, dtype)
        except (ValueError, OverflowError) as e:
            fail("%s: cannot parse h5dump's values %s as %s: %s" % (label, tokens, dtype, e))
            continue
        if not np.array_equal(bits(got), bits(expected)):
            fail("%s: h5dump printed %s, the regenerated values are %s"
                 % (label, tokens, [repr(v) for v in expected.tolist()]))
            continue
        checked += 1

        # The same dump without the plugin must not print the values.
        code, out, err, cmd = h5dump(path, start, (1, nr, nc), without_plugin)
        tokens = dumped_values(out) or []
        try:
            same = len(tokens) == expected.size and \
                np.array_equal(bits(parse_as(tokens, dtype)), bits(expected))
        except (ValueError, OverflowError):
            same = False
        if same:
            fail("%s: h5dump printed the right values WITHOUT HDF5_PLUGIN_PATH: is a zstd filter "
                 "(32015) plugin installed in HDF5's default plugin directory?" % label)
        else:
            print("ok: %s: %d values exact with the plugin; without it h5dump exits %d and prints "
                  "%d values" % (label, expected.size, code, len(tokens)))

    if failures:
        print("h5dump_check: %d failure%s" % (len(failures), "" if len(failures) == 1 else "s"))
        return 1
    print("h5dump_check: %d hyperslabs exact with the plugin, none readable without it: OK"
          % checked)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
