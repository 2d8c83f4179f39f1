"""Independent verifier of an ingest job's output (shmjob ingest / a config with an "input"
section): the master file and the shards must hold the input matrices bit for bit.

Usage: /usr/bin/python3 verify_ingest.py MASTER_PATH [--input-cwd DIR] [--expect-count N]
                                         [--sample K] [--seed S] [--plugin-dir DIR]
                                         [--max-problems M]

Trusts nothing shmjob computed about the inputs. From the master's `config` attribute (input
files, dataset, recursive) and its `inputs/files` list, it enumerates the input matrices with
h5py itself (files in order; a 3-D dataset's slices, a 2-D dataset, or a group's 2-D datasets
in bytewise name order, depth-first with `recursive`, an object reached twice taken once), then
checks:

- master: status "complete", source "hdf5", `datasets` attribute = one set per distinct
  (rows, cols, dtype) in first-seen input order, named `data`/`index` if there is one set and
  `data_<r>x<c>_<dtype>`/`index_<r>x<c>_<dtype>` otherwise, first_id contiguous from 0, count =
  number of matrices of that shape; `inputs/files` are absolute, existing, distinct files (with
  --input-cwd: exactly the config's input.files expanded there: glob, matches sorted bytewise,
  repeats of one file dropped);
- per set: the virtual dataset is [count, rows, cols] of the input dtype in native byte order and
  maps only listed shards; the index holds ids first_id .. first_id+count-1 in order; row k's
  (source_file, source_dataset, source_index) is the k-th matrix of that shape in input order
  (so every input matrix appears exactly once across the sets); raw_bytes, crc32 (zlib), min,
  max (exact) and mean (1e-9 relative) match the source matrix;
- shards: `<job>.shard-NNNNN.h5`, one dataset per set (named like the set, first_id attribute,
  chunks of one matrix, shuffle iff compression.shuffle (true or "auto"), zstd at
  compression.level or within level_range with "auto"); the index
  row's shard/row point into it (row = id - first_id); the shard's own index agrees;
- every matrix (or K sampled ones per set, always the first and last of each set): the row read
  through the master's virtual dataset AND read directly from its shard (a missing shard reads
  as zeros through a VDS, without an error) equal, byte for byte, the source matrix read with
  h5py from inputs/files[source_file] : inputs/datasets[source_dataset] (slice source_index for
  3-D) converted to native byte order.

Exit 0 with one summary line if everything holds; otherwise one "problem:" line per problem and
exit 1. Needs the zstd filter plugin (HDF5_PLUGIN_PATH or --plugin-dir) for the output and for
zstd-compressed inputs.
"""

import argparse
import glob
import json
import os
import random
import re
import sys
import time
import warnings
import zlib

# This file is in tests/python/helpers/: the repository root is three levels up.
_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(_ROOT, "analysis"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from h5py import h5o  # noqa: E402

import shmjob_output  # noqa: E402
from verify_common import Problems, as_text, filter_pipeline, level_bounds  # noqa: E402

SHUFFLE_FILTER = 2
ZSTD_FILTER = shmjob_output.ZSTD_FILTER_ID
INDEX_FIELDS = ("id", "shard", "row", "raw_bytes", "compressed_bytes", "crc32", "min", "max",
                "mean", "producer", "compressor", "writer", "t_produced", "t_compressed",
                "t_written", "source_file", "source_dataset", "source_index")
SUPPORTED = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
             "float16", "float32", "float64"}
MEAN_RTOL = 1e-9






def native(dtype):
    return np.dtype(dtype).newbyteorder("=")


def bytewise(name):
    return name.encode("utf-8", "surrogateescape")


# --- the input, enumerated independently ----------------------------------------------------------

def expand_files(patterns, cwd):
    """config input.files as shmjob documents it, relative to cwd: absolute, normalised paths."""
    out, seen = [], set()
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = glob.glob(os.path.join(cwd, pattern) if not os.path.isabs(pattern) else pattern)
            matches.sort(key=bytewise)
        else:
            matches = [os.path.join(cwd, pattern)]
        for m in matches:
            key = os.path.realpath(m)
            if key in seen:
                continue
            seen.add(key)
            out.append(os.path.normpath(os.path.join(cwd, m)))
    return out


def normalise_object_path(path):
    path = "/" + path.strip("/")
    return path


