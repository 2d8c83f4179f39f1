"""Writes a set of HDF5 input files for shmjob's ingest (config section "input") with h5py.

Usage: /usr/bin/python3 make_inputs.py OUTDIR

OUTDIR receives, next to a manifest.json that describes everything written:

  types/<layout>_<dtype>_<order>.h5   /data, 3-D [N, rows, cols], for every layout (contiguous,
                                      chunk_slice, chunk_tiles, chunk_span, compact) x dtype
                                      (int8 .. float64, float16) x byte order (le, be)
  filters/<filters>.h5                /data, chunked float64 and int32 (/ints) through gzip,
                                      shuffle+gzip, fletcher32, zstd, shuffle+zstd
  runs/run_NNN.h5                     /frames, several files for glob patterns ("runs/*.h5")
  groups.h5                           /matrices: 2-D datasets of mixed shapes, a nested subgroup
  bad/*.h5                            inputs shmjob must reject, with the expected message part

The zstd inputs (filter 32015) need shmjob's plugin: set HDF5_PLUGIN_PATH to <build>/plugins
(the directory holding libh5zstd.so). Without it they are skipped with a printed note and
listed under "skipped" in the manifest.

Values are deterministic (numpy default_rng seeded per dataset). For every good dataset the
manifest lists the sha256 of each matrix's bytes in native byte order (row-major), i.e. exactly
the bytes Hdf5MatrixReader must put in a slot, so a test can compare bit for bit:

  {"good": [{"file": "types/contiguous_int16_be.h5", "dataset": "/data", "kind": "sliced",
             "shape": [5, 24, 20], "dtype": "int16", "byteorder": "big", "layout": "contiguous",
             "filters": [], "sha256": ["...", ...]}, ...],
   "groups": [{"file": "groups.h5", "dataset": "/matrices", "recursive": false,
               "matrices": [{"path": "/matrices/a", "shape": [...], "dtype": ..., "sha256": ...}]}],
   "bad": [{"file": "bad/compound.h5", "dataset": "/data", "expect": "unsupported element type:
            compound"}, ...],
   "skipped": ["filters/zstd.h5: ..."]}

Paths in the manifest are relative to OUTDIR. Exits non-zero on any failure.
"""

import hashlib
import json
import os
import sys

import h5py
import numpy as np
from h5py import h5d, h5p, h5s, h5t, h5z

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"]
ORDERS = {"le": "<", "be": ">"}
ZSTD = 32015
BLOSC = 32001  # a registered filter id that no HDF5 here provides


def native_sha256(matrix):
    """sha256 of a matrix's bytes in native byte order, C order."""
    native = np.ascontiguousarray(matrix, dtype=matrix.dtype.newbyteorder("="))
    return hashlib.sha256(native.tobytes()).hexdigest()


def make_values(dtype, shape, seed):
    """Deterministic values of `dtype` filling its range (floats: normal, with a few specials)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    values = (rng.standard_normal(size=shape) * 1000.0).astype(dt)
    flat = values.reshape(-1)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.finfo(dt).tiny / 2, np.finfo(dt).max],
                        dtype=dt)
    flat[: min(len(specials), flat.size)] = specials[: flat.size]
    return values


def compressible_values(dtype, shape, seed):
    """Smooth floats or small counts: values the filters actually shrink."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        n, rows, cols = shape
        y, x = np.mgrid[0:rows, 0:cols]
        base = np.round(100 * np.sin(x / 7.0) * np.cos(y / 5.0), 3)
        return np.stack([base + k for k in range(n)]).astype(dtype)
    return rng.poisson(4.0, size=shape).astype(dtype)


