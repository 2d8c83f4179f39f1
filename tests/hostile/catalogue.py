"""The catalogue of hostile configs and inputs (issue 7), run by tests/python/hostile_test.py.

Each Case builds its files in an empty directory (the cwd of the run) and returns shmjob's
arguments. Expected: exit code `code` (2 = bad config or input) with exactly one
`shmjob: error:` line holding every fragment of `expect`, nothing written; code 0 cases must
work (then `check(cwd)` returns a list of problems). `ranks` > 1: run again under mpirun.
docs/reliability.md ("Hostile input") states the guarantees these cases hold shmjob to.
"""
import json
import os
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import h5py
import numpy as np


@dataclass
class Case:
    name: str
    setup: Callable[[str], List[str]]
    expect: List[str] = field(default_factory=list)
    code: object = 2  # an exit code, or a tuple of accepted ones
    ranks: int = 1
    check: Optional[Callable[[str], List[str]]] = None
    single: bool = True  # also run as a single process (False: needs ranks for every stage)

    @property
    def slug(self):
        return "".join(c if c.isalnum() else "_" for c in self.name)[:60]


# A failure found while the job runs: 1 today; issue 7's exit codes make a runtime I/O error 3.
RUNTIME = (1, 3)
GOOD_MATRICES = {"count": 4, "rows": 8, "cols": 8}
CASES: List[Case] = []


def write(cwd, name, data):
    path = os.path.join(os.fsencode(cwd), os.fsencode(name))
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return os.fsdecode(os.path.basename(path))


def config_case(name, config, expect, ranks=1, single=True):
    """`config`: a dict (output_dir "out" added), or raw text/bytes of the file."""
    def setup(cwd):
        if isinstance(config, dict):
            text = json.dumps(dict({"output_dir": "out"}, **config))
        else:
            text = config
        return [write(cwd, "job.json", text)]
    CASES.append(Case(name, setup, expect, ranks=ranks, single=single))


def with_matrices(**changes):
    m = dict(GOOD_MATRICES)
    m.update(changes)
    return {"matrices": m}


# --- numbers ---------------------------------------------------------------------------------
config_case("count 2^64-1", with_matrices(count=2**64 - 1), ["matrices.count", "at most"])
config_case("count 2^64 (beyond uint64)", '{"matrices": {"count": 18446744073709551616, "rows": 8, "cols": 8}}',
            ["matrices.count", "integer"])
config_case("negative rows", with_matrices(rows=-8), ["matrices.rows", "at least 1"])
config_case("count as a float 1e3", '{"matrices": {"count": 1e3, "rows": 8, "cols": 8}}',
            ["matrices.count", "integer"])
config_case("matrix over 32-bit bytes", with_matrices(rows=65536, cols=65536),
            ["matrices", "34359738368 bytes", "chunk limit"], ranks=3)
config_case("rows x cols beyond the dimension limit", with_matrices(rows=2**21, cols=2**21),
            ["matrices.rows", "at most 1048576"])
config_case("slots beyond the node's memory (256 GiB)",
            {"matrices": {"count": 4, "rows": 32768, "cols": 32767, "dtype": "float32"},
             "stages": {"producers": 1, "compressors": 1, "writers": 1},
             "slots": {"per_producer": 32, "per_compressor": 32}},
            ["slots", "GiB of shared memory", "slots.memory_budget_mb"], ranks=3, single=False)
config_case("slot_bytes 2^63", dict(with_matrices(), slots={"slot_bytes": 2**63}),
            ["slots.slot_bytes", "at most"])
config_case("memory_budget_mb 2^62", dict(with_matrices(), slots={"memory_budget_mb": 2**62}),
            ["slots.memory_budget_mb", "at most"])
config_case("negative writer_delay_ms", dict(with_matrices(), testing={"writer_delay_ms": -5}),
            ["testing.writer_delay_ms"])
config_case("NaN", '{"matrices": {"count": 4, "rows": 8, "cols": 8}, "metrics": {"interval_s": NaN}}',
            ["not valid JSON", "line 1"])
config_case("Infinity", '{"matrices": {"count": 4, "rows": 8, "cols": 8}, "metrics": {"interval_s": Infinity}}',
            ["not valid JSON"])