class Matrix:
    """One input matrix: file index, HDF5 path, slice (None for a 2-D dataset), shape, dtype."""
    __slots__ = ("file", "path", "slice", "rows", "cols", "dtype")

    def __init__(self, file, path, index, rows, cols, dtype):
        self.file, self.path, self.slice = file, path, index
        self.rows, self.cols, self.dtype = rows, cols, dtype

    @property
    def shape_key(self):
        return (self.rows, self.cols, self.dtype.name)

    def describe(self, files):
        s = "" if self.slice is None else "[%d]" % self.slice
        return "%s:%s%s" % (files[self.file], self.path, s)


def object_key(obj):
    info = h5o.get_info(obj.id)
    return (info.fileno, info.addr)


def discover_dataset(f):
    """The object a config without input.dataset reads (docs/ingest.md): /data if the file has
    it, else the file's only 2-D or 3-D non-empty dataset of a supported type; None if there is
    no such single dataset. Found here with h5py's own walk, independently of shmjob's."""
    if "data" in f:
        return "/data"
    found = []

    def visit(name, obj):
        if (isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) and obj.size > 0
                and native(obj.dtype).name in SUPPORTED):
            found.append("/" + name)
    f.visititems(visit)
    return found[0] if len(found) == 1 else None


def enumerate_matrices(files, dataset, recursive, p):
    """Every input matrix in input order, from the files themselves. dataset None: found in
    each file (discover_dataset), and it must be the same in every file."""
    out = []
    chosen = dataset
    for fi, name in enumerate(files):
        try:
            f = h5py.File(name, "r")
        except OSError as e:
            p.add("input %s: cannot open with h5py: %s" % (name, e))
            continue
        with f:
            if dataset is None:
                found = discover_dataset(f)
                if found is None or (chosen is not None and found != chosen):
                    p.add("input %s: no single dataset to read (found %r, the first file %r), "
                          "yet the job completed" % (name, found, chosen))
                    continue
                chosen = found
            obj = f.get(chosen)
            if obj is None:
                p.add("input %s:%s: no such object" % (name, chosen))
                continue
            if isinstance(obj, h5py.Dataset):
                dt = native(obj.dtype)
                if obj.ndim == 3:
                    out += [Matrix(fi, chosen, i, obj.shape[1], obj.shape[2], dt)
                            for i in range(obj.shape[0])]
                elif obj.ndim == 2:
                    out.append(Matrix(fi, chosen, None, obj.shape[0], obj.shape[1], dt))
                else:
                    p.add("input %s:%s: rank %d, yet the job completed" % (name, chosen, obj.ndim))
            elif isinstance(obj, h5py.Group):
                seen = set()

                def walk(group, prefix):
                    seen.add(object_key(group))
                    for child in sorted(group.keys(), key=bytewise):
                        path = prefix.rstrip("/") + "/" + child
                        member = group.get(child)
                        if member is None:
                            p.add("input %s:%s: dangling link, yet the job completed" % (name, path))
                            continue
                        if isinstance(member, h5py.Datatype):
                            continue
                        key = object_key(member)
                        if key in seen:
                            continue
                        if isinstance(member, h5py.Group):
                            if recursive:
                                walk(member, path)
                            continue
                        seen.add(key)
                        if member.ndim != 2:
                            p.add("input %s:%s: rank %d in a group, yet the job completed"
                                  % (name, path, member.ndim))
                            continue
                        out.append(Matrix(fi, path, None, member.shape[0], member.shape[1],
                                          native(member.dtype)))

                walk(obj, chosen)
            else:
                p.add("input %s:%s: neither dataset nor group" % (name, chosen))
    return out


class Sources:
    """Open input files (h5py), read matrices in native byte order."""

    def __init__(self):
        self.files = {}

    def read(self, path, dataset, index):
        f = self.files.get(path)
        if f is None:
            if len(self.files) >= 16:
                for g in self.files.values():
                    g.close()
                self.files.clear()
            f = self.files[path] = h5py.File(path, "r")
        d = f[dataset]
        a = d[index] if d.ndim == 3 else d[...]
        return np.ascontiguousarray(a.astype(native(a.dtype), copy=False))

    def close(self):
        for g in self.files.values():
            g.close()
        self.files.clear()


# --- output ---------------------------------------------------------------------------------------



def read_string_list(f, path, p):
    d = f.get(path)
    if not isinstance(d, h5py.Dataset):
        p.add("master: no dataset %s" % path)
        return None
    return [as_text(v) for v in d[...].reshape(-1)]