class Inputs:
    def __init__(self, outdir):
        self.outdir = outdir
        self.manifest = {"good": [], "groups": [], "bad": [], "skipped": []}
        self.zstd = h5z.filter_avail(ZSTD)

    def path(self, rel):
        full = os.path.join(self.outdir, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def note_skip(self, rel, why):
        print(f"make_inputs: skipping {rel}: {why}")
        self.manifest["skipped"].append(f"{rel}: {why}")

    def record(self, rel, name, data, file_dtype, layout, filters):
        dt = np.dtype(file_dtype)
        self.manifest["good"].append({
            "file": rel, "dataset": name, "kind": "sliced" if data.ndim == 3 else "matrix",
            "shape": list(data.shape), "dtype": dt.newbyteorder("=").name,
            "byteorder": "big" if dt.byteorder == ">" else "little",
            "layout": layout, "filters": filters,
            "sha256": [native_sha256(m) for m in (data if data.ndim == 3 else [data])],
        })

    # --- good inputs -----------------------------------------------------------------------

    def types(self):
        layouts = {
            "contiguous": ((5, 24, 20), {}),
            "chunk_slice": ((5, 24, 20), {"chunks": (1, 24, 20)}),
            "chunk_tiles": ((5, 24, 20), {"chunks": (1, 7, 6)}),
            "chunk_span": ((5, 24, 20), {"chunks": (2, 24, 20)}),
            "compact": ((3, 6, 5), {"compact": True}),
        }
        seed = 100
        for layout, (shape, options) in layouts.items():
            for dtype in DTYPES:
                for order, mark in ORDERS.items():
                    seed += 1
                    rel = f"types/{layout}_{dtype}_{order}.h5"
                    file_dtype = np.dtype(dtype).newbyteorder(mark)
                    data = make_values(dtype, shape, seed)
                    with h5py.File(self.path(rel), "w") as f:
                        if options.get("compact"):
                            create_compact(f, "data", data, file_dtype)
                        else:
                            f.create_dataset("data", data=data, dtype=file_dtype,
                                             chunks=options.get("chunks"))
                    self.record(rel, "/data", data, file_dtype, layout, [])

    def filters(self):
        cases = {
            "gzip": ({"compression": "gzip", "compression_opts": 4}, ["deflate"]),
            "shuffle_gzip": ({"compression": "gzip", "shuffle": True}, ["shuffle", "deflate"]),
            "fletcher32": ({"fletcher32": True}, ["fletcher32"]),
            "fletcher32_shuffle_gzip": ({"fletcher32": True, "shuffle": True,
                                         "compression": "gzip"},
                                        ["shuffle", "deflate", "fletcher32"]),
            "zstd": ({"compression": ZSTD, "compression_opts": (3,)}, ["zstd"]),
            "shuffle_zstd": ({"compression": ZSTD, "compression_opts": (1,), "shuffle": True},
                             ["shuffle", "zstd"]),
        }
        for name, (options, filters) in cases.items():
            rel = f"filters/{name}.h5"
            if "zstd" in filters and not self.zstd:
                self.note_skip(rel, "filter 32015 (zstd) is not available to h5py: set "
                                    "HDF5_PLUGIN_PATH to the directory holding libh5zstd.so")
                continue
            floats = compressible_values("float64", (6, 32, 48), 7)
            ints = compressible_values(">i4", (6, 32, 48), 8)
            with h5py.File(self.path(rel), "w") as f:
                f.create_dataset("data", data=floats, chunks=(1, 16, 24), **options)
                f.create_dataset("ints", data=ints, dtype=">i4", chunks=(2, 32, 48), **options)
            self.record(rel, "/data", floats, floats.dtype, "chunk_tiles", filters)
            self.record(rel, "/ints", ints, ">i4", "chunk_span", filters)

    def runs(self):
        for i, count in enumerate([3, 1, 4, 2]):
            rel = f"runs/run_{i:03d}.h5"
            data = make_values("float32", (count, 16, 16), 500 + i)
            with h5py.File(self.path(rel), "w") as f:
                f.create_dataset("frames", data=data, chunks=(1, 16, 16))
            self.record(rel, "/frames", data, data.dtype, "chunk_slice", [])

    def groups(self):
        rel = "groups.h5"
        # name -> (shape, dtype as stored); all float64 so one job can take them.
        members = {
            "b": ((4, 6), "<f8"), "a": ((8, 8), "<f8"), "c": ((4, 6), ">f8"),
            "sub/e": ((3, 7), "<f8"), "sub/d": ((5, 5), ">f8"),
            "sub/deeper/f": ((2, 2), "<f8"), "z": ((1, 9), "<f8"),
        }
        data = {}
        with h5py.File(self.path(rel), "w") as f:
            group = f.create_group("matrices")
            for i, (name, (shape, dtype)) in enumerate(sorted(members.items())):
                data[name] = make_values("float64", shape, 900 + i)
                group.create_dataset(name, data=data[name], dtype=dtype,
                                     chunks=(1, shape[1]) if name == "z" else None)
            group.attrs["note"] = "2-D datasets of mixed shapes; sub/ is a nested subgroup"
            # A named datatype inside the group: not data, the walk must skip it.
            group["types"] = np.dtype("<i4")

        def listing(recursive):
            # Depth-first, children in byte order of their names.
            def walk(prefix):
                names = sorted({n[len(prefix):].split("/")[0] for n in members
                                if n.startswith(prefix)})
                for n in names:
                    full = prefix + n
                    if full in members:
                        yield full
                    elif recursive:
                        yield from walk(full + "/")
            return [{"path": "/matrices/" + n, "shape": list(members[n][0]),
                     "dtype": "float64", "byteorder": "big" if members[n][1][0] == ">"
                     else "little", "sha256": native_sha256(data[n])} for n in walk("")]

        for recursive in (False, True):
            self.manifest["groups"].append({"file": rel, "dataset": "/matrices",
                                            "recursive": recursive,
                                            "matrices": listing(recursive)})

    # --- bad inputs --------------------------------------------------------------------------

    def bad(self, rel, expect, dataset="/data"):
        self.manifest["bad"].append({"file": rel, "dataset": dataset, "expect": expect})

    def bad_inputs(self):
        with open(self.path("bad/not_hdf5.h5"), "w") as f:
            f.write("this is a text file, not HDF5\n")
        self.bad("bad/not_hdf5.h5", "not an HDF5 file")

        full = self.path("bad/truncated.h5")
        with h5py.File(full, "w") as f:
            f.create_dataset("data", data=make_values("float64", (8, 64, 64), 1))
        size = os.path.getsize(full)
        with open(full, "r+b") as f:
            f.truncate(size // 2)
        self.bad("bad/truncated.h5", "truncated HDF5 file")

        with h5py.File(self.path("bad/missing_dataset.h5"), "w") as f:
            f.create_dataset("other", data=np.zeros((2, 3, 3)))
        self.bad("bad/missing_dataset.h5", "/data: no such dataset or group")

        def one(name, expect, write):
            rel = f"bad/{name}.h5"
            with h5py.File(self.path(rel), "w") as f:
                write(f)
            self.bad(rel, expect)

        compound = np.dtype([("x", "<i4"), ("y", "<f4")])
        one("compound", "unsupported element type: compound",
            lambda f: f.create_dataset("data", shape=(2, 3, 3), dtype=compound))
        one("string", "unsupported element type: fixed-length string",
            lambda f: f.create_dataset("data", data=np.full((2, 3), b"abc", dtype="S3")))
        one("vlen_string", "unsupported element type: variable-length string",
            lambda f: f.create_dataset("data", shape=(2, 3), dtype=h5py.string_dtype()))
        one("vlen", "unsupported element type: variable-length sequence",
            lambda f: f.create_dataset("data", shape=(2, 3),
                                       dtype=h5py.vlen_dtype(np.dtype("int32"))))
        one("enum", "unsupported element type: enum",
            lambda f: f.create_dataset("data", shape=(2, 3),
                                       dtype=h5py.enum_dtype({"off": 0, "on": 1}, basetype="i1")))

        def references(f):
            target = f.create_dataset("target", data=np.zeros(3))
            refs = f.create_dataset("data", shape=(2, 2), dtype=h5py.ref_dtype)
            refs[0, 0] = target.ref
        one("references", "unsupported element type: reference", references)
        def bfloat16(f):  # 16 bits with float32's exponent: not IEEE binary16
            t = h5py.h5t.IEEE_F32LE.copy()
            t.set_fields(15, 7, 8, 0, 7)
            t.set_size(2)
            t.set_ebias(127)
            h5py.h5d.create(f.id, b"data", t, h5py.h5s.create_simple((2, 3, 3)))
        one("bfloat16", "unsupported element type: 16-bit float that is not IEEE 754", bfloat16)
        one("opaque", "unsupported element type: opaque",
            lambda f: f.create_dataset("data", data=np.zeros((2, 3), dtype="V4")))
        one("rank1", "rank 1 (shape [10])",
            lambda f: f.create_dataset("data", data=np.arange(10, dtype="f8")))
        one("rank4", "rank 4 (shape [2, 2, 2, 2])",
            lambda f: f.create_dataset("data", data=np.zeros((2, 2, 2, 2))))
        one("empty", "is empty (shape [0, 8, 8])",
            lambda f: f.create_dataset("data", shape=(0, 8, 8), dtype="f8",
                                       maxshape=(None, 8, 8), chunks=(1, 8, 8)))
        one("group_3d", "datasets in an input group must be 2-D",
            lambda f: (f.create_dataset("data/a", data=np.zeros((3, 3))),
                       f.create_dataset("data/b", data=np.zeros((2, 3, 3)))))
        one("empty_group", "group holds no 2-D datasets", lambda f: f.create_group("data"))
        self.unavailable_filter("bad/filter_32001.h5")

    def unavailable_filter(self, rel):
        """A dataset whose pipeline declares filter 32001 (blosc), which no HDF5 here has.

        HDF5 refuses to create a dataset with an unregistered *mandatory* filter ("required filter
        32001 is not registered"), so the filter is declared optional and each chunk is stored
        with write_direct_chunk and filter mask 0, i.e. as if blosc had been applied: reading it
        needs the filter.
        """
        full = self.path(rel)
        dcpl = h5p.create(h5p.DATASET_CREATE)
        dcpl.set_chunk((1, 4, 4))
        dcpl.set_filter(BLOSC, h5z.FLAG_OPTIONAL, ())
        dcpl.set_obj_track_times(False)  # byte-identical files on every run
        with h5py.File(full, "w") as f:
            space = h5s.create_simple((2, 4, 4))
            dset = h5d.create(f.id, b"data", h5t.STD_I32LE, space, dcpl=dcpl)
            for i in range(2):
                chunk = np.full((1, 4, 4), i, dtype="<i4").tobytes()
                dset.write_direct_chunk((i, 0, 0), chunk, filter_mask=0)
        self.bad(rel, "filter 32001 (blosc) is not available")


def create_compact(f, name, data, file_dtype):
    """A compact-layout dataset (h5py's high level has no option for it)."""
    dcpl = h5p.create(h5p.DATASET_CREATE)
    dcpl.set_layout(h5d.COMPACT)
    dcpl.set_obj_track_times(False)
    space = h5s.create_simple(data.shape)
    dset = h5d.create(f.id, name.encode(), h5t.py_create(file_dtype), space, dcpl=dcpl)
    dset.write(h5s.ALL, h5s.ALL, np.ascontiguousarray(data))


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    inputs = Inputs(outdir)
    inputs.types()
    inputs.filters()
    inputs.runs()
    inputs.groups()
    inputs.bad_inputs()
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(inputs.manifest, f, indent=1)
    m = inputs.manifest
    print(f"make_inputs: {len(m['good'])} datasets, {len(m['groups'])} group listings, "
          f"{len(m['bad'])} bad inputs, {len(m['skipped'])} skipped in {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
