#!/usr/bin/env python3
"""shmjob in directories other people write to, run as a careless or hostile user would
(issue 18): every case must end with the documented exit code and one error line, and must
neither lose nor expose data nor write outside the job's own files.

usage: trust_test.py SHMJOB [CASE...]

- links planted where the master, the metrics log, a shard or the lock belong: refused (exit 2,
  naming the link), the link's target unchanged; also one at the old `.h5.partial` name;
- a FIFO where a shard belongs: --resume refuses at once instead of blocking;
- the private directory a run killed while writing its master leaves is removed by the next run
  of the job (only that: not a look-alike, another user's directory or a link);
- name clashes: `shmjob ingest data/run.h5 --out data` (the master would be the input),
  metrics.path naming an input, the config file, the master or a shard: refused (exit 2, both
  paths named), nothing deleted even with --overwrite;
- overwrite removes exactly the job's files: `run.shard-notes.h5` and job `run.shard-v2`'s files
  stay; two jobs in one directory keep their own metrics logs;
- a lock per job: a second run, --resume or overwrite of a running job exits 2 at once with
  "job X is running (pid, host)", the running job completes unharmed; the lock file a killed job
  leaves is taken over;
- names with newline, ESC, CR, BEL: every message stays one line;
- an input truncated or modified while the job reads it: exit 3 naming file:/dataset[index], no
  master (no silent zeros);
- (chunks that decode to the wrong size, for every filter pipeline: filtered_input_test.py);
- a shard with a damaged header: `verify` says so in a few lines (no HDF5 error stack), --resume
  reports it as damaged and writes its matrices again;
- groups nested 5000 deep with --recursive: refused in one line, not a crash (500 are read); matrices.count
  2^40: refused with the memory its bookkeeping would need, not std::bad_alloc;
- a 10 KB input declaring 10^7 matrices: a note before the job starts;
- a writer stopped (SIGSTOP) with work waiting: after watchdog.stall_s one warning names it
  (stderr, log); after SIGCONT the job completes; with watchdog.abort_s the job ends with exit 3
  naming it, nothing left in /dev/shm, and --resume finishes it;
- a producer stopped while its slots are free is named the same way; a stopped rank 0 (whose
  process also runs the node's sampler and watchdog) is named by node rank 1, in stderr and the
  log, and with watchdog.abort_s rank 1 ends the job (exit 3), after which --resume finishes it;
- readers do not disturb writers: h5py opening the shard in a loop (with HDF5's default file
  locking) while its writer flushes and reopens it never fails the job.
Prints "N passed, M failed".
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import h5py
import numpy as np

from helpers.mpi_ranks import rank_pids

RANKS = 3
failures = []
passed = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    (passed if condition else failures).append(message)
    return condition


def run(shmjob, args, cwd, ranks=RANKS, timeout=120):
    return subprocess.run(["mpirun", "-n", str(ranks), shmjob] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, errors="replace")


def error_lines(result):
    return [l for l in (result.stdout + result.stderr).splitlines() if l.startswith("shmjob: error:")]


def refused(result, fragments, code=2):
    """Exit `code` and exactly one error line holding every fragment."""
    errors = error_lines(result)
    ok = result.returncode == code and len(errors) == 1 and all(f in errors[0] for f in fragments)
    return ok, (errors[0] if errors else "(no error line) " + result.stderr.strip()[-300:]), result.returncode


def write_config(cwd, name, **extra):
    config = {"job": name, "output_dir": "out",
              "matrices": {"count": 12, "rows": 16, "cols": 16, "kind": "smooth"},
              "stages": {"producers": 1, "compressors": 1, "writers": 1}}
    config.update(extra)
    if "input" in config:
        del config["matrices"]
    path = os.path.join(cwd, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    return name + ".json"


def status_of(master):
    with h5py.File(master, "r") as f:
        status = f.attrs["status"]
        return (status.decode() if isinstance(status, bytes) else str(status)), f["data"].shape[0]


def wait_until(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def victim(cwd, name="victim.txt"):
    path = os.path.join(cwd, name)
    with open(path, "w") as f:
        f.write("precious\n")
    return path


def intact(path):
    with open(path) as f:
        return f.read() == "precious\n"


def planted_links(shmjob, tmp):
    for what, link_name, fragment in [("master", "j.h5", "j.h5 is a symbolic link"),
                                      ("metrics log", "j.metrics.jsonl", "j.metrics.jsonl is a symbolic link"),
                                      ("shard", "j.shard-00000.h5", "j.shard-00000.h5 is a symbolic link"),
                                      ("lock", "j.lock", "j.lock is a symbolic link")]:
        cwd = tempfile.mkdtemp(dir=tmp)
        os.makedirs(os.path.join(cwd, "out"))
        target = victim(cwd)
        os.symlink(target, os.path.join(cwd, "out", link_name))
        for flags in ([], ["--resume"]):
            r = run(shmjob, [write_config(cwd, "j", overwrite=not flags)] + flags, cwd)
            ok, line, code = refused(r, [fragment])
            check(ok, f"link planted as the {what}{' (--resume)' if flags else ' (overwrite)'}: exit {code}: {line}")
            check(intact(target), f"link planted as the {what}: its target is unchanged")
    # A link planted at the old temporary name of the master: the master never uses it now.
    cwd = tempfile.mkdtemp(dir=tmp)
    os.makedirs(os.path.join(cwd, "out"))
    target = victim(cwd)
    os.symlink(target, os.path.join(cwd, "out", "j.h5.partial"))
    r = run(shmjob, [write_config(cwd, "j")], cwd)
    ok, line, code = refused(r, ["j.h5.partial is a symbolic link"])
    check(ok and intact(target), f"link planted as j.h5.partial: exit {code}: {line}")


def fifo_shard(shmjob, tmp):
    cwd = tempfile.mkdtemp(dir=tmp)
    os.makedirs(os.path.join(cwd, "out"))
    os.mkfifo(os.path.join(cwd, "out", "j.shard-00000.h5"))
    start = time.monotonic()
    try:
        r = run(shmjob, [write_config(cwd, "j"), "--resume"], cwd, timeout=60)
    except subprocess.TimeoutExpired:
        check(False, "a FIFO where a shard belongs: --resume blocked for 60 s")
        return
    ok, line, code = refused(r, ["j.shard-00000.h5 is a FIFO"])
    check(ok, f"a FIFO where a shard belongs: --resume exits {code} in {time.monotonic() - start:.1f} s: {line}")


def stale_private_dirs(shmjob, tmp):
    """A run killed while it wrote its master leaves `.j.h5.shmjob-XXXXXX` (mode 0700) behind: the
    next run of job j removes exactly those, never a look-alike, another user's or a link."""
    cwd = tempfile.mkdtemp(dir=tmp)
    out = os.path.join(cwd, "out")
    os.makedirs(out)
    stale = os.path.join(out, ".j.h5.shmjob-a1B2c3")
    os.mkdir(stale, 0o700)
    with open(os.path.join(stale, "j.h5"), "wb") as f:
        f.write(b"half a master")
    keep = {name: os.path.join(out, name) for name in
            (".j.h5.shmjob-a1B2c", ".k.h5.shmjob-a1B2c3", ".j.h5.shmjob-other1", ".j.h5.shmjob-link00")}
    for name, path in keep.items():
        if name.endswith("link00"):
            target = tempfile.mkdtemp(dir=tmp)
            open(os.path.join(target, "precious"), "w").close()
            os.symlink(target, path)
        else:
            os.mkdir(path, 0o700)
            open(os.path.join(path, "precious"), "w").close()
    os.chown(keep[".j.h5.shmjob-other1"], 65534, 65534)
    r = run(shmjob, [write_config(cwd, "j")], cwd)
    check(r.returncode == 0 and not os.path.exists(stale),
          f"a killed run's private directory is removed by the next run: exit {r.returncode} {error_lines(r)[:1]}")
    check(all(os.path.exists(os.path.join(p, "precious")) for p in keep.values()),
          "look-alikes, another user's directory and a link to a directory are kept (with their contents)")
    leftovers = sorted(n for n in os.listdir(out) if n.startswith(".") and n not in keep)
    check(not leftovers, f"the run leaves no private directory of its own: {leftovers}")