def expected_sets(matrices):
    """[(key, [matrices of that shape in input order])] in first-seen order."""
    order, by = [], {}
    for m in matrices:
        if m.shape_key not in by:
            by[m.shape_key] = []
            order.append(m.shape_key)
        by[m.shape_key].append(m)
    return [(k, by[k]) for k in order]


def set_names(key, single):
    if single:
        return "data", "index"
    suffix = "%dx%d_%s" % key
    return "data_" + suffix, "index_" + suffix


def choose(count, sample, rng):
    if sample is None or sample >= count:
        return list(range(count))
    middle = rng.sample(range(1, count - 1), max(0, sample - 2)) if count > 2 else []
    return sorted(set([0, count - 1] + middle))


def describe_difference(got, expected):
    g = np.frombuffer(got.tobytes(), dtype=np.uint8)
    e = np.frombuffer(expected.tobytes(), dtype=np.uint8)
    if g.size != e.size:
        return "%d bytes, expected %d" % (g.size, e.size)
    diff = np.flatnonzero(g != e)
    elem = diff[0] // expected.dtype.itemsize
    where = np.unravel_index(elem, expected.shape)
    return "%d of %d bytes differ, first in element %s: %r, expected %r" % (
        diff.size, e.size, tuple(int(x) for x in where), got.reshape(-1)[elem].item(),
        expected.reshape(-1)[elem].item())


class Shard:
    def __init__(self, name, path):
        self.name, self.path = name, path
        self.file = None
        self.sets = {}  # set name -> (dataset, first_id)


def open_shards(directory, job, names, sets, comp, p):
    """{shard number: Shard} of the listed shards, each checked."""
    pattern = re.compile(r"^" + re.escape(job) + r"\.shard-(\d{5,})\.h5$")
    shards = {}
    if len(set(names)) != len(names):
        p.add("master: shards attribute lists a file more than once: %s" % names)
    set_by_name = {s["name"]: s for s in sets}
    for name in names:
        m = pattern.match(name)
        if not m:
            p.add("master: shard name %r is not %s.shard-NNNNN.h5" % (name, job))
            continue
        shard = Shard(name, os.path.join(directory, name))
        if not os.path.isfile(shard.path):
            p.add("%s: listed shard file does not exist" % name)
            continue
        try:
            shard.file = h5py.File(shard.path, "r")
        except OSError as e:
            p.add("%s: cannot open: %s" % (name, e))
            continue
        shards[int(m.group(1))] = shard
        for key in shard.file.keys():
            obj = shard.file[key]
            if key == "index":
                continue
            if key not in set_by_name:
                p.add("%s: dataset %r is not a set of the master" % (name, key))
                continue
            s = set_by_name[key]
            ok = p.check(obj.ndim == 3 and obj.shape[1:] == (s["rows"], s["cols"]),
                         "%s:%s shape %s, expected [n, %d, %d]"
                         % (name, key, obj.shape, s["rows"], s["cols"]))
            ok &= p.check(obj.dtype == np.dtype(s["dtype"]),
                          "%s:%s dtype %s, expected %s" % (name, key, obj.dtype, s["dtype"]))
            chunk = comp.get("chunk") or [s["rows"], s["cols"]]
            tile = (1, min(chunk[0], s["rows"]), min(chunk[1], s["cols"]))
            ok &= p.check(obj.chunks == tile,
                          "%s:%s chunks %s, expected %s" % (name, key, obj.chunks, tile))
            pipeline = filter_pipeline(obj)
            # level "auto": the dataset records a level of level_range (matrices record theirs
            # in the index); shuffle "auto" declares shuffle (a matrix may skip it).
            lo, hi = level_bounds(comp)
            expected = ([(SHUFFLE_FILTER, None)] if comp.get("shuffle") else []) + [(ZSTD_FILTER, "level")]
            got = [(c, None if c != ZSTD_FILTER else "level" if len(v) == 1 and lo <= v[0] <= hi else v)
                   for c, v in pipeline]
            p.check(got == expected, "%s:%s filters %s, expected %s (compression %s)"
                    % (name, key, pipeline, expected, comp))
            if "first_id" not in obj.attrs:
                p.add("%s:%s has no first_id attribute" % (name, key))
                continue
            if ok:
                shard.sets[key] = (obj, int(obj.attrs["first_id"]))
    return shards


