"""Read a shmjob job's output from Python (h5py + numpy).

A job writes ``<output_dir>/<job>.h5`` (the *master* file) plus one shard file per writer,
``<job>.shard-NNNNN.h5``. The master holds:

- ``data``: a virtual dataset ``[count, rows, cols]`` that maps every shard's ``/data``;
- ``index``: one row per matrix, sorted by id (id, shard, row, raw_bytes, compressed_bytes, crc32,
  min, max, mean, producer, compressor, writer, t_produced, t_compressed, t_written);
- string attributes: status, job, config / plan / shards / versions (JSON), start_time, end_time,
  dtype, kind, shmjob_version.

Matrix chunks are zstd-compressed (HDF5 filter 32015), so HDF5 needs shmjob's filter plugin
``libh5zstd.so`` to read *values* (metadata reads without it). Point ``HDF5_PLUGIN_PATH`` at the
plugin directory before starting Python, or let :func:`ensure_plugin` find it::

    import shmjob_output as so             # analysis/ on sys.path / PYTHONPATH

    so.ensure_plugin()                     # or ensure_plugin("/path/to/plugins"); raises if absent
    job = so.open_job("out/smooth-1k.h5")
    print(job.status, job.config["matrices"], job.shards)
    print(job.index["crc32"][:5], job.index.dtype.names)
    m = job.read_matrix(7)                 # numpy array (rows, cols), through the master's VDS
    m = job.read_by_index(7)               # the same from its shard, located by the index table
    part = job.read_by_index(7, rows=slice(100, 200), cols=slice(0, 50))   # only those tiles
    with job.h5() as f:                    # the master as an h5py.File, for bulk reads
        block = f["data"][10:20]

Without the plugin, h5py raises ``OSError: Can't read data (can't open directory: ...)`` and
h5dump prints an empty ``DATA {}`` block, which is why :func:`ensure_plugin` exists. Worse, a shard
file that is *missing* reads through the virtual dataset as fill values without any error: to
check an output, use tests/python/helpers/verify_output.py, which opens every shard directly.

Requires h5py and numpy only (Debian: python3-h5py, python3-numpy).
"""

import glob
import json
import os
import zlib

import h5py
import numpy as np

__all__ = ["ZSTD_FILTER_ID", "PLUGIN_FILE", "PluginNotFound", "JobOutput", "open_job",
           "plugin_hint", "plugin_available", "find_plugin_dir", "ensure_plugin"]

ZSTD_FILTER_ID = 32015
PLUGIN_FILE = "libh5zstd.so"

_HERE = os.path.dirname(os.path.abspath(__file__))
_INSTALLED = "/usr/local/lib/shmjob/plugins"


class PluginNotFound(RuntimeError):
    """HDF5 cannot load the zstd filter (32015): matrix values cannot be read."""


def plugin_hint():
    """A one-paragraph explanation of how to make the zstd filter plugin visible to HDF5."""
    where = os.environ.get("HDF5_PLUGIN_PATH")
    now = ("HDF5_PLUGIN_PATH is %r" % where) if where is not None else "HDF5_PLUGIN_PATH is not set"
    return ("shmjob data is compressed with HDF5 filter %d (zstd); HDF5 needs shmjob's plugin %s "
            "to read it (%s). Set HDF5_PLUGIN_PATH to the directory holding %s (<build>/plugins, "
            "or %s once installed) before starting Python, or call "
            "shmjob_output.ensure_plugin(DIR). Every directory listed in HDF5_PLUGIN_PATH must "
            "exist: HDF5 stops searching at the first missing one. See docs/plugin.md."
            % (ZSTD_FILTER_ID, PLUGIN_FILE, now, PLUGIN_FILE, _INSTALLED))


def plugin_available():
    """True if HDF5 can load filter 32015 now (tries HDF5_PLUGIN_PATH and prepended dirs)."""
    return bool(h5py.h5z.filter_avail(ZSTD_FILTER_ID))


def find_plugin_dir():
    """A directory holding libh5zstd.so: $SHMJOB_PLUGIN_DIR, the install location, or the most
    recently built <repo>/build*/plugins of this checkout. None if there is none."""
    candidates = [os.environ.get("SHMJOB_PLUGIN_DIR"), _INSTALLED]
    builds = glob.glob(os.path.join(os.path.dirname(_HERE), "build*", "plugins", PLUGIN_FILE))
    candidates += [os.path.dirname(p) for p in sorted(builds, key=os.path.getmtime, reverse=True)]
    for d in candidates:
        if d and os.path.isfile(os.path.join(d, PLUGIN_FILE)):
            return os.path.abspath(d)
    return None