def name_clashes(shmjob, tmp):
    cwd = tempfile.mkdtemp(dir=tmp)
    os.makedirs(os.path.join(cwd, "data"))
    source = os.path.join(cwd, "data", "run.h5")
    with h5py.File(source, "w") as f:
        f["data"] = np.arange(3 * 4 * 4, dtype=np.float64).reshape(3, 4, 4)
    size = os.path.getsize(source)
    for flags in ([], ["--overwrite"]):
        r = run(shmjob, ["ingest", "data/run.h5", "--out", "data"] + flags, cwd)
        ok, line, code = refused(r, ["data/run.h5", "which this job reads"])
        check(ok and os.path.getsize(source) == size,
              f"ingest whose master would be its input {flags}: exit {code}, input kept: {line}")
    for label, metrics in [("an input", os.path.join(cwd, "data", "run.h5")),
                           ("the config file", os.path.join(cwd, "m.json")),
                           ("the master", "m.h5"), ("a shard", "m.shard-00000.h5"), ("the lock", "m.lock")]:
        config = write_config(cwd, "m", output_dir="out_m", overwrite=True,
                              input={"files": ["data/run.h5"]}, metrics={"path": metrics})
        config_text = open(os.path.join(cwd, config)).read()
        r = run(shmjob, [config], cwd)
        ok, line, code = refused(r, [])
        kept = os.path.getsize(source) == size and open(os.path.join(cwd, config)).read() == config_text
        check(ok and kept and ("metrics" in line), f"metrics.path naming {label}: exit {code}, nothing lost: {line}")