config_case("1e400", '{"matrices": {"count": 4, "rows": 8, "cols": 8}, "metrics": {"interval_s": 1e400}}',
            ["not valid JSON", "1e400"])

# --- structure -------------------------------------------------------------------------------
config_case("deeply nested JSON (100000 levels)",
            '{"matrices": {"count": ' + "[" * 100000 + "]" * 100000 + "}}",
            ["nested deeper than 32 levels", "matrices.count"], ranks=3)
config_case("duplicate key", '{"matrices": {"count": 4, "rows": 8, "cols": 8, "count": 5}}',
            ['duplicate key "matrices.count"'], ranks=3)
config_case("duplicate section", '{"matrices": {"count": 4, "rows": 8, "cols": 8}, "stages": {}, "stages": {}}',
            ['duplicate key "stages"'])
config_case("matrices is an array", {"matrices": [4, 8, 8]}, ["matrices", "an object"])
config_case("count is null", with_matrices(count=None), ["matrices.count", "null"])
config_case("level is a bool", dict(with_matrices(), compression={"level": True}), ["compression.level", "true"])
config_case("overwrite is a string", dict(with_matrices(), overwrite="true"), ["overwrite", "true or false"])
config_case("top level is null", "null", ["top level must be a JSON object"])
config_case("trailing garbage", '{"matrices": {"count": 4, "rows": 8, "cols": 8}} {', ["not valid JSON"])
config_case("comment", '// job\n{"matrices": {"count": 4, "rows": 8, "cols": 8}}', ["not valid JSON"])
config_case("empty file", "", ["is empty"])
config_case("whitespace only", " \n\t\n", ["is empty"])
config_case("invalid UTF-8 in a string", b'{"job": "\xff\xfe", "matrices": {"count": 4, "rows": 8, "cols": 8}}',
            ["not valid JSON", "UTF-8"])
config_case("lone surrogate escape", '{"job": "\\ud800", "matrices": {"count": 4, "rows": 8, "cols": 8}}',
            ["not valid JSON", "surrogate"])
config_case("job name with a newline", dict(with_matrices(), job="a\nb"), ["job", "1 to 64 characters"])
config_case("job name non-ASCII", dict(with_matrices(), job="j\u00f6b"), ["job", "1 to 64 characters"])
config_case("empty output_dir", dict(with_matrices(), output_dir=""), ["output_dir", "non-empty string"])
config_case("NUL in output_dir", dict(with_matrices(), output_dir="out\u0000x"),
            ["output_dir", "without NUL characters"])
config_case("NUL in metrics.path", dict(with_matrices(), metrics={"path": "m\u0000.jsonl"}),
            ["metrics.path", "without NUL characters"])
config_case("input and matrices", dict(with_matrices(), input={"files": ["a.h5"]}), ["matrices", "not allowed together"])
config_case("input.files empty", {"input": {"files": []}}, ["input.files"])
config_case("input.files holds a number", {"input": {"files": ["a.h5", 7]}}, ["input.files"])


# --- the config file itself ------------------------------------------------------------------
def path_case(name, make, expect):
    CASES.append(Case(name, make, expect))


def config_dir(cwd):
    os.mkdir(os.path.join(cwd, "job.json"))
    return ["job.json"]


def dangling(cwd):
    os.symlink("nowhere.json", os.path.join(cwd, "job.json"))
    return ["job.json"]


def loop(cwd):
    os.symlink("b.json", os.path.join(cwd, "a.json"))
    os.symlink("a.json", os.path.join(cwd, "b.json"))
    return ["a.json"]


def non_utf8_missing(cwd):
    return [os.fsdecode(b"job-\xff.json")]


def dev_zero(cwd):
    return ["/dev/zero"]


path_case("config is a directory", config_dir, ["cannot read", "job.json", "Is a directory"])
path_case("config is a dangling symlink", dangling, ["cannot read", "job.json", "No such file"])
path_case("config symlink loop", loop, ["cannot read", "a.json", "symbolic links"])
path_case("non-UTF-8 config name, missing", non_utf8_missing, ["cannot read", "job-", "No such file"])
path_case("config is /dev/zero (endless)", dev_zero, ["/dev/zero", "larger than 16 MiB"])