def ensure_plugin(plugin_dir=None):
    """Make sure HDF5 can decompress shmjob chunks, else raise PluginNotFound with a hint.

    If the filter is not available yet, ``plugin_dir`` (or :func:`find_plugin_dir`) is put first
    in HDF5's plugin search path (``h5py.h5pl.prepend``, which works after ``import h5py``).
    Returns the directory used, or None if the filter was already available.
    """
    if plugin_available():
        return None
    d = plugin_dir or find_plugin_dir()
    if d is None:
        raise PluginNotFound(plugin_hint())
    if not os.path.isfile(os.path.join(d, PLUGIN_FILE)):
        raise PluginNotFound("no %s in %s. %s" % (PLUGIN_FILE, d, plugin_hint()))
    h5py.h5pl.prepend(os.fsencode(os.path.abspath(d)))
    if not plugin_available():
        raise PluginNotFound("HDF5 did not load %s from %s. %s" % (PLUGIN_FILE, d, plugin_hint()))
    return d


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class JobOutput:
    """Metadata of one finished job, read from its master file (which is closed again).

    Attributes: path (master file), directory, attrs (every root attribute, as str), status,
    job, config (dict), plan (dict), shards (list of shard file names), shard_paths, index
    (numpy structured array, sorted by id), count, shape (rows, cols), dtype (numpy dtype).
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.directory = os.path.dirname(self.path)
        with h5py.File(self.path, "r") as f:
            self.attrs = {k: _text(v) for k, v in f.attrs.items()}
            self.index = f["index"][...] if "index" in f else None
            data = f.get("data")
            self.dtype = data.dtype if data is not None else None
        self.status = self.attrs.get("status")
        self.job = self.attrs.get("job")
        self.config = json.loads(self.attrs["config"]) if "config" in self.attrs else None
        self.plan = json.loads(self.attrs["plan"]) if "plan" in self.attrs else None
        self.shards = json.loads(self.attrs["shards"]) if "shards" in self.attrs else []
        self.shard_paths = [os.path.join(self.directory, s) for s in self.shards]
        m = (self.config or {}).get("matrices", {})
        self.count = m.get("count")
        self.shape = (m.get("rows"), m.get("cols"))

    def h5(self):
        """The master file opened read-only (an h5py.File; use it in a ``with`` block)."""
        return h5py.File(self.path, "r")

    def read_matrix(self, matrix_id):
        """Matrix ``matrix_id`` through the master's virtual dataset (needs the plugin)."""
        with self.h5() as f:
            return f["data"][int(matrix_id)]

    def index_row(self, matrix_id):
        """The index row of ``matrix_id`` (the index is sorted by id); KeyError if not written."""
        i = int(np.searchsorted(self.index["id"], matrix_id))
        if i >= len(self.index) or self.index["id"][i] != matrix_id:
            raise KeyError("matrix %d is not in the index of %s (status %s)" % (matrix_id, self.path, self.status))
        return self.index[i]

    def read_by_index(self, matrix_id, rows=slice(None), cols=slice(None)):
        """Matrix ``matrix_id`` (or a slice of it) read from its shard, located through the index
        table, without the virtual dataset: a missing shard is an error here, not zeros. A whole
        matrix is checked against the index's CRC-32."""
        row = self.index_row(matrix_id)
        shard = os.path.join(self.directory, "%s.shard-%05d.h5" % (self.job, int(row["shard"])))
        with h5py.File(shard, "r") as f:
            m = f["data"][int(row["row"]), rows, cols]
        if m.shape == self.shape and zlib.crc32(m.tobytes()) != int(row["crc32"]):
            raise ValueError("matrix %d in %s does not match its CRC-32: the file is corrupt" % (matrix_id, shard))
        return m

    def __repr__(self):
        return "<shmjob job %r: %s, %s matrices %s %s, %d shards>" % (
            self.job, self.status, self.count, self.shape, self.dtype, len(self.shards))


def open_job(master_path):
    """Read the metadata of the job whose master file is ``master_path``: a :class:`JobOutput`."""
    return JobOutput(master_path)
