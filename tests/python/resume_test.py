#!/usr/bin/env python3
"""Interrupt, crash and resume: whatever point a job is stopped at, and however (a signal that
drains, a second signal that aborts, a SIGKILLed compressor or writer), running the same config
with --resume finishes it, and the result equals an uninterrupted run's: every matrix read by id
through the master (h5py), and the index rows' ids, crc32 and sizes.

Cases (each: a first run stopped, then --resume, then a comparison with the reference run):
  - SIGINT to every rank early (1 matrix written), SIGTERM to every rank in the middle (30 of
    60), SIGUSR1 to mpirun during the final drain (54 of 60 written, writers slowed to 250 ms per
    matrix: producers have taken every id) -> exit 4, "interrupted";
  - SIGTERM twice to every rank -> each aborts at once with 128+15 (mpirun reports it);
  - SIGKILL of one compressor, and of one writer, mid-run -> mpirun aborts the job (time
    printed, not asserted), shards readable up to their last flush;
  - an ingest of two shapes (two matrix sets) in 32x40 tiles interrupted in the middle, then
    resumed;
  - a resume of a resumed, complete job: "nothing to do", exit 0, master unchanged;
  - a resume with a changed config (matrices.seed) is refused: exit 2, one line, nothing written;
    also onto shards without a master (compression.level);
  - a byte flipped in one stored chunk of a complete job: resume rewrites exactly that matrix;
  - a fresh run (no --resume) into a directory holding an unfinished run is refused: exit 2.
After every run nothing new may remain in /dev/shm.

usage: resume_test.py SHMJOB
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

import shmjob_metrics
from helpers.mpi_ranks import rank_pids
from helpers.shm_check import leftover_entries, shm_entries

COUNT = 60
RANKS = 5
BASE = {"matrices": {"count": COUNT, "rows": 128, "cols": 128, "kind": "smooth", "seed": 5},
        "stages": {"producers": 1, "compressors": 2, "writers": 2},
        "compression": {"level": 19}, "metrics": {"interval_s": 0.1},
        "flush": {"every_matrices": 3},
        # Few slots, so that a signal before the end leaves ids nobody took (the `auto` pools,
        # 64 slots of 128x128, would hold every matrix before the first one is written).
        "slots": {"per_producer": 4, "per_compressor": 4}}

# A job aborted by a second signal 50 ms after the first must still be draining then: its writer
# is paced, or on a fast machine the drain and the master can both finish inside the gap (seen
# here: exit 143 and a master).
ABORTED = {"testing": {"writer_delay_ms": 150}}
# The other interrupts and kills must land while ids are still untaken or matrices unwritten: the
# writers are paced, so how much is left when the signal lands depends on the slots (the
# backpressure), not on how fast this machine compresses (an unpaced job on a 2-3x faster
# machine could finish in the signal's delay).
PACED = {"testing": {"writer_delay_ms": 60}}

failures = []
passed = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    (passed if condition else failures).append(message)


def write_config(tmp, name, **changes):
    config = json.loads(json.dumps(BASE))
    config.update({"job": name, "output_dir": os.path.join(tmp, name)})
    for key, value in changes.items():
        section, _, leaf = key.partition(".")
        if leaf:
            config[section][leaf] = value
        else:
            config[section] = value
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    return config, path


def start(shmjob, path, *extra):
    return subprocess.Popen(["mpirun", "-n", str(RANKS), shmjob, *extra, path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(shmjob, path, *extra):
    job = start(shmjob, path, *extra)
    out, err = job.communicate(timeout=300)
    return job.returncode, out, err


def samples(metrics):
    try:
        with open(metrics) as f:
            return [json.loads(l) for l in f if '"sample"' in l]
    except (OSError, ValueError):
        return []


def wait_for_written(metrics, at_least, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = samples(metrics)
        if s and s[-1]["written"] >= at_least:
            return s[-1]["written"]
        time.sleep(0.02)
    return None


def shm_files_of(pids):
    """The /dev/shm files the given processes map (Open MPI's segments of this job)."""
    files = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as f:
                files.update(line.split(None, 5)[5].strip() for line in f
                             if len(line.split(None, 5)) == 6 and line.split(None, 5)[5].startswith("/dev/shm/"))
        except OSError:
            pass
    return files


def left_behind(files, patience_s=30.0):
    """Those of `files` still there after up to `patience_s` (mpirun removes them as it exits)."""
    deadline = time.time() + patience_s
    while (left := sorted(f for f in files if os.path.exists(f))) and time.time() < deadline:
        time.sleep(0.2)
    return left


def rank_of_role(metrics, role):
    with open(metrics) as f:
        start_record = json.loads(f.readline())
    return next(r["rank"] for r in start_record["plan"]["ranks"] if r["role"] == role)


def read_job(config):
    """(status, index rows as {id: (crc32, raw_bytes)}, matrices by id) through the master."""
    with h5py.File(os.path.join(config["output_dir"], config["job"] + ".h5")) as f:
        status = f.attrs["status"]
        status = status.decode() if isinstance(status, bytes) else status
        index = f["index"][:]
        data = f["data"][:]
    rows = {int(r["id"]): (int(r["crc32"]), int(r["raw_bytes"])) for r in index}
    return status, index, rows, data


def compare_with_reference(name, config, reference):
    status, index, rows, data = read_job(config)
    ref_status, ref_index, ref_rows, ref_data = reference
    check(status == "complete", f"{name}: resumed master status {status!r}")
    ids = index["id"].astype(np.int64)
    check(len(ids) == COUNT and bool(np.all(ids == np.arange(COUNT))),
          f"{name}: index lists ids 0..{COUNT - 1} once each, in order ({len(ids)} rows)")
    check(rows == ref_rows, f"{name}: index ids, crc32 and raw_bytes equal the uninterrupted run's")
    equal = [i for i in range(COUNT) if np.array_equal(data[i], ref_data[i])]
    check(len(equal) == COUNT and data.dtype == ref_data.dtype,
          f"{name}: every matrix read through the master equals the uninterrupted run's "
          f"({len(equal)} of {COUNT})")


def shards_of(config):
    return sorted(n for n in os.listdir(config["output_dir"]) if ".shard-" in n)


def resume_and_compare(shmjob, name, config, path, reference, must_keep=True, leaves_work=False):
    before_shards = shards_of(config)
    sizes = {n: os.path.getsize(os.path.join(config["output_dir"], n)) for n in before_shards}
    mtimes = {n: os.stat(os.path.join(config["output_dir"], n)).st_mtime_ns for n in before_shards}
    code, out, err = run(shmjob, path, "--resume")
    check(code == 0, f"{name}: --resume exits 0 (got {code}; {err.strip()[-300:]})")
    resume_lines = [l for l in out.splitlines() if l.startswith("shmjob: resume:")]
    check(len(resume_lines) == 1, f"{name}: one resume line: {resume_lines}")
    kept = int(resume_lines[0].split("kept ")[1].split()[0]) if len(resume_lines) == 1 else -1
    if must_keep:
        check(kept > 0, f"{name}: matrices flushed before the stop are kept, not redone ({kept})")
    if leaves_work:
        check(0 <= kept < COUNT, f"{name}: the producers stopped taking ids; the resume writes the rest ({kept} kept)")
    unchanged = all(os.path.getsize(os.path.join(config["output_dir"], n)) == sizes[n] and
                    os.stat(os.path.join(config["output_dir"], n)).st_mtime_ns == mtimes[n]
                    for n in before_shards)
    check(unchanged, f"{name}: the earlier shards were not rewritten ({before_shards})")
    verify = subprocess.run([shmjob, "verify", config["output_dir"]], capture_output=True, text=True)
    check(verify.returncode == 0, f"{name}: shmjob verify accepts the resumed output: "
                                  f"{[l for l in (verify.stdout + verify.stderr).splitlines() if 'problem' in l][:4] or verify.stdout.strip().splitlines()[-1:]}")
    metrics = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
    with open(metrics) as f:
        starts = sum('"job_start"' in line for line in f)
    last = shmjob_metrics.load(metrics)
    check(starts == 2 and last.end is not None and last.end["status"] == "complete" and last.start["config"]["resume"]
          and all(s["written"] <= s["expected"] for s in last.samples),
          f"{name}: the resumed run is appended to the metrics log and read back as the last run")
    compare_with_reference(name, config, reference)


def signal_ranks(job, how_many=1, sig=signal.SIGTERM, gap=0.3):
    pids = rank_pids(job.pid)
    for i in range(how_many):
        if i:
            time.sleep(gap)
        for pid in pids.values():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    return pids


def interrupt_case(shmjob, tmp, name, at, reference, how, leaves_work=False, **changes):
    config, path = write_config(tmp, name, **changes)
    job = start(shmjob, path)
    written = wait_for_written(os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl"), at)
    check(written is not None, f"{name}: the job reached {at} matrices written")
    segments = shm_files_of(rank_pids(job.pid).values())
    if how == "SIGUSR1 to mpirun":
        job.send_signal(signal.SIGUSR1)  # mpirun forwards it to every rank
    else:
        signal_ranks(job, sig=signal.SIGINT if how == "SIGINT to the ranks" else signal.SIGTERM)
    out, err = job.communicate(timeout=300)
    print(f"      {name}: {how} at {written} written")
    check(job.returncode == 4, f"{name}: exit code {job.returncode} (expected 4)")
    status, index, _, _ = read_job(config)
    check(status == "interrupted" and len(index) <= COUNT,
          f"{name}: master {status!r} with {len(index)} of {COUNT} matrices (signal at {written})")
    check(segments and not left_behind(segments),
          f"{name}: none of the job's {len(segments)} /dev/shm files is left after the interrupt")
    resume_and_compare(shmjob, name, config, path, reference, must_keep=written >= 3, leaves_work=leaves_work)


def second_signal_case(shmjob, tmp, reference, shm_before):
    name = "second_signal"
    config, path = write_config(tmp, name, **ABORTED)
    job = start(shmjob, path)
    wait_for_written(os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl"), 10)
    segments = shm_files_of(rank_pids(job.pid).values())
    t0 = time.time()
    signal_ranks(job, how_many=2, gap=0.05)
    out, err = job.communicate(timeout=300)
    took = time.time() - t0
    print(f"      second signal: job ended {took:.2f} s after the first signal, exit {job.returncode}")
    check(job.returncode == 128 + signal.SIGTERM, f"{name}: exit code {job.returncode} (expected 143)")
    check("second signal: aborting now" in err, f"{name}: the abort says why")
    check(not os.path.exists(os.path.join(config["output_dir"], name + ".h5")),
          f"{name}: no master written by an aborted run")
    check(segments and not left_behind(segments), f"{name}: none of the job's /dev/shm files is left")
    resume_and_compare(shmjob, name, config, path, reference)


def kill_case(shmjob, tmp, role, reference, shm_before):
    name = "kill_" + role
    config, path = write_config(tmp, name, **PACED)
    metrics = os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")
    job = start(shmjob, path)
    wait_for_written(metrics, 20)
    pids = rank_pids(job.pid)
    segments = shm_files_of(pids.values())
    victim = pids[rank_of_role(metrics, role)]
    t0 = time.time()
    os.kill(victim, signal.SIGKILL)
    out, err = job.communicate(timeout=300)
    took = time.time() - t0
    print(f"      SIGKILL {role}: mpirun ended the job {took:.2f} s later, exit {job.returncode}")
    check(job.returncode != 0, f"{name}: the job fails (exit {job.returncode})")
    check(not os.path.exists(os.path.join(config["output_dir"], name + ".h5")),
          f"{name}: no master written")
    readable = 0
    for shard in shards_of(config):
        try:
            with h5py.File(os.path.join(config["output_dir"], shard)) as f:
                readable += len(f["index"])
        except OSError as e:
            print(f"      {shard} unreadable: {e}")
    print(f"      {readable} index rows readable in the shards after the crash")
    check(segments and not left_behind(segments), f"{name}: none of the job's /dev/shm files is left")
    resume_and_compare(shmjob, name, config, path, reference)


def ingest_case(shmjob, tmp, shm_before):
    """An ingest of two shapes (two matrix sets, two virtual datasets), stored in 32x40 tiles,
    interrupted and resumed."""
    rng = np.random.default_rng(4)
    inputs = os.path.join(tmp, "inputs")
    os.makedirs(inputs)
    with h5py.File(os.path.join(inputs, "a.h5"), "w") as f:
        # 400 + 30 matrices: long enough (~2 s) that the signal lands mid-run.
        f["data"] = np.cumsum(rng.normal(size=(400, 96, 96)), axis=2).astype("f4")
    with h5py.File(os.path.join(inputs, "b.h5"), "w") as f:
        f["data"] = rng.poisson(4, size=(30, 40, 24)).astype("i2")
    configs = {}
    for name in ("ingest_reference", "ingest"):
        config = {"job": name, "output_dir": os.path.join(tmp, name),
                  "input": {"files": [os.path.join(inputs, "a.h5"), os.path.join(inputs, "b.h5")],
                            "dataset": "/data"},
                  "stages": {"producers": 1, "compressors": 2, "writers": 2},
                  # Tiled chunks (edge tiles too): resume checks a matrix tile by tile.
                  "compression": {"level": 19, "shuffle": True, "chunk": [32, 40]},
                  "metrics": {"interval_s": 0.1}, "flush": {"every_matrices": 3}}
        path = os.path.join(tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(config, f)
        configs[name] = (config, path)
    code, _, err = run(shmjob, configs["ingest_reference"][1])
    check(code == 0, f"ingest reference exits 0 ({err.strip()[-200:]})")
    config, path = configs["ingest"]
    job = start(shmjob, path)
    wait_for_written(os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl"), 20)
    signal_ranks(job)
    job.communicate(timeout=300)
    check(job.returncode == 4, f"ingest: interrupted, exit {job.returncode}")
    code, out, err = run(shmjob, path, "--resume")
    check(code == 0, f"ingest: --resume exits 0 ({err.strip()[-200:]}) {out.splitlines()[:1]}")
    kept = re.search(r"kept (\d+) of 430 matrices", out)
    check(kept is not None and 20 <= int(kept.group(1)) < 430,
          f"ingest: the interrupted run kept what it wrote and left the rest to the resume ({out.splitlines()[:1]})")
    with h5py.File(os.path.join(tmp, "ingest_reference", "ingest_reference.h5")) as ref, \
            h5py.File(os.path.join(config["output_dir"], "ingest.h5")) as got:
        status = got.attrs["status"]
        check((status.decode() if isinstance(status, bytes) else status) == "complete", "ingest: resumed master complete")
        names = sorted(k for k in ref if k.startswith(("data", "index")))
        check(names == sorted(k for k in got if k.startswith(("data", "index"))) and len(names) == 4,
              f"ingest: the same two virtual datasets and index tables ({names})")
        for k in names:
            if k.startswith("data"):
                check(np.array_equal(ref[k][:], got[k][:]), f"ingest: {k} equals the uninterrupted ingest's")
            else:
                same = all(np.array_equal(ref[k][field], got[k][field])
                           for field in ("id", "crc32", "raw_bytes", "source_file", "source_dataset", "source_index"))
                check(same, f"ingest: {k} ids, crc32 and sources equal the uninterrupted ingest's")


def main():
    shmjob = sys.argv[1]
    shm_before = shm_entries()
    with tempfile.TemporaryDirectory(prefix="shmjob-resume-") as tmp:
        config, path = write_config(tmp, "reference")
        code, out, err = run(shmjob, path)
        check(code == 0, f"reference: uninterrupted run exits 0 ({err.strip()[-300:]})")
        reference = read_job(config)

        interrupt_case(shmjob, tmp, "int_early", 1, reference, "SIGINT to the ranks", leaves_work=True, **PACED)
        interrupt_case(shmjob, tmp, "term_middle", COUNT // 2, reference, "SIGTERM to the ranks", leaves_work=True,
                       **PACED)
        # Slow writers make the final drain long enough for the signal to land in it, however
        # busy the machine is (the last matrices are still being written when it arrives).
        interrupt_case(shmjob, tmp, "usr1_drain", COUNT - 6, reference, "SIGUSR1 to mpirun",
                       testing={"writer_delay_ms": 250})
        second_signal_case(shmjob, tmp, reference, shm_before)
        kill_case(shmjob, tmp, "compressor", reference, shm_before)
        kill_case(shmjob, tmp, "writer", reference, shm_before)

        ingest_case(shmjob, tmp, shm_before)

        # A complete job resumed again: nothing to do, nothing rewritten.
        config, path = write_config(tmp, "term_middle")
        master = os.path.join(config["output_dir"], "term_middle.h5")
        stamp = os.stat(master).st_mtime_ns
        code, out, err = run(shmjob, path, "--resume")
        check(code == 0 and "already complete" in out and "nothing to do" in out,
              f"complete job resumed: exit {code}, says {out.strip()!r}")
        check(os.stat(master).st_mtime_ns == stamp, "complete job resumed: master untouched")

        # Another config onto the same output: refused before anything is written.
        config, path = write_config(tmp, "term_middle", **{"matrices.seed": 6})
        files = sorted(os.listdir(config["output_dir"]))
        code, out, err = run(shmjob, path, "--resume")
        errors = [l for l in err.splitlines() if l.startswith("shmjob: error:")]
        check(code == 2 and len(errors) == 1 and "matrices.seed" in errors[0] and "another config" in errors[0],
              f"changed config refused: exit {code}, {errors}")
        check(sorted(os.listdir(config["output_dir"])) == files, "changed config refused: nothing written")

        # A fresh run into an unfinished job's directory: refused, pointing at --resume.
        config, path = write_config(tmp, "unfinished", **ABORTED)
        job = start(shmjob, path)
        wait_for_written(os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl"), 10)
        signal_ranks(job, how_many=2, gap=0.05)
        job.communicate(timeout=300)
        code, out, err = run(shmjob, path)
        errors = [l for l in err.splitlines() if l.startswith("shmjob: error:")]
        check(code == 2 and len(errors) == 1 and "--resume" in errors[0],
              f"fresh run over an unfinished one refused: exit {code}, {errors}")
        # Shards without a master, from another config: refused too, naming the shard.
        config, path = write_config(tmp, "unfinished", **ABORTED, compression={"level": 18})
        code, out, err = run(shmjob, path, "--resume")
        errors = [l for l in err.splitlines() if l.startswith("shmjob: error:")]
        check(code == 2 and len(errors) == 1 and "unfinished.shard-0000" in errors[0]
              and "compression.level: 19 in the earlier run, 18 now" in errors[0],
              f"shards of another config refused: exit {code}, {errors}")

        # A corrupted chunk in a complete job: resume finds it and writes that matrix again.
        config, path = write_config(tmp, "term_middle")
        with h5py.File(os.path.join(config["output_dir"], "term_middle.h5")) as f:
            victim = f["index"][17]
        shard_path = os.path.join(config["output_dir"], f"term_middle.shard-{int(victim['shard']):05d}.h5")
        with h5py.File(shard_path) as f:
            info = f["data"].id.get_chunk_info_by_coord((int(victim["row"]), 0, 0))
        with open(shard_path, "r+b") as f:
            f.seek(info.byte_offset + info.size // 2)
            byte = f.read(1)
            f.seek(info.byte_offset + info.size // 2)
            f.write(bytes([byte[0] ^ 0x5A]))
        code, out, err = run(shmjob, path, "--resume")
        check(code == 0 and "kept 59 of 60" in out and "1 index row(s) whose matrix is not intact" in out,
              f"corrupted chunk: resume keeps 59 and rewrites 1 (exit {code}): {out.splitlines()[:2]}")
        compare_with_reference("corrupted chunk", config, reference)
        with h5py.File(os.path.join(config["output_dir"], "term_middle.h5")) as f:
            check(int(f["index"][17]["shard"]) != int(victim["shard"]),
                  "corrupted chunk: the master maps matrix 17 to its new shard")

        check(not leftover_entries(shm_before), "nothing left in /dev/shm at the end")
    print(f"{len(passed)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