# --- HDF5 inputs -----------------------------------------------------------------------------
def ingest_case(name, make_file, expect, dataset="/data", ranks=1, code=2, check=None, extra=(),
                single=True):
    """make_file(cwd) creates the input(s) and returns the input argument(s)."""
    def setup(cwd):
        inputs = make_file(cwd)
        inputs = inputs if isinstance(inputs, list) else [inputs]
        return ["ingest"] + inputs + ["--dataset", dataset, "--out", "out", "--job", "j"] + list(extra)
    CASES.append(Case(name, setup, expect, code=code, ranks=ranks, check=check, single=single))


def h5(cwd, name, fill):
    path = os.path.join(os.fsencode(cwd), os.fsencode(name))
    with h5py.File(path, "w") as f:
        fill(f)
    return os.fsdecode(os.fsencode(name))


def zero_rows(cwd):
    return h5(cwd, "in.h5", lambda f: f.create_dataset("data", shape=(0, 5), dtype="f8"))


def zero_slices(cwd):
    return h5(cwd, "in.h5", lambda f: f.create_dataset("data", shape=(0, 4, 4), dtype="f8"))


def huge_rows(cwd):
    return h5(cwd, "in.h5", lambda f: f.create_dataset(
        "data", shape=(2, 2**33, 1), dtype="u1", chunks=(1, 2**20, 1)))


def over_4gib(cwd):
    return h5(cwd, "in.h5", lambda f: f.create_dataset(
        "data", shape=(2, 100000, 100000), dtype="f8", chunks=(1, 1000, 1000)))


def over_64bit(cwd):
    return h5(cwd, "in.h5", lambda f: f.create_dataset(
        "data", shape=(1, 2**32 - 1, 2**32 - 1), dtype="f8", chunks=(1, 1024, 1024)))


def too_many(cwd):
    return h5(cwd, "in.h5", lambda f: f.create_dataset(
        "data", shape=(2**41, 1, 1), dtype="u1", chunks=(2**20, 1, 1)))


def external_link(cwd):
    h5(cwd, "other.h5", lambda f: f.create_dataset("data", data=np.zeros((2, 3, 3))))
    return h5(cwd, "in.h5", lambda f: f.__setitem__("data", h5py.ExternalLink("other.h5", "/data")))


def external_link_in_group(cwd):
    h5(cwd, "other.h5", lambda f: f.create_dataset("m", data=np.zeros((3, 3))))

    def fill(f):
        f.create_dataset("g/a", data=np.zeros((3, 3)))
        f["g/b"] = h5py.ExternalLink("/etc/other.h5", "/m")
    return h5(cwd, "in.h5", fill)


def soft_link_loop(cwd):
    def fill(f):
        f["data"] = h5py.SoftLink("/loop")
        f["loop"] = h5py.SoftLink("/data")
    return h5(cwd, "in.h5", fill)


def symlink_loop(cwd):
    os.symlink("b.h5", os.path.join(cwd, "a.h5"))
    os.symlink("a.h5", os.path.join(cwd, "b.h5"))
    return "a.h5"


def fifo(cwd):
    os.mkfifo(os.path.join(cwd, "pipe.h5"))
    return "pipe.h5"


def char_device(cwd):
    return "/dev/zero"


def empty_file(cwd):
    return write(cwd, "empty.h5", b"")


def non_utf8_name(cwd):
    return h5(cwd, b"in-\xff.h5".decode("utf-8", "surrogateescape"),
              lambda f: f.create_dataset("data", data=np.zeros((2, 3, 3))))


def compound(cwd):
    return h5(cwd, "in.h5", lambda f: f.create_dataset(
        "data", shape=(2, 3, 3), dtype=np.dtype([("x", "<i4"), ("y", "<f8")])))


def zstd_bomb(cwd):
    """A zstd chunk (filter 32015) whose frame header claims 2^40 bytes."""
    def fill(f):
        d = f.create_dataset("data", shape=(2, 4, 4), dtype="f8", chunks=(1, 4, 4),
                             compression=32015, compression_opts=(3,))
        lie = bytes([0x28, 0xB5, 0x2F, 0xFD, 0xE0]) + (2**40).to_bytes(8, "little") + bytes([1, 0, 0])
        for i in range(2):
            d.id.write_direct_chunk((i, 0, 0), lie)
    return h5(cwd, "in.h5", fill)