def check_vds(data, s, shards, p):
    """The set's virtual dataset maps blocks of listed shards that tile it."""
    covered = np.zeros(s["count"], dtype=np.int32)
    by_file = {sh.name: sh for sh in shards.values()}
    for vmap in data.virtual_sources():
        fname = os.path.basename(vmap.file_name)
        if fname not in by_file:
            p.add("master:%s maps %s, not a listed (readable) shard" % (s["name"], vmap.file_name))
            continue
        if vmap.dset_name.lstrip("/") != s["name"]:
            p.add("master:%s maps %s:%s, expected dataset /%s"
                  % (s["name"], fname, vmap.dset_name, s["name"]))
        lo, hi = vmap.vspace.get_select_bounds()
        got = by_file[fname].sets.get(s["name"])
        if got is None:
            p.add("master:%s maps %s, which has no dataset %s" % (s["name"], fname, s["name"]))
            continue
        dset, first = got
        p.check((lo[0], hi[0] - lo[0] + 1) == (first - s["first_id"], dset.shape[0]),
                "master:%s maps rows %d..%d to %s, which holds ids %d.. (%d rows)"
                % (s["name"], lo[0], hi[0], fname, first, dset.shape[0]))
        covered[lo[0]:hi[0] + 1] += 1
    bad = np.flatnonzero(covered != 1)
    p.check(bad.size == 0, "master:%s: %d rows not mapped exactly once (first: row %s)"
            % (s["name"], bad.size, bad[:1].tolist()))


