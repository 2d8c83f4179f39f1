"""Independent verifier of one shmjob job's output (master file + shards).

Usage: /usr/bin/python3 verify_output.py MASTER_PATH [--expect-count N] [--sample K]
                                         [--seed S] [--plugin-dir DIR] [--max-problems M]

Checks, without trusting the virtual dataset alone (a missing shard reads through it as fill
values, without any error):

- master: status "complete", the config/plan/shards/versions attributes parse, job/dtype/kind
  attributes agree with the config, `data` is a virtual dataset [count, rows, cols] of the
  configured dtype whose mappings are exactly the listed shards, each one contiguous block;
- every listed shard, opened directly: `data` is [count_w, rows, cols] with a `first_id`
  attribute, chunks of 1 x rows x cols (or compression.chunk tiles), filters shuffle (2, iff compression.shuffle) then zstd
  (32015, cd_values = [level]); all count_w chunks are stored (get_num_chunks, get_chunk_info)
  with filter mask 0 and the size the index records; its own `index` equals the master index rows
  for its ids; the shard blocks tile [0, count) without gaps or overlap;
- master index: ids 0..count-1 in order, shard/row consistent with the blocks (row = id -
  first_id), raw_bytes = rows*cols*itemsize, producer/compressor/writer are ranks of that role
  in the plan (with stages.elastic: producer and compressor may be any working rank; writer is
  a writer; one writer rank per shard), t_produced <= t_compressed <= t_written (extra
  fields are allowed; source_file/source_dataset, if present, must say "no source" and
  source_index must be the id);
- every matrix (or K sampled ones, always including the first and the last): read through the
  master's virtual dataset and directly from its shard, each equal bit for bit to the numpy
  regeneration (analysis/shmjob_synthetic.py), whose zlib CRC-32, min, max (exact) and mean
  (within 1e-9 relative to max(|mean|, |min|, |max|), so that a near-zero mean is not penalised
  for rounding in the sum) match the index.

Exit 0 and one summary line if everything holds; otherwise one line per problem (at most
--max-problems, then a count of the rest) and exit 1. Needs the zstd filter plugin: set
HDF5_PLUGIN_PATH or pass --plugin-dir.
"""

import argparse
import json
import os
import random
import re
import sys
import time
import zlib