ingest_case("HDF5: 0-sized dimension", zero_rows, ["input: in.h5:/data: is empty", "[0, 5]"])
ingest_case("HDF5: 3-D with 0 matrices", zero_slices, ["input: in.h5:/data: is empty", "[0, 4, 4]"])
ingest_case("HDF5: 2^33 rows", huge_rows, ["input: in.h5:/data", "exceeds 2^32-1 rows"], ranks=3)
ingest_case("HDF5: matrix over 4 GiB", over_4gib, ["input: in.h5:/data", "80000000000 bytes", "4 GiB"])
ingest_case("HDF5: matrix bytes overflow 64 bits", over_64bit,
            ["input: in.h5:/data", "more than 2^64 bytes"], ranks=3)
ingest_case("HDF5: 2^41 matrices", too_many, ["input: in.h5:/data", "more than 2^40 matrices"])
ingest_case("HDF5: compound type", compound, ["input: in.h5:/data", "unsupported element type: compound"])
ingest_case("HDF5: external link", external_link,
            ["input: in.h5:/data", "external link to other.h5:/data"], ranks=3)
ingest_case("HDF5: external link in a group", external_link_in_group,
            ["input: in.h5:/g/b", "external link to /etc/other.h5:/m"], dataset="/g")
ingest_case("HDF5: soft link loop", soft_link_loop, ["input: in.h5:/data"])
ingest_case("HDF5: file symlink loop", symlink_loop, ["input: a.h5", "symbolic links"])
ingest_case("HDF5: FIFO (would block)", fifo, ["input: pipe.h5", "not a regular file"])
ingest_case("HDF5: character device", char_device, ["input: /dev/zero", "not a regular file"])
ingest_case("HDF5: empty file", empty_file, ["input: empty.h5", "not an HDF5 file"])


def chunk_bomb_check(cwd):
    return [] if not os.path.exists(os.path.join(cwd, "out", "j.h5")) else ["master j.h5 written"]


# Found while the job runs (the scan does not decompress): a runtime error naming the matrix,
# no master file, and no 1 TiB allocation. The exit code is the one for failures while running.
# The reader's chunk-size check (before the read) sees the frame's claim first.
CASES.append(Case("HDF5: zstd chunk claiming 2^40 bytes",
                  lambda cwd: ["ingest", zstd_bomb(cwd), "--out", "out", "--job", "j"],
                  # Both matrices are forged; which one a rank reads first depends on who
                  # produces it (a producer, or a rank helping: elastic stages).
                  ["input: in.h5:/data[", "decodes to more than 128 bytes"], code=RUNTIME, ranks=3,
                  single=False))


def spaces_and_symlink(cwd):
    os.mkdir(os.path.join(cwd, "my data"))
    h5(cwd, "my data/run 1.h5", lambda f: f.create_dataset("data", data=np.arange(18.0).reshape(2, 3, 3)))
    os.symlink("my data/run 1.h5", os.path.join(cwd, "link to run.h5"))
    return ["link to run.h5"]


def spaces_check(cwd):
    master = os.path.join(cwd, "out dir", "j.h5")
    if not os.path.exists(master):
        return ["no master in 'out dir'"]
    with h5py.File(master, "r") as f:
        names = [n for n in f if n not in ("index",) and isinstance(f[n], h5py.Dataset) and f[n].ndim == 3]
        if not names or not np.array_equal(f[names[0]][:], np.arange(18.0).reshape(2, 3, 3)):
            return ["data differ"]
    return []


ingest_case("paths with spaces, input via a symlink (works)", spaces_and_symlink, [], code=0,
            check=spaces_check, ranks=3, single=False)
# The positive case's output dir: "out dir" (with a space).
CASES[-1].setup = (lambda inner: lambda cwd: [a if a != "out" else "out dir" for a in inner(cwd)])(CASES[-1].setup)


def non_utf8_glob(cwd):
    non_utf8_name(cwd)
    return "*.h5"