def overwrite_exact(shmjob, tmp):
    cwd = tempfile.mkdtemp(dir=tmp)
    out = os.path.join(cwd, "out")
    r1 = run(shmjob, [write_config(cwd, "run.shard-v2")], cwd)
    r2 = run(shmjob, [write_config(cwd, "run")], cwd)
    check(r1.returncode == 0 and r2.returncode == 0, f"two jobs in one directory run ({r1.returncode}, {r2.returncode})")
    notes = victim(out, "run.shard-notes.h5")
    before = sorted(os.listdir(out))
    check("run.metrics.jsonl" in before and "run.shard-v2.metrics.jsonl" in before,
          f"each job has its own metrics log: {[n for n in before if 'metrics' in n]}")
    r3 = run(shmjob, [write_config(cwd, "run", overwrite=True)], cwd)
    after = sorted(os.listdir(out))
    check(r3.returncode == 0 and intact(notes) and sorted(after) == sorted(before),
          f"overwrite of job run keeps run.shard-notes.h5 and job run.shard-v2's files: {after}")
    check(status_of(os.path.join(out, "run.shard-v2.h5")) == ("complete", 12),
          "job run.shard-v2's master still reads after job run was overwritten")


def job_lock(shmjob, tmp):
    cwd = tempfile.mkdtemp(dir=tmp)
    config = write_config(cwd, "slow", overwrite=True, testing={"writer_delay_ms": 400},
                          matrices={"count": 12, "rows": 16, "cols": 16, "kind": "smooth"})
    first = subprocess.Popen(["mpirun", "-n", str(RANKS), shmjob, config], cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = os.path.join(cwd, "out", "slow.lock")
    wait_until(lambda: os.path.exists(lock))
    for label, args in [("a second run", [config]), ("--resume", [config, "--resume"])]:
        r = run(shmjob, args, cwd)
        ok, line, code = refused(r, ['job "slow" is running (pid ', ", host "])
        check(ok, f"{label} of a running job: exit {code}: {line}")
    out, err = first.communicate(timeout=120)
    check(first.returncode == 0, f"the running job completes unharmed (exit {first.returncode}) {err.strip()[-200:]}")
    check(status_of(os.path.join(cwd, "out", "slow.h5")) == ("complete", 12), "its master is complete with 12 matrices")
    check(not os.path.exists(lock), "the lock file is gone after the job")
    # What a killed job leaves: the lock file naming it, with no lock held (the kernel drops an
    # flock with its holder). Killing a real job here would leave Open MPI's segments in
    # /dev/shm, which other tests running meanwhile count.
    with open(lock, "w") as f:
        f.write("pid 4194303, host gone\n")
    r = run(shmjob, [write_config(cwd, "slow", overwrite=True)], cwd)
    check(r.returncode == 0, f"the next run takes a dead job's lock over (exit {r.returncode}) {error_lines(r)}")
    check(not os.path.exists(lock), "and removes it when it ends")


def control_characters(shmjob, tmp):
    cwd = tempfile.mkdtemp(dir=tmp)
    name = "evil\nshmjob: job \"x\" complete\x1b[31m\r\x07.h5"
    with h5py.File(os.path.join(cwd, "good.h5"), "w") as f:
        f["data"] = np.zeros((2, 3, 3))
    os.rename(os.path.join(cwd, "good.h5"), os.path.join(cwd, name))
    for args, label in [(["ingest", name, "--out", "o1", "--dataset", "/nope"], "a file name"),
                        (["ingest", name, "--out", "o2\nforged", "--dataset", "/no\npe\x1b"], "a dataset name")]:
        r = run(shmjob, args, cwd)
        text = r.stdout + r.stderr
        errors = error_lines(r)
        forged = any(l.startswith("shmjob: job") for l in text.splitlines())
        check(r.returncode == 2 and len(errors) == 1 and "\x1b" not in text and "\x07" not in text and
              "\r" not in text and not forged, f"control characters in {label}: one line: {errors[:1]}")


def reader_loop(shmjob, tmp):
    cwd = tempfile.mkdtemp(dir=tmp)
    # Thousands of small chunks: the writer's metadata cache passes its limit and it closes and
    # reopens the shard after flushes, the moment a reader's lock used to fail it.
    config = write_config(cwd, "busy", matrices={"count": 40000, "rows": 4, "cols": 4, "kind": "poisson"},
                          flush={"every_matrices": 1000})
    shard = os.path.join(cwd, "out", "busy.shard-00000.h5")
    stop = threading.Event()
    opened = [0, 0]  # opens that worked, that failed (a reader may see a half-flushed file)

    def loop():
        while not stop.is_set():
            try:
                with h5py.File(shard, "r") as f:  # held most of the time, as a monitor would
                    f.attrs.get("config")
                    time.sleep(0.1)
                opened[0] += 1
            except OSError:
                opened[1] += 1
            time.sleep(0.002)
    reader = threading.Thread(target=loop)
    reader.start()
    try:
        r = run(shmjob, [config, "--quiet"], cwd, timeout=300)
    finally:
        stop.set()
        reader.join()
    check(r.returncode == 0 and opened[0] > 0,
          f"a reader opening the shard {opened[0]} times during the run: the job exits {r.returncode} "
          f"{error_lines(r)[:1]}")
    v = subprocess.run([shmjob, "verify", os.path.join(cwd, "out")], capture_output=True, text=True)
    check(v.returncode == 0, f"the output of the run read meanwhile verifies: {v.stdout.strip()[-200:]}")


def written_so_far(log):
    best = 0
    try:
        with open(log) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("type") == "sample":
                    best = max(best, record.get("written", 0))
    except OSError:
        pass
    return best


def changed_inputs(shmjob, tmp):
    """An input cut short or rewritten while the job reads it: exit 3 naming the file, never a
    complete master holding zeros (HDF5 reads past the end of a contiguous dataset as zeros)."""
    for how in ("truncated", "touched"):
        cwd = tempfile.mkdtemp(dir=tmp)
        source = os.path.join(cwd, "frames.h5")
        with h5py.File(source, "w") as f:
            f["data"] = np.arange(120 * 64 * 64, dtype=np.float64).reshape(120, 64, 64) + 1.0
        config = write_config(cwd, "cut", input={"files": ["frames.h5"]}, testing={"writer_delay_ms": 60},
                              slots={"per_producer": 2, "per_compressor": 2}, metrics={"interval_s": 0.1})
        job = subprocess.Popen(["mpirun", "-n", str(RANKS), shmjob, config], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, errors="replace")
        log = os.path.join(cwd, "out", "cut.metrics.jsonl")
        wait_until(lambda: written_so_far(log) >= 3)
        if how == "truncated":
            os.truncate(source, os.path.getsize(source) // 2)
        else:  # same bytes, same size, a new modification time: rewritten in place
            os.utime(source, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
        out, err = job.communicate(timeout=120)
        errors = [l for l in (out + err).splitlines() if l.startswith("shmjob: error:")]
        check(job.returncode == 3 and len(errors) == 1 and "frames.h5:/data[" in errors[0] and
              ("changed since the input was scanned" in errors[0] or "modified since" in errors[0]),
              f"input {how} mid-run: exit {job.returncode}: {errors[:1]}")
        check(not os.path.exists(os.path.join(cwd, "out", "cut.h5")), f"input {how} mid-run: no master written")


def damaged_shard(shmjob, tmp):
    """A shard whose header was damaged: --resume reports it as damaged and writes its matrices
    again; verify reports it in one line, no HDF5 error stack."""
    cwd = tempfile.mkdtemp(dir=tmp)
    config = write_config(cwd, "dmg", stages={"producers": 1, "compressors": 1, "writers": 2})
    r = run(shmjob, [config], cwd, ranks=4)
    out = os.path.join(cwd, "out")
    shard = os.path.join(out, "dmg.shard-00001.h5")
    with h5py.File(shard, "r") as f:
        address = h5py.h5o.get_info(f.id).addr  # the root group's object header (its attributes)
    with open(shard, "r+b") as f:
        f.seek(address + 16)
        f.write(b"\xa5" * 64)
    v = subprocess.run([shmjob, "verify", out], capture_output=True, text=True)
    text = v.stdout + v.stderr
    check(r.returncode == 0 and v.returncode != 0 and "HDF5-DIAG" not in text and "dmg.shard-00001.h5" in text
          and len(text.splitlines()) < 40, f"verify of a damaged shard: exit {v.returncode}, "
          f"{len(text.splitlines())} lines: {text.strip().splitlines()[-1:]}")
    os.remove(os.path.join(out, "dmg.h5"))  # as if the job had died before its master
    r = run(shmjob, [config, "--resume"], cwd, ranks=4)
    text = r.stdout + r.stderr
    check(r.returncode == 0 and "does not record the config" not in text and "HDF5-DIAG" not in text,
          f"--resume past a damaged shard: exit {r.returncode}: {error_lines(r)[:1]}")
    v = subprocess.run([shmjob, "verify", os.path.join(out, "dmg.h5")], capture_output=True, text=True)
    check(v.returncode == 0, f"the resumed output verifies: {v.stdout.strip()[-200:]}")


def deep_groups(shmjob, tmp):
    """--recursive over groups nested far deeper than any real layout: refused in one line (the
    walk is a bounded stack; 40,000 levels used to crash the scan after a minute and 2.7 GB);
    500 levels are read."""
    for levels, refuse in ((5000, True), (500, False)):
        cwd = tempfile.mkdtemp(dir=tmp)
        with h5py.File(os.path.join(cwd, "deep.h5"), "w") as f:
            group = f.create_group("g")
            for _ in range(levels):
                group = group.create_group("g")
            group["m"] = np.zeros((2, 2))
        start = time.monotonic()
        r = run(shmjob, ["ingest", "deep.h5", "--dataset", "/g", "--recursive", "--out", "out"], cwd)
        took = time.monotonic() - start
        if refuse:
            ok, line, code = refused(r, ["deep.h5:/g/g/g", "groups nested more than 1024 levels deep"])
            check(ok, f"{levels} nested groups with --recursive: exit {code} in {took:.1f} s: {line[:120]}")
        else:
            check(r.returncode == 0, f"{levels} nested groups with --recursive: exit {r.returncode} {error_lines(r)[:1]}")


def huge_count(shmjob, tmp):
    """matrices.count 2^40 (the documented maximum) on a node without the memory for the
    writers' bookkeeping: exit 2 with the figures before anything is allocated or written."""
    cwd = tempfile.mkdtemp(dir=tmp)
    config = write_config(cwd, "huge", matrices={"count": 2 ** 40, "rows": 2, "cols": 2})
    r = run(shmjob, [config], cwd)
    ok, line, code = refused(r, ["matrices: the writers' record", "GiB of memory", "MemAvailable"])
    check(ok and not os.path.exists(os.path.join(cwd, "out")), f"matrices.count 2^40: exit {code}: {line}")


def start_and_find_rank(shmjob, cwd, config, job_name, pick, written=5, ranks=RANKS):
    """Starts the job; once `written` matrices are written, returns (the mpirun process, the
    world rank `pick(plan ranks)` chooses, its pid)."""
    job = subprocess.Popen(["mpirun", "-n", str(ranks), shmjob, config], cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, errors="replace")
    log = os.path.join(cwd, "out", job_name + ".metrics.jsonl")
    wait_until(lambda: written_so_far(log) >= written)
    with open(log) as f:
        start = json.loads(f.readline())
    rank = pick(start["plan"]["ranks"])
    return job, rank, rank_pids(job.pid)[rank]


def start_and_find_writer(shmjob, cwd, config, job_name, written=5):
    return start_and_find_rank(shmjob, cwd, config, job_name,
                               lambda ranks: next(r["rank"] for r in ranks if r["role"] == "writer"), written)


def stall_events(log):
    with open(log) as f:
        return [e for e in map(json.loads, f) if e.get("type") == "event" and e.get("kind") == "stall"]


def stopped_writer(shmjob, tmp):
    """A writer stopped (SIGSTOP) with matrices in its inbox: the watchdog names it on stderr and
    in the log after watchdog.stall_s; once it continues the job completes and says it moved."""
    cwd = tempfile.mkdtemp(dir=tmp)
    config = write_config(cwd, "stall", matrices={"count": 60, "rows": 64, "cols": 64, "kind": "smooth"},
                          watchdog={"stall_s": 1.5}, metrics={"interval_s": 0.2},
                          testing={"writer_delay_ms": 20})
    log = os.path.join(cwd, "out", "stall.metrics.jsonl")
    job, writer, pid = start_and_find_writer(shmjob, cwd, config, "stall")
    os.kill(pid, signal.SIGSTOP)
    time.sleep(4)
    os.kill(pid, signal.SIGCONT)
    out, err = job.communicate(timeout=120)
    warnings = [l for l in err.splitlines() if l.startswith("shmjob: warning:") and "watchdog.stall_s" in l]
    check(job.returncode == 0 and len(warnings) == 1 and f"rank {writer} (writer 0) has written nothing" in warnings[0],
          f"a stopped writer is named after watchdog.stall_s: exit {job.returncode}, {warnings}")
    events = stall_events(log)
    check([e["level"] for e in events] == ["warning", "info"] and events[0]["rank"] == writer,
          f"the stall and the recovery are events in the log: {[e['message'][:60] for e in events]}")


def stopped_producer(shmjob, tmp):
    """A producer stopped while its raw slots are free is named like a stopped writer."""
    cwd = tempfile.mkdtemp(dir=tmp)
    config = write_config(cwd, "slow", matrices={"count": 2000, "rows": 64, "cols": 64, "kind": "smooth"},
                          stages={"producers": 2, "compressors": 1, "writers": 1},
                          watchdog={"stall_s": 1.5}, metrics={"interval_s": 0.2}, testing={"writer_delay_ms": 5})
    job, producer, pid = start_and_find_rank(
        shmjob, cwd, config, "slow", lambda ranks: [r["rank"] for r in ranks if r["role"] == "producer"][-1], ranks=4)
    os.kill(pid, signal.SIGSTOP)
    time.sleep(4)
    os.kill(pid, signal.SIGCONT)
    out, err = job.communicate(timeout=120)
    warnings = [l for l in err.splitlines() if l.startswith("shmjob: warning:") and f"rank {producer} (" in l]
    check(job.returncode == 0 and len(warnings) == 1 and "has produced nothing for" in warnings[0] and
          "of its raw slots are free" in warnings[0],
          f"a stopped producer is named after watchdog.stall_s: exit {job.returncode}, {warnings}")


def stopped_sampler(shmjob, tmp):
    """Rank 0 stopped: its sampler (and the watchdog in it) stops too, so node rank 1 names it;
    the warning and the recovery reach stderr and the log (appended by rank 1, no torn line)."""
    cwd = tempfile.mkdtemp(dir=tmp)
    config = write_config(cwd, "root", matrices={"count": 400, "rows": 64, "cols": 64, "kind": "smooth"},
                          watchdog={"stall_s": 1.5}, metrics={"interval_s": 0.2},
                          testing={"writer_delay_ms": 20})
    job, rank, pid = start_and_find_rank(shmjob, cwd, config, "root", lambda ranks: 0)
    os.kill(pid, signal.SIGSTOP)
    time.sleep(4)
    os.kill(pid, signal.SIGCONT)
    out, err = job.communicate(timeout=120)
    warnings = [l for l in err.splitlines() if l.startswith("shmjob: warning:") and "which samples node 0" in l]
    check(job.returncode == 0 and len(warnings) == 1 and "rank 0 (" in warnings[0] and "has not run for" in warnings[0],
          f"a stopped rank 0 is named by rank 1 after watchdog.stall_s: exit {job.returncode}, {warnings}")
    events = [e for e in stall_events(os.path.join(cwd, "out", "root.metrics.jsonl")) if e["rank"] == 0]
    check([e["level"] for e in events] == ["warning", "info"],
          f"the stall and the recovery are in the log, every line whole: {[e['message'][:70] for e in events]}")


def aborted_sampler_stall(shmjob, tmp):
    """watchdog.abort_s with rank 0 stopped for good: rank 1 ends the job (exit 3, one error line
    naming rank 0), nothing is left in /dev/shm or running, and --resume finishes the job."""
    cwd = tempfile.mkdtemp(dir=tmp)
    config = write_config(cwd, "gone", matrices={"count": 400, "rows": 64, "cols": 64, "kind": "smooth"},
                          watchdog={"stall_s": 1, "abort_s": 2.5}, metrics={"interval_s": 0.2},
                          flush={"every_matrices": 2}, testing={"writer_delay_ms": 20})
    before = set(os.listdir("/dev/shm"))
    job, rank, pid = start_and_find_rank(shmjob, cwd, config, "gone", lambda ranks: 0)
    os.kill(pid, signal.SIGSTOP)
    out, err = job.communicate(timeout=120)
    errors = [l for l in err.splitlines() if l.startswith("shmjob: error:")]
    check(job.returncode == 3 and len(errors) == 1 and "rank 0 (" in errors[0] and "has not run for" in errors[0] and
          "watchdog.abort_s" in errors[0] and not os.path.exists(os.path.join(cwd, "out", "gone.h5")),
          f"rank 0 stopped for good ends the job after watchdog.abort_s: exit {job.returncode}, {errors}")
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 30)
    check(not os.path.exists(f"/proc/{pid}"), "the stopped rank 0 does not outlive the job")
    wait_until(lambda: not (set(os.listdir("/dev/shm")) - before), 30)
    check(not (set(os.listdir("/dev/shm")) - before), f"nothing of it is left in /dev/shm: "
          f"{sorted(set(os.listdir('/dev/shm')) - before)}")
    r = run(shmjob, [config, "--resume"], cwd)
    check(r.returncode == 0 and status_of(os.path.join(cwd, "out", "gone.h5")) == ("complete", 400),
          f"--resume finishes it: exit {r.returncode} {error_lines(r)[:1]}")


def sparse_input(shmjob, tmp):
    """A few KB declaring 10^7 matrices (nothing written: every chunk reads as the fill value):
    accepted, as HDF5 allows it, but a note says so before the job starts."""
    cwd = tempfile.mkdtemp(dir=tmp)
    with h5py.File(os.path.join(cwd, "sparse.h5"), "w") as f:
        f.create_dataset("data", shape=(10 ** 7, 8, 8), chunks=(1, 8, 8), dtype="f8")
    config = write_config(cwd, "sparse", input={"files": ["sparse.h5"]})
    r = subprocess.run([shmjob, "--plan", "--ranks", "3", config], cwd=cwd, capture_output=True, text=True,
                       timeout=120)
    notes = [l for l in r.stderr.splitlines() if l.startswith("shmjob: note:")]
    check(r.returncode == 0 and len(notes) == 1 and "sparse.h5:/data declares 10000000 matrices" in notes[0] and
          "read as the fill value" in notes[0], f"a sparse input ({os.path.getsize(os.path.join(cwd, 'sparse.h5'))} "
          f"bytes): exit {r.returncode}, {notes}")


def aborted_stall(shmjob, tmp):
    """watchdog.abort_s: a writer stopped for good ends the job with exit 3 and one error line
    naming it, no master; --resume then finishes the job."""
    cwd = tempfile.mkdtemp(dir=tmp)
    config = write_config(cwd, "hung", matrices={"count": 40, "rows": 64, "cols": 64, "kind": "smooth"},
                          watchdog={"stall_s": 1, "abort_s": 2.5}, metrics={"interval_s": 0.2},
                          flush={"every_matrices": 2}, testing={"writer_delay_ms": 20})
    before = set(os.listdir("/dev/shm"))
    job, writer, pid = start_and_find_writer(shmjob, cwd, config, "hung")
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    out, err = job.communicate(timeout=120)
    errors = [l for l in err.splitlines() if l.startswith("shmjob: error:")]
    check(job.returncode == 3 and len(errors) == 1 and f"rank {writer} (writer 0)" in errors[0] and
          "watchdog.abort_s" in errors[0] and not os.path.exists(os.path.join(cwd, "out", "hung.h5")),
          f"a writer stopped for good ends the job after watchdog.abort_s: exit {job.returncode} "
          f"after {time.monotonic() - started:.1f} s, {errors}")
    wait_until(lambda: not (set(os.listdir("/dev/shm")) - before), 30)
    check(not (set(os.listdir("/dev/shm")) - before), f"nothing of it is left in /dev/shm: "
          f"{sorted(set(os.listdir('/dev/shm')) - before)}")
    r = run(shmjob, [config, "--resume"], cwd)
    check(r.returncode == 0 and status_of(os.path.join(cwd, "out", "hung.h5")) == ("complete", 40),
          f"--resume finishes it: exit {r.returncode} {error_lines(r)[:1]}")


def main():
    shmjob = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="shmjob-trust-") as tmp:
        for case in (planted_links, fifo_shard, stale_private_dirs, name_clashes, overwrite_exact, job_lock, control_characters,
                     reader_loop, changed_inputs, damaged_shard, deep_groups, huge_count,
                     stopped_writer, aborted_stall, stopped_producer, stopped_sampler, aborted_sampler_stall,
                     sparse_input):
            if len(sys.argv) > 2 and case.__name__ not in sys.argv[2:]:
                continue  # trust_test.py SHMJOB CASE...: only those cases
            print(f"--- {case.__name__}", flush=True)
            try:
                case(shmjob, tmp)
            except (subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
                check(False, f"{case.__name__}: {type(e).__name__}: {e}")
    print(f"{len(passed)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