def verify(args):
    p = Problems(args.max_problems)
    try:
        shmjob_output.ensure_plugin(args.plugin_dir)
    except shmjob_output.PluginNotFound as e:
        p.add(str(e))
        return p, None
    master_path = os.path.abspath(args.master)
    try:
        f = h5py.File(master_path, "r")
    except OSError as e:
        p.add("master: cannot open %s: %s" % (master_path, e))
        return p, None
    sources = Sources()
    shards = {}
    try:
        attrs = {k: as_text(v) for k, v in f.attrs.items()}
        p.check(attrs.get("status") == "complete", "master: status %r, expected 'complete'"
                % attrs.get("status"))
        p.check(attrs.get("source") == "hdf5", "master: source %r, expected 'hdf5'"
                % attrs.get("source"))
        try:
            config = json.loads(attrs["config"])
            sets = json.loads(attrs["datasets"])
            shard_names = json.loads(attrs["shards"])
        except (KeyError, ValueError) as e:
            p.add("master: config/datasets/shards attribute missing or not JSON: %r" % e)
            return p, None
        inp = config.get("input")
        if not isinstance(inp, dict):
            p.add("master: config has no input section")
            return p, None
        dataset = normalise_object_path(inp["dataset"]) if "dataset" in inp else None
        recursive = bool(inp.get("recursive", False))
        comp = config.get("compression", {})

        files = read_string_list(f, "inputs/files", p)
        paths = read_string_list(f, "inputs/datasets", p)
        if files is None or paths is None:
            return p, None
        for name in files:
            p.check(os.path.isabs(name), "inputs/files: %r is not absolute" % name)
            p.check(os.path.isfile(name), "inputs/files: %r does not exist" % name)
        real = [os.path.realpath(x) for x in files]
        p.check(len(set(real)) == len(real), "inputs/files lists a file twice: %s" % files)
        if args.input_cwd is not None:
            pats = inp["files"] if isinstance(inp["files"], list) else [inp["files"]]
            want = expand_files(pats, os.path.abspath(args.input_cwd))
            p.check(files == want, "inputs/files is %s, expected (config files expanded in %s) %s"
                    % (files, args.input_cwd, want))

        matrices = enumerate_matrices(files, dataset, recursive, p)
        total = len(matrices)
        if args.expect_count is not None:
            p.check(total == args.expect_count, "the input holds %d matrices, expected %d"
                    % (total, args.expect_count))
        want_sets = expected_sets(matrices)
        p.check(len(sets) == len(want_sets), "master: %d sets, expected %d (%s)"
                % (len(sets), len(want_sets), [k for k, _ in want_sets]))
        next_id = 0
        single = len(want_sets) == 1
        for s, (key, members) in zip(sets, want_sets):
            dname, iname = set_names(key, single)
            want = {"name": dname, "index": iname, "rows": key[0], "cols": key[1],
                    "dtype": key[2], "first_id": next_id, "count": len(members)}
            p.check({k: s.get(k) for k in want} == want,
                    "master: datasets entry %s, expected %s" % (s, want))
            next_id += len(members)
        if p.count:
            return p, None
        p.check(sum(s["count"] for s in sets) == total,
                "sets hold %d matrices, the input %d" % (sum(s["count"] for s in sets), total))

        shards = open_shards(os.path.dirname(master_path), attrs.get("job"), shard_names, sets,
                             comp, p)
        rng = random.Random(args.seed)
        checked = 0
        seen = set()
        for s, (key, members) in zip(sets, want_sets):
            label = "master:" + s["name"]
            data = f.get(s["name"])
            if not isinstance(data, h5py.Dataset):
                p.add("%s: no such dataset" % label)
                continue
            shape = (s["count"], s["rows"], s["cols"])
            p.check(data.shape == shape, "%s: shape %s, expected %s" % (label, data.shape, shape))
            p.check(data.dtype == np.dtype(key[2]) and data.dtype.isnative,
                    "%s: dtype %s, expected native %s" % (label, data.dtype.str, key[2]))
            if not p.check(data.is_virtual, "%s: not a virtual dataset" % label):
                continue
            check_vds(data, s, shards, p)
            index = f.get(s["index"])
            if not isinstance(index, h5py.Dataset):
                p.add("master: no index %s" % s["index"])
                continue
            index = index[...]
            missing = [k for k in INDEX_FIELDS if k not in (index.dtype.names or ())]
            if missing or index.shape != (s["count"],):
                p.add("master:%s: %d rows with fields %s (missing %s), expected %d rows"
                      % (s["index"], index.shape[0], index.dtype.names, missing, s["count"]))
                continue
            ids = index["id"].astype(np.int64)
            p.check(np.array_equal(ids, s["first_id"] + np.arange(s["count"])),
                    "master:%s: ids are not %d..%d in order" % (s["index"], s["first_id"],
                                                                  s["first_id"] + s["count"] - 1))
            itemsize = np.dtype(key[2]).itemsize
            # Provenance of every row: the k-th matrix of this shape in input order.
            for k, (row, m) in enumerate(zip(index, members)):
                sf, sd, si = int(row["source_file"]), int(row["source_dataset"]), int(row["source_index"])
                got_path = paths[sd] if 0 <= sd < len(paths) else None
                want_index = 0 if m.slice is None else m.slice
                if not p.check((sf, got_path, si) == (m.file, m.path, want_index),
                               "%s row %d (id %d): source %s:%s[%d], expected %s (the %d-th %dx%d %s matrix of the input)"
                               % (label, k, int(row["id"]),
                                  files[sf] if 0 <= sf < len(files) else "file #%d" % sf,
                                  got_path, si, m.describe(files), k, key[0], key[1], key[2])):
                    continue
                seen.add((sf, got_path, si))
                p.check(int(row["raw_bytes"]) == key[0] * key[1] * itemsize,
                        "%s row %d: raw_bytes %d, expected %d" % (label, k, int(row["raw_bytes"]),
                                                                  key[0] * key[1] * itemsize))
            # The data, bit for bit.
            for k in choose(s["count"], args.sample, rng):
                row, m = index[k], members[k]
                what = "%s row %d (id %d, %s)" % (label, k, int(row["id"]), m.describe(files))
                try:
                    expected = sources.read(files[m.file], m.path, m.slice)
                except Exception as e:  # noqa: BLE001
                    p.add("%s: cannot read the source with h5py: %s" % (what, e))
                    continue
                p.check(expected.dtype == np.dtype(key[2]),
                        "%s: source dtype %s, set dtype %s" % (what, expected.dtype, key[2]))
                raw = expected.tobytes()
                try:
                    via_vds = data[k]
                    if via_vds.tobytes() != raw:
                        p.add("%s: master VDS row differs from the source: %s"
                              % (what, describe_difference(via_vds, expected)))
                except Exception as e:  # noqa: BLE001
                    p.add("%s: cannot read through the master: %s" % (what, e))
                shard = shards.get(int(row["shard"]))
                target = shard.sets.get(s["name"]) if shard else None
                if target is None:
                    p.add("%s: index names shard %d, which has no usable %s"
                          % (what, int(row["shard"]), s["name"]))
                else:
                    dset, first = target
                    r = int(row["row"])
                    if p.check(first + r == int(row["id"]) and r < dset.shape[0],
                               "%s: index says row %d of shard %d, whose %s starts at id %d (%d rows)"
                               % (what, r, int(row["shard"]), s["name"], first, dset.shape[0])):
                        try:
                            direct = dset[r]
                            if direct.tobytes() != raw:
                                p.add("%s: shard %s row %d differs from the source: %s"
                                      % (what, shard.name, r, describe_difference(direct, expected)))
                        except Exception as e:  # noqa: BLE001
                            p.add("%s: cannot read row %d of %s: %s" % (what, r, shard.name, e))
                crc = zlib.crc32(raw) & 0xFFFFFFFF
                p.check(int(row["crc32"]) == crc, "%s: index crc32 %#010x, the matrix has %#010x"
                        % (what, int(row["crc32"]), crc))
                values = expected.astype(np.float64)
                with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN matrices
                    # NaN is no value: the index skips it (min/max/mean of the numbers).
                    lo, hi, mean = np.nanmin(values), np.nanmax(values), np.nanmean(values)
                p.check(row["min"] == lo, "%s: index min %r, the matrix has %r" % (what, row["min"], lo))
                p.check(row["max"] == hi, "%s: index max %r, the matrix has %r" % (what, row["max"], hi))
                if np.isfinite(mean) or np.isfinite(row["mean"]):
                    scale = max(abs(mean), abs(lo), abs(hi))
                    p.check(abs(row["mean"] - mean) <= MEAN_RTOL * scale,
                            "%s: index mean %r, the matrix has %r" % (what, row["mean"], mean))
                else:
                    p.check(np.isnan(mean) == np.isnan(row["mean"]) and
                            (np.isnan(mean) or mean == row["mean"]),
                            "%s: index mean %r, the matrix has %r" % (what, row["mean"], mean))
                checked += 1
        want_all = {(m.file, m.path, 0 if m.slice is None else m.slice) for m in matrices}
        p.check(seen == want_all and len(want_all) == total,
                "%d input matrices appear in the index as expected, the input has %d"
                % (len(seen & want_all), total))
        # Each shard's own index agrees with the master's rows.
        master_rows = {}
        for s in sets:
            if isinstance(f.get(s["index"]), h5py.Dataset):
                for r in f[s["index"]][...]:
                    master_rows[int(r["id"])] = r
        for number, shard in shards.items():
            idx = shard.file.get("index")
            if not isinstance(idx, h5py.Dataset):
                p.add("%s: no index" % shard.name)
                continue
            idx = idx[...]
            expect_n = sum(d.shape[0] for d, _ in shard.sets.values())
            p.check(idx.shape[0] == expect_n, "%s: index has %d rows, its datasets %d"
                    % (shard.name, idx.shape[0], expect_n))
            for r in idx:
                m = master_rows.get(int(r["id"]))
                if m is None or m.tobytes() != r.tobytes() or int(r["shard"]) != number:
                    p.add("%s: index row of id %d differs from the master's" % (shard.name, int(r["id"])))
                    break
        return p, (checked, total, len(sets), len(shards))
    finally:
        sources.close()
        for sh in shards.values():
            if sh.file is not None:
                sh.file.close()
        f.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("master", help="the job's master file, <output_dir>/<job>.h5")
    ap.add_argument("--input-cwd", metavar="DIR",
                    help="working directory the job ran in: check inputs/files against the "
                         "config's input.files expanded there")
    ap.add_argument("--expect-count", type=int, help="the input must hold this many matrices")
    ap.add_argument("--sample", type=int, metavar="K",
                    help="compare the data of only K matrices per set (random, always the first "
                         "and last); provenance and counts are still checked for every row")
    ap.add_argument("--seed", type=int, help="random seed for --sample (default: random)")
    ap.add_argument("--plugin-dir", help="directory of libh5zstd.so if not in HDF5_PLUGIN_PATH")
    ap.add_argument("--max-problems", type=int, default=50, metavar="M")
    args = ap.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        ap.error("--sample must be >= 1")
    if args.seed is None:
        args.seed = random.randrange(2 ** 32)
    start = time.monotonic()
    p, result = verify(args)
    p.finish()
    if p.count or result is None:
        print("%s: %d problem%s found" % (args.master, p.count, "" if p.count == 1 else "s"))
        return 1
    checked, total, nsets, nshards = result
    sample = "" if checked == total else " (data of %d sampled, seed %d)" % (checked, args.seed)
    print("verified %d input matrices in %d set(s), %d shard(s)%s: bit-identical (%.1f s)"
          % (total, nsets, nshards, sample, time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