ingest_case("non-UTF-8 input file name, given", non_utf8_name, ["input.files[0]", "must be valid UTF-8 text"])
ingest_case("non-UTF-8 input file name, matched by a glob", non_utf8_glob,
            ["input: in-\\xFF.h5: file name is not valid UTF-8"], ranks=3)


def non_utf8_out(cwd):
    h5(cwd, "in.h5", lambda f: f.create_dataset("data", data=np.zeros((2, 3, 3))))
    return ["ingest", "in.h5", "--out", os.fsdecode(b"out-\xff"), "--job", "j"]


def non_utf8_dataset(cwd):
    h5(cwd, "in.h5", lambda f: f.create_dataset("data", data=np.zeros((2, 3, 3))))
    return ["ingest", "in.h5", "--dataset", os.fsdecode(b"/da\xffta"), "--out", "out", "--job", "j"]


CASES.append(Case("ingest --out not UTF-8", non_utf8_out, ["output_dir", "valid UTF-8"], ranks=3))
CASES.append(Case("ingest --dataset not UTF-8", non_utf8_dataset, ["input.dataset", "must be valid UTF-8 text"]))


# --- trust (issue 18): the output never replaces an input or the config, never writes through a
# planted link; limits that fit the machine --------------------------------------------------------
def ingest_into_own_directory(cwd):
    os.makedirs(os.path.join(cwd, "data"))
    h5(cwd, "data/run.h5", lambda f: f.create_dataset("data", data=np.zeros((2, 3, 3))))
    return ["ingest", "data/run.h5", "--out", "data", "--overwrite"]


def metrics_over_config(cwd):
    return [write(cwd, "job.json", json.dumps({"output_dir": "out", "matrices": GOOD_MATRICES,
                                               "metrics": {"path": "../job.json"}}))]


def link_as_master(cwd):
    os.makedirs(os.path.join(cwd, "out"))
    write(cwd, "victim.txt", "precious")
    os.symlink(os.path.join(cwd, "victim.txt"), os.path.join(cwd, "out", "j.h5"))
    return [write(cwd, "job.json", json.dumps({"job": "j", "output_dir": "out", "overwrite": True,
                                               "matrices": GOOD_MATRICES}))]


def deep_groups(cwd):
    def fill(f):
        group = f.create_group("g")
        for _ in range(1100):
            group = group.create_group("g")
        group["m"] = np.zeros((2, 2))
    return h5(cwd, "in.h5", fill)


CASES.append(Case("ingest whose master would be its input (--overwrite)", ingest_into_own_directory,
                  ["data/run.h5", "would replace", "which this job reads"], ranks=3, single=False))
CASES.append(Case("metrics.path naming the config file", metrics_over_config,
                  ["metrics log", "job.json", "would replace"], ranks=3, single=False))
CASES.append(Case("a link planted where the master belongs", link_as_master,
                  ["master file: out/j.h5 is a symbolic link"], ranks=3, single=False))
config_case("count 2^40: more than the writers' id bookkeeping fits", with_matrices(count=2**40),
            ["matrices: the writers' record", "GiB of memory", "MemAvailable"], ranks=3, single=False)
ingest_case("groups nested 1100 deep, --recursive", deep_groups, ["groups nested more than 1024 levels deep"],
            dataset="/g", extra=("--recursive",))


# --- the command line: parsed by every rank before MPI starts, reported once ---------------------
def command_line_case(name, args, expect):
    def setup(cwd):
        write(cwd, "job.json", json.dumps({"output_dir": "out", "matrices": GOOD_MATRICES}))
        h5(cwd, "in.h5", lambda f: f.create_dataset("data", data=np.zeros((2, 3, 3))))
        return list(args)
    CASES.append(Case(name, setup, expect, ranks=3))


command_line_case("unknown option", ["--bogus", "job.json"], ["--bogus", "not expected", "shmjob --help"])
command_line_case("no config and no subcommand", [], ["config", "required"])
command_line_case("ingest without --out", ["ingest", "in.h5"], ["--out", "required"])
command_line_case("ingest --level not a number", ["ingest", "in.h5", "--out", "out", "--level", "high"],
                  ["--level", "high"])
