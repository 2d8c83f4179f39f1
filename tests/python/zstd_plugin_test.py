"""The zstd filter plugin (HDF5 filter 32015) as h5py and h5dump see it.

Usage: /usr/bin/python3 zstd_plugin_test.py <plugin_dir>

<plugin_dir> holds libh5zstd.so (ctest passes <build>/plugins and also exports HDF5_PLUGIN_PATH).
Checks that h5py writes and reads through our plugin (the stored chunk is a zstd frame), that
h5dump prints the values with HDF5_PLUGIN_PATH set, and that without it h5dump prints no values.
Exits non-zero with a message on the first failure.
"""

import os
import re
import subprocess
import sys
import tempfile

ZSTD_MAGIC = bytes([0x28, 0xB5, 0x2F, 0xFD])  # 0xFD2FB528 little-endian
ZSTD_FILTER = 32015


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def smooth_matrix(np, rows, cols, dtype):
    y, x = np.mgrid[0:rows, 0:cols]
    return np.round(100 * np.sin(x / 7.0) * np.cos(y / 5.0), 3).astype(dtype)


def write_datasets(h5py, np, path):
    """Two compressed datasets; returns {name: array}."""
    data = {
        "zstd": smooth_matrix(np, 40, 30, "f8"),
        "shuffle_zstd": (np.arange(40 * 30, dtype="i4").reshape(40, 30) % 1000) - 500,
    }
    with h5py.File(path, "w") as f:
        f.create_dataset("zstd", data=data["zstd"], chunks=(20, 30),
                         compression=ZSTD_FILTER, compression_opts=(3,))
        f.create_dataset("shuffle_zstd", data=data["shuffle_zstd"], chunks=(40, 30),
                         compression=ZSTD_FILTER, compression_opts=(3,), shuffle=True)
    return data


def check_h5py(h5py, np, path, data):
    with h5py.File(path, "r") as f:
        for name, expected in data.items():
            dset = f[name]
            check(str(ZSTD_FILTER) in dset._filters,
                  f"{name}: filter {ZSTD_FILTER} not in the pipeline {dset._filters}")
            back = dset[...]
            check(back.dtype == expected.dtype and np.array_equal(back, expected),
                  f"{name}: h5py read back different values")
            # The raw stored chunk must be a zstd frame, i.e. our filter really ran on write.
            mask, chunk = dset.id.read_direct_chunk((0, 0))
            check(mask == 0, f"{name}: filter mask {mask:#x}, a filter was skipped on write")
            check(chunk[:4] == ZSTD_MAGIC,
                  f"{name}: stored chunk starts with {chunk[:4].hex()}, not the zstd magic")
            check(len(chunk) < expected[:dset.chunks[0]].nbytes,
                  f"{name}: stored chunk of {len(chunk)} bytes is not compressed")


def h5dump(path, name, env):
    return subprocess.run(["h5dump", "-d", "/" + name, path], env=env, capture_output=True,
                          text=True, timeout=30)


def data_block(text):
    """The text between 'DATA {' and its closing brace."""
    match = re.search(r"DATA \{\n(.*?)^\s*\}", text, re.S | re.M)
    return match.group(1) if match else None


def dumped_values(text):
    """Numbers after each '(row,col):' index in h5dump's DATA block, in order."""
    block = data_block(text) or ""
    values = []
    for line in block.splitlines():
        _, sep, rest = line.partition("):")
        if sep:
            values += [float(v) for v in rest.replace(",", " ").split()]
    return values


def check_h5dump_with_plugin(np, path, data, plugin_dir):
    env = dict(os.environ, HDF5_PLUGIN_PATH=plugin_dir)
    for name, expected in data.items():
        run = h5dump(path, name, env)
        check(run.returncode == 0,
              f"h5dump {name} with the plugin failed ({run.returncode}): {run.stderr.strip()}")
        values = dumped_values(run.stdout)
        check(len(values) == expected.size,
              f"h5dump {name}: printed {len(values)} values, expected {expected.size}")
        check(np.allclose(values, expected.ravel(), rtol=1e-12, atol=0),
              f"h5dump {name}: printed values differ from the data")


def check_h5dump_without_plugin(path, data):
    """Without HDF5_PLUGIN_PATH, HDF5 1.10.8 searches only its default directory, which Debian does
    not create: h5dump prints the header and an empty DATA {} block and reports
    'h5dump error: unable to print data' on stderr (exit code 1 here; do not rely on it)."""
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    for name in data:
        run = h5dump(path, name, env)
        block = data_block(run.stdout)
        check(block is not None, f"h5dump {name} without the plugin: no DATA block:\n{run.stdout}")
        check(block.strip() == "" and not dumped_values(run.stdout),
              f"h5dump {name} printed data without the plugin; is a zstd plugin installed in "
              f"HDF5's default plugin directory?\n{run.stdout}")
        print(f"without plugin, h5dump {name}: empty DATA block, exit {run.returncode}, "
              f"stderr {run.stderr.strip()!r}")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    plugin_dir = os.path.abspath(argv[1])
    if not os.path.isfile(os.path.join(plugin_dir, "libh5zstd.so")):
        print(f"FAIL: no libh5zstd.so in {plugin_dir}", file=sys.stderr)
        return 1
    # HDF5 reads the variable when it initialises, so set it before importing h5py.
    os.environ["HDF5_PLUGIN_PATH"] = plugin_dir
    import h5py
    import numpy as np

    try:
        with tempfile.TemporaryDirectory(prefix="shmjob_plugin_") as tmp:
            path = os.path.join(tmp, "plugin_test.h5")
            data = write_datasets(h5py, np, path)
            check_h5py(h5py, np, path, data)
            check_h5dump_with_plugin(np, path, data, plugin_dir)
            check_h5dump_without_plugin(path, data)
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    print("OK: h5py and h5dump read filter 32015 through", plugin_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