# This file is in tests/python/helpers/: the repository root is three levels up.
_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(_ROOT, "analysis"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

import shmjob_output  # noqa: E402
from verify_common import Problems, as_text, filter_pipeline, level_bounds  # noqa: E402
from shmjob_synthetic import DTYPES, KINDS, regenerate_from_config  # noqa: E402

SHUFFLE_FILTER = 2
ZSTD_FILTER = shmjob_output.ZSTD_FILTER_ID
INDEX_FIELDS = ("id", "shard", "row", "raw_bytes", "compressed_bytes", "crc32", "min", "max",
                "mean", "producer", "compressor", "writer", "t_produced", "t_compressed",
                "t_written")
NO_SOURCE = 0xFFFFFFFF  # source_file / source_dataset of synthetic matrices, if recorded
MEAN_RTOL = 1e-9
CHUNK_INFO_LIMIT = 4096  # rows per shard up to which get_chunk_info(i) is used




class Shard:
    """One listed shard: name, number, path and, once opened, its block and datasets."""

    def __init__(self, name, number, path):
        self.name, self.number, self.path = name, number, path
        self.file = self.data = None
        self.first_id = None
        self.count = None
        self.usable = False  # data can be read directly




def bit_view(a):
    """The array's bits as unsigned integers of the same size (for a bit-exact comparison)."""
    a = np.ascontiguousarray(a)
    return a.view(np.dtype("u%d" % a.dtype.itemsize))


def describe_difference(got, expected):
    g, e = bit_view(got), bit_view(expected)
    if g.shape != e.shape:
        return "shape %s, expected %s" % (got.shape, expected.shape)
    diff = np.argwhere(g != e)
    where = tuple(int(x) for x in diff[0])
    return "%d of %d elements differ, first at %s: %r, expected %r" % (
        len(diff), e.size, where, got[where].item(), expected[where].item())




# --- master ---------------------------------------------------------------------------------------

def check_master_attrs(f, p, expect_count):
    """Returns (config, matrices spec, plan, shard names) or None if unusable."""
    attrs = {k: as_text(v) for k, v in f.attrs.items()}
    for key in ("status", "job", "shmjob_version", "versions", "config", "plan", "shards",
                "start_time", "end_time", "dtype", "kind"):
        p.check(key in attrs, "master: attribute %r is missing" % key)
    p.check(attrs.get("status") == "complete",
            "master: status is %r, expected 'complete'" % attrs.get("status"))

    def parse(key):
        try:
            return json.loads(attrs[key]) if key in attrs else None
        except ValueError as e:
            p.add("master: attribute %r is not valid JSON: %s" % (key, e))
            return None

    config, plan, shards = parse("config"), parse("plan"), parse("shards")
    parse("versions")
    if not isinstance(config, dict) or not isinstance(config.get("matrices"), dict):
        p.add("master: config attribute has no 'matrices' object")
        return None
    m = config["matrices"]
    for key in ("count", "rows", "cols", "dtype", "kind", "seed"):
        if key not in m:
            p.add("master: config.matrices.%s is missing" % key)
            return None
    if m["dtype"] not in DTYPES or m["kind"] not in KINDS:
        p.add("master: config.matrices dtype %r / kind %r unknown" % (m["dtype"], m["kind"]))
        return None
    if not all(isinstance(m[k], int) and m[k] >= 1 for k in ("count", "rows", "cols")):
        p.add("master: config.matrices count/rows/cols are not positive integers: %r" % m)
        return None
    comp = config.get("compression")
    if not isinstance(comp, dict) or not (isinstance(comp.get("shuffle"), bool) or comp.get("shuffle") == "auto") \
            or not (isinstance(comp.get("level"), int) or comp.get("level") == "auto"):
        p.add("master: config.compression (level, shuffle) is missing or malformed: %r" % comp)
        return None
    if comp["level"] == "auto":
        lr = comp.get("level_range")
        if not (isinstance(lr, list) and len(lr) == 2 and all(isinstance(x, int) for x in lr) and lr[0] <= lr[1]):
            p.add("master: config.compression.level is auto, level_range malformed: %r" % (lr,))
            return None
    if expect_count is not None:
        p.check(m["count"] == expect_count,
                "master: config.matrices.count is %d, expected %d" % (m["count"], expect_count))
    p.check(attrs.get("job") == config.get("job"),
            "master: job attribute %r != config.job %r" % (attrs.get("job"), config.get("job")))
    p.check(attrs.get("dtype") == m["dtype"],
            "master: dtype attribute %r != config %r" % (attrs.get("dtype"), m["dtype"]))
    p.check(attrs.get("kind") == m["kind"],
            "master: kind attribute %r != config %r" % (attrs.get("kind"), m["kind"]))
    if "start_time" in attrs and "end_time" in attrs:
        p.check(attrs["start_time"] <= attrs["end_time"],
                "master: start_time %s is after end_time %s"
                % (attrs["start_time"], attrs["end_time"]))
    if not isinstance(plan, dict) or not isinstance(plan.get("ranks"), list):
        p.add("master: plan attribute has no 'ranks' list")
        plan = None
    if not isinstance(shards, list) or not shards or not all(isinstance(s, str) for s in shards):
        p.add("master: shards attribute is not a non-empty JSON list of file names: %r" % shards)
        return None
    return config, m, plan, shards


def check_master_data(f, p, m):
    """Returns the master data dataset, or None."""
    data = f.get("data")
    if not isinstance(data, h5py.Dataset):
        p.add("master: no dataset 'data'")
        return None
    shape = (m["count"], m["rows"], m["cols"])
    p.check(data.shape == shape, "master: data shape %s, expected %s" % (data.shape, shape))
    p.check(data.dtype == np.dtype(m["dtype"]),
            "master: data dtype %s, expected %s" % (data.dtype, m["dtype"]))
    p.check(data.is_virtual, "master: data is not a virtual dataset")
    return data if data.shape == shape and data.dtype == np.dtype(m["dtype"]) else None


def virtual_blocks(data, p):
    """{source file name: (first id, count)} of the master's virtual mappings."""
    blocks = {}
    if not data.is_virtual:
        return blocks
    for vmap in data.virtual_sources():
        if vmap.dset_name not in ("/data", "data"):
            p.add("master: virtual mapping of %s reads dataset %r, expected /data"
                  % (vmap.file_name, vmap.dset_name))
        lo, hi = vmap.vspace.get_select_bounds()
        n = hi[0] - lo[0] + 1
        if vmap.vspace.get_select_npoints() != n * data.shape[1] * data.shape[2] or \
                lo[1:] != (0, 0) or tuple(hi[1:]) != (data.shape[1] - 1, data.shape[2] - 1):
            p.add("master: virtual mapping of %s is not a block of whole matrices (bounds %s..%s)"
                  % (vmap.file_name, lo, hi))
        if vmap.file_name in blocks:
            p.add("master: shard %s is mapped more than once" % vmap.file_name)
        blocks[vmap.file_name] = (int(lo[0]), int(n))
    return blocks


def check_index(index, p, m, label):
    """Shape and field checks of an index table; returns True if usable."""
    if index is None:
        p.add("%s: no dataset 'index'" % label)
        return False
    names = index.dtype.names or ()
    missing = [k for k in INDEX_FIELDS if k not in names]
    if missing:
        p.add("%s: index has no field %s (fields: %s)" % (label, ", ".join(missing), names))
        return False
    return True


# --- shards ---------------------------------------------------------------------------------------

def open_shards(directory, job, names, m, comp, vblocks, index, p):
    """Opens and checks every listed shard; returns the list of Shard objects."""
    pattern = re.compile(r"^" + re.escape(job) + r"\.shard-(\d{5,})\.h5$")
    shards = []
    if len(set(names)) != len(names):
        p.add("master: shards attribute lists a file more than once: %s" % names)
    for name in names:
        match = pattern.match(name)
        if not match:
            p.add("master: shard name %r is not %s.shard-NNNNN.h5" % (name, job))
            continue
        shard = Shard(name, int(match.group(1)), os.path.join(directory, name))
        shards.append(shard)
        if name not in vblocks:
            p.add("%s: listed in the shards attribute but not mapped by the master's data" % name)
        if not os.path.isfile(shard.path):
            p.add("%s: listed shard file does not exist (%s)" % (name, shard.path))
            continue
        try:
            shard.file = h5py.File(shard.path, "r")
        except OSError as e:
            p.add("%s: cannot open: %s" % (name, e))
            continue
        check_shard(shard, m, comp, vblocks.get(name), index, p)
    for name in sorted(set(vblocks) - set(names)):
        p.add("master: data maps %s, which the shards attribute does not list" % name)
    listed = set(names)
    for path in sorted(os.listdir(directory)):
        if pattern.match(path) and path not in listed:
            print("warning: %s in the output directory is not a listed shard (stale file?)" % path)
    return shards


def tile_shape(comp, rows, cols):
    """The chunk of one matrix: compression.chunk clamped to the matrix, or the whole matrix."""
    chunk = comp.get("chunk")
    if chunk is None or chunk == "matrix":
        return rows, cols
    return min(chunk[0], rows), min(chunk[1], cols)


def stored_chunks(dsid, n, rows, tile, shape):
    """Yields (row, filter mask, stored size summed over the row's tiles) for each matrix row
    of a [rows, R, C] dataset chunked by `tile`, or (None, offset, None) for a chunk at an
    unexpected offset. A row with a missing tile is not yielded.

    H5Dget_chunk_info(i) walks the chunk index from the start on each call (HDF5 1.10), so asking
    it for every chunk is quadratic: fine for a few thousand chunks, minutes for 100k. Larger
    shards are checked per chunk with H5Dread_chunk instead (a keyed lookup; it reads the
    compressed frame, which costs less than the decompressed reads that follow anyway).
    """
    tr, tc = tile
    offsets = [(r, c) for r in range(0, shape[0], tr) for c in range(0, shape[1], tc)]
    per_row = {}
    if rows * len(offsets) <= CHUNK_INFO_LIMIT:
        seen = set()
        for i in range(n):
            info = dsid.get_chunk_info(i)
            row = int(info.chunk_offset[0])
            inner = tuple(int(x) for x in info.chunk_offset[1:])
            if inner not in offsets or not 0 <= row < rows or (row, inner) in seen:
                yield None, info.chunk_offset, None
                continue
            seen.add((row, inner))
            mask, size, k = per_row.get(row, (0, 0, 0))
            per_row[row] = (mask | int(info.filter_mask), size + int(info.size), k + 1)
    else:
        for row in range(rows):
            for inner in offsets:
                try:
                    mask, frame = dsid.read_direct_chunk((row,) + inner)
                except (RuntimeError, OSError, ValueError):
                    continue  # not stored: reported by the caller
                m0, size, k = per_row.get(row, (0, 0, 0))
                per_row[row] = (m0 | int(mask), size + len(frame), k + 1)
    for row in sorted(per_row):
        mask, size, k = per_row[row]
        if k == len(offsets):
            yield row, mask, size


def check_shard(shard, m, comp, vblock, master_index, p):
    name, f = shard.name, shard.file
    data = f.get("data")
    if not isinstance(data, h5py.Dataset):
        p.add("%s: no dataset 'data'" % name)
        return
    rows, cols = m["rows"], m["cols"]
    ok = p.check(len(data.shape) == 3 and data.shape[1:] == (rows, cols) and data.shape[0] >= 1,
                 "%s: data shape %s, expected [count_w, %d, %d]" % (name, data.shape, rows, cols))
    ok &= p.check(data.dtype == np.dtype(m["dtype"]),
                  "%s: data dtype %s, expected %s" % (name, data.dtype, m["dtype"]))
    if "first_id" not in data.attrs:
        p.add("%s: data has no first_id attribute" % name)
        return
    shard.first_id = int(data.attrs["first_id"])
    shard.count = int(data.shape[0]) if data.shape else 0
    shard.data = data
    if vblock is not None:
        p.check(vblock == (shard.first_id, shard.count),
                "%s: master maps ids [%d, %d), but the shard holds [%d, %d) (first_id %d, %d rows)"
                % (name, vblock[0], vblock[0] + vblock[1], shard.first_id,
                   shard.first_id + shard.count, shard.first_id, shard.count))
    tile = tile_shape(comp, rows, cols)
    ok &= p.check(data.chunks == (1,) + tile,
                  "%s: chunks %s, expected (1, %d, %d)" % (name, data.chunks, tile[0], tile[1]))
    pipeline = filter_pipeline(data)
    ids = [code for code, _ in pipeline]
    # shuffle "auto": the pipeline declares shuffle, a matrix stored unshuffled skips it.
    expected = ([SHUFFLE_FILTER] if comp["shuffle"] in (True, "auto") else []) + [ZSTD_FILTER]
    ok &= p.check(ids == expected, "%s: filter pipeline %s, expected %s (shuffle=%s)"
                  % (name, ids, expected, comp["shuffle"]))
    zstd = [values for code, values in pipeline if code == ZSTD_FILTER]
    if zstd:
        lo, hi = level_bounds(comp)
        p.check(len(zstd[0]) == 1 and lo <= zstd[0][0] <= hi,
                "%s: zstd cd_values %s, expected one level in [%d, %d]" % (name, zstd[0], lo, hi))
    if not ok:
        return
    shard.usable = True

    # Stored chunks, from the chunk index itself (a missing chunk would read as fill values).
    end = shard.first_id + shard.count
    in_range = 0 <= shard.first_id and end <= m["count"]
    sizes = master_index["compressed_bytes"] if master_index is not None and in_range else None
    shuffled = None  # shuffle "auto": per id, whether the index says it was shuffled
    if comp["shuffle"] == "auto" and master_index is not None and in_range:
        shuffled = master_index["shuffled"] if "shuffled" in master_index.dtype.names else None
        p.check(shuffled is not None, "%s: shuffle is auto but the index has no shuffled field" % name)
    dsid = data.id
    n = dsid.get_num_chunks()
    tiles = -(-rows // tile[0]) * -(-cols // tile[1])
    p.check(n == shard.count * tiles, "%s: %d chunks stored, expected %d (%d per matrix)"
            % (name, n, shard.count * tiles, tiles))
    seen = np.zeros(shard.count, dtype=bool)
    for row, mask, size in stored_chunks(dsid, n, shard.count, tile, (rows, cols)):
        if row is None:
            p.add("%s: unexpected chunk at offset %s" % (name, mask))
            continue
        seen[row] = True
        if shuffled is None:
            p.check(mask == 0, "%s: chunk of row %d (id %d) has filter mask %#x: a filter "
                    "was skipped when it was written" % (name, row, shard.first_id + row, mask))
        else:
            want_mask = 0 if shuffled[shard.first_id + row] else 1  # bit 0: shuffle skipped
            p.check(mask == want_mask, "%s: chunk of row %d (id %d) has filter mask %#x, the index "
                    "(shuffled=%d) says %#x" % (name, row, shard.first_id + row, mask,
                                                 shuffled[shard.first_id + row], want_mask))
        if sizes is not None:
            want = int(sizes[shard.first_id + row])
            p.check(size == want, "%s: chunk of row %d (id %d) is %d bytes, the index says %d"
                    % (name, row, shard.first_id + row, size, want))
    missing = np.flatnonzero(~seen)
    if len(missing):
        p.add("%s: %d chunks not stored, rows %s%s" % (name, len(missing), missing[:10].tolist(),
                                                         " ..." if len(missing) > 10 else ""))

    # The shard's own index must be the master's rows for its ids.
    own = f["index"][...] if isinstance(f.get("index"), h5py.Dataset) else None
    if not check_index(own, p, m, name):
        return
    if master_index is None or not in_range:
        return
    expected_rows = master_index[shard.first_id:end]
    if own.shape != expected_rows.shape:
        p.add("%s: index has %d rows, expected %d" % (name, own.shape[0], shard.count))
        return
    if own.dtype != expected_rows.dtype:
        p.add("%s: index dtype %s differs from the master's %s"
              % (name, own.dtype, expected_rows.dtype))
        return
    # Field by field, bit for bit (not the records' bytes: the struct padding is not data).
    differs = np.zeros(shard.count, dtype=bool)
    fields_of = {}
    for k in expected_rows.dtype.names:
        d = bit_view(own[k]) != bit_view(expected_rows[k])
        differs |= d
        for i in np.flatnonzero(d)[:5]:
            fields_of.setdefault(int(i), []).append(k)
    bad = np.flatnonzero(differs)
    for i in bad[:5]:
        p.add("%s: index row %d (id %d) differs from the master index in %s"
              % (name, i, shard.first_id + i, ", ".join(fields_of.get(int(i), ["?"]))))
    if len(bad) > 5:
        p.add("%s: %d more index rows differ from the master index" % (name, len(bad) - 5))


def check_tiling(shards, count, p):
    """The shard blocks must tile [0, count). Returns the sorted blocks if they do, else None."""
    blocks = sorted((s for s in shards if s.first_id is not None), key=lambda s: s.first_id)
    if len(blocks) != len(shards):
        p.add("shards: cannot check that the shards tile [0, %d): %d of %d shards are unreadable"
              % (count, len(shards) - len(blocks), len(shards)))
        return None
    ok = True
    expected_first = 0
    for s in blocks:
        if s.first_id != expected_first:
            ok = False
            p.add("shards: %s starts at id %d, expected %d (%s)" % (
                s.name, s.first_id, expected_first,
                "gap" if s.first_id > expected_first else "overlap"))
        expected_first = max(expected_first, s.first_id + s.count)
    if expected_first != count:
        ok = False
        p.add("shards: the blocks end at id %d, expected %d" % (expected_first, count))
    return blocks if ok else None


def check_master_index(index, blocks, m, plan, p, elastic=False, comp=None):
    count = m["count"]
    if index.shape != (count,):
        p.add("master: index has shape %s, expected (%d,)" % (index.shape, count))
        return
    ids = index["id"]
    if not np.array_equal(ids, np.arange(count, dtype=ids.dtype)):
        bad = np.flatnonzero(ids != np.arange(count, dtype=ids.dtype))
        p.add("master: index ids are not 0..%d in order (first mismatch at row %d: id %d)"
              % (count - 1, bad[0], ids[bad[0]]))
        return
    raw = m["rows"] * m["cols"] * np.dtype(m["dtype"]).itemsize
    bad = np.flatnonzero(index["raw_bytes"] != raw)
    if len(bad):
        p.add("master: %d index rows have raw_bytes != %d, first id %d (%d)"
              % (len(bad), raw, bad[0], index["raw_bytes"][bad[0]]))
    bad = np.flatnonzero(index["compressed_bytes"] == 0)
    if len(bad):
        p.add("master: %d index rows have compressed_bytes 0, first id %d" % (len(bad), bad[0]))
    t1, t2, t3 = index["t_produced"], index["t_compressed"], index["t_written"]
    bad = np.flatnonzero(~((0 <= t1) & (t1 <= t2) & (t2 <= t3)))
    if len(bad):
        i = bad[0]
        p.add("master: %d index rows do not have 0 <= t_produced <= t_compressed <= t_written, "
              "first id %d (%r, %r, %r)" % (len(bad), i, t1[i], t2[i], t3[i]))
    if blocks is not None:
        for s in blocks:
            sl = slice(s.first_id, s.first_id + s.count)
            wrong = np.flatnonzero(index["shard"][sl] != s.number)
            if len(wrong):
                i = s.first_id + wrong[0]
                p.add("master: %d index rows of %s have shard != %d, first id %d (shard %d)"
                      % (len(wrong), s.name, s.number, i, index["shard"][i]))
            wrong = np.flatnonzero(index["row"][sl] != np.arange(s.count, dtype=np.uint64))
            if len(wrong):
                i = s.first_id + wrong[0]
                p.add("master: %d index rows of %s have row != id - first_id, first id %d (row %d, "
                      "expected %d)" % (len(wrong), s.name, i, index["row"][i], i - s.first_id))
            writers = np.unique(index["writer"][sl])
            p.check(len(writers) == 1, "master: ids of %s were written by several ranks %s"
                    % (s.name, writers.tolist()))
    # Newer index tables also name each matrix's source; synthetic matrices have none.
    for field, want in (("source_file", NO_SOURCE), ("source_dataset", NO_SOURCE),
                        ("source_index", ids)):
        if field in index.dtype.names:
            bad = np.flatnonzero(index[field] != want)
            if len(bad):
                p.add("master: %d index rows have an unexpected %s for synthetic data, first id %d"
                      " (%d)" % (len(bad), field, bad[0], index[field][bad[0]]))
    # Newer index tables record each matrix's level and shuffle.
    if comp is not None and "level" in index.dtype.names:
        lo, hi = level_bounds(comp)
        bad = np.flatnonzero((index["level"] < lo) | (index["level"] > hi))
        if len(bad):
            p.add("master: %d index rows have a level outside [%d, %d], first id %d (%d)"
                  % (len(bad), lo, hi, bad[0], index["level"][bad[0]]))
    if comp is not None and "shuffled" in index.dtype.names:
        allowed = {True: (1,), False: (0,), "auto": (0, 1)}[comp["shuffle"]]
        bad = np.flatnonzero(~np.isin(index["shuffled"], allowed))
        if len(bad):
            p.add("master: %d index rows have shuffled not in %s (shuffle %r), first id %d (%d)"
                  % (len(bad), allowed, comp["shuffle"], bad[0], index["shuffled"][bad[0]]))
    if plan is not None:
        roles = {}
        for r in plan["ranks"]:
            if isinstance(r, dict) and "rank" in r and "role" in r:
                roles[r["rank"]] = r["role"]
        # Elastic stages: any working rank may produce or compress; writing stays with writers.
        working = ("producer", "compressor", "writer")
        for field, allowed in (("producer", working if elastic else ("producer",)),
                               ("compressor", working if elastic else ("compressor",)),
                               ("writer", ("writer",))):
            for rank in np.unique(index[field]).tolist():
                p.check(roles.get(rank) in allowed, "master: index %s rank %d is a %s in the plan"
                        % (field, rank, roles.get(rank, "missing rank")))


# --- matrices -------------------------------------------------------------------------------------

def check_matrices(ids, config, m, master_data, index, shard_of, p):
    """Compares each matrix (VDS read, direct shard read) with its regeneration and the index."""
    count = 0
    for i in ids:
        expected = regenerate_from_config(config, i)
        eb = bit_view(expected)
        row = index[i] if index is not None else None
        try:
            got = master_data[i]
            if not np.array_equal(bit_view(got), eb):
                p.add("matrix %d: master data (virtual dataset) differs from the regenerated "
                      "matrix: %s" % (i, describe_difference(got, expected)))
        except Exception as e:  # noqa: BLE001 (HDF5 errors come as OSError, ValueError, ...)
            p.add("matrix %d: cannot read it through the master's virtual dataset: %s" % (i, e))
        shard = shard_of(i)
        if shard is not None:
            try:
                got = shard.data[i - shard.first_id]
                if not np.array_equal(bit_view(got), eb):
                    p.add("matrix %d: %s row %d differs from the regenerated matrix: %s"
                          % (i, shard.name, i - shard.first_id, describe_difference(got, expected)))
            except Exception as e:  # noqa: BLE001
                p.add("matrix %d: cannot read row %d of %s: %s" % (i, i - shard.first_id,
                                                                   shard.name, e))
        if row is not None:
            crc = zlib.crc32(expected) & 0xFFFFFFFF
            p.check(int(row["crc32"]) == crc, "matrix %d: index crc32 %#010x, the matrix has %#010x"
                    % (i, int(row["crc32"]), crc))
            values = expected.astype(np.float64, copy=False)
            lo, hi = values.min(), values.max()
            p.check(row["min"] == lo,
                    "matrix %d: index min %r, the matrix has %r" % (i, row["min"], lo))
            p.check(row["max"] == hi,
                    "matrix %d: index max %r, the matrix has %r" % (i, row["max"], hi))
            mean = values.mean()  # pairwise sum; shmjob sums in order: equal to ~n*eps
            scale = max(abs(mean), abs(lo), abs(hi))
            p.check(abs(row["mean"] - mean) <= MEAN_RTOL * scale,
                    "matrix %d: index mean %r, the matrix has %r" % (i, row["mean"], mean))
        count += 1
    return count


def choose_ids(count, sample, seed):
    if sample is None or sample >= count:
        return list(range(count))
    rng = random.Random(seed)
    middle = rng.sample(range(1, count - 1), max(0, min(sample, count) - 2)) if count > 2 else []
    return sorted(set([0, count - 1] + middle))


def verify(args):
    p = Problems(args.max_problems)
    try:
        shmjob_output.ensure_plugin(args.plugin_dir)
    except shmjob_output.PluginNotFound as e:
        p.add(str(e))
        return p, None
    master_path = os.path.abspath(args.master)
    if not os.path.isfile(master_path):
        p.add("master: %s does not exist" % master_path)
        return p, None
    try:
        f = h5py.File(master_path, "r")
    except OSError as e:
        p.add("master: cannot open %s: %s" % (master_path, e))
        return p, None
    opened = []
    try:
        parsed = check_master_attrs(f, p, args.expect_count)
        if parsed is None:
            return p, None
        config, m, plan, names = parsed
        master_data = check_master_data(f, p, m)
        index = f["index"][...] if isinstance(f.get("index"), h5py.Dataset) else None
        if not check_index(index, p, m, "master"):
            index = None
        elif index.shape != (m["count"],):
            p.add("master: index has %d rows, expected %d" % (index.shape[0], m["count"]))
            index = None
        vblocks = virtual_blocks(master_data, p) if master_data is not None else {}
        shards = open_shards(os.path.dirname(master_path), config.get("job"), names, m,
                             config["compression"], vblocks, index, p)
        opened = [s.file for s in shards if s.file is not None]
        blocks = check_tiling(shards, m["count"], p)
        if index is not None:
            # Outputs from before stages.elastic existed have no such key: fixed stages.
            elastic = bool(config.get("stages", {}).get("elastic", False))
            check_master_index(index, blocks, m, plan, p, elastic, config["compression"])

        # Map id -> shard (by first_id), for the direct reads.
        usable = sorted((s for s in shards if s.usable), key=lambda s: s.first_id)
        firsts = [s.first_id for s in usable]

        def shard_of(i):
            k = np.searchsorted(firsts, i, side="right") - 1
            if k >= 0 and i < usable[k].first_id + usable[k].count:
                return usable[k]
            return None

        ids = choose_ids(m["count"], args.sample, args.seed)
        checked = 0
        if master_data is not None:
            checked = check_matrices(ids, config, m, master_data, index, shard_of, p)
        return p, (checked, len(names), m["count"])
    finally:
        for g in opened:
            g.close()
        f.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("master", help="the job's master file, <output_dir>/<job>.h5")
    parser.add_argument("--expect-count", type=int, help="matrices.count must equal this")
    parser.add_argument("--sample", type=int, metavar="K",
                        help="compare only K matrices (random, always the first and the last)")
    parser.add_argument("--seed", type=int, help="random seed for --sample (default: random)")
    parser.add_argument("--plugin-dir", help="directory of libh5zstd.so if not in HDF5_PLUGIN_PATH")
    parser.add_argument("--max-problems", type=int, default=50, metavar="M",
                        help="print at most M problems (0: all; default 50)")
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be >= 1")
    if args.sample is not None and args.seed is None:
        args.seed = random.randrange(2 ** 32)
    start = time.monotonic()
    p, result = verify(args)
    p.finish()
    if p.count or result is None:
        print("%s: %d problem%s found" % (args.master, p.count, "" if p.count == 1 else "s"))
        return 1
    checked, nshards, count = result
    sample = "" if checked == count else " (sample of %d, seed %d)" % (count, args.seed)
    print("verified %d matrices in %d shards%s: OK (%.1f s)"
          % (checked, nshards, sample, time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
