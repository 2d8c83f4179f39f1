#!/usr/bin/env python3
"""Bad configs and output paths: each run under mpirun with 4 ranks must exit 2 on every rank,
print exactly one 'shmjob: error:' line naming the key and the problem, create no output
directory or file, and leave nothing in /dev/shm.

usage: bad_config_test.py SHMJOB
"""
import json
import os
import subprocess
import sys
import tempfile

from helpers.shm_check import leftover_entries, shm_entries

RANKS = 4
GOOD = {"job": "bad", "matrices": {"count": 10, "rows": 10, "cols": 10}}


def with_changes(*path_values):
    config = json.loads(json.dumps(GOOD))
    for path, value in path_values:
        node = config
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return config


DELETE = object()

# (name, config or raw text, expected message fragments)
CASES = [
    ("unknown top-level key", with_changes(("colour", "blue")), ['unknown key "colour"']),
    ("unknown nested key", with_changes(("matrices.colz", 3)), ['"matrices.colz"']),
    ("string for integer", with_changes(("matrices.rows", "abc")), ["matrices.rows", "integer"]),
    ("float for integer", with_changes(("matrices.count", 2.5)), ["matrices.count"]),
    ("negative count", with_changes(("matrices.count", -1)), ["matrices.count"]),
    ("zero count", with_changes(("matrices.count", 0)), ["matrices.count"]),
    ("missing count", with_changes(("matrices.count", DELETE)), ["matrices", '"count"', "missing"]),
    ("zero writers", with_changes(("stages.writers", 0)), ["stages.writers", "at least 1"]),
    ("more stage ranks than ranks",
     with_changes(("stages.producers", 2), ("stages.compressors", 2), ("stages.writers", 1)),
     ["stages", "5", f"{RANKS} ranks"]),
    ("matrix larger than a slot", with_changes(("slots.slot_bytes", 100)), ["slots.slot_bytes", "800"]),
    ("unknown dtype", with_changes(("matrices.dtype", "complex128")), ["matrices.dtype", "complex128"]),
    ("unknown kind", with_changes(("matrices.kind", "gaussian")), ["matrices.kind", "gaussian"]),
    ("level out of range", with_changes(("compression.level", 30)), ["compression.level", "30"]),
    ("shuffle not a bool", with_changes(("compression.shuffle", "yes")), ["compression.shuffle"]),
    ("tile larger than the matrix", with_changes(("compression.chunk", [100000, 1])), ["compression.chunk", "larger"]),
    ("zero interval", with_changes(("metrics.interval_s", 0)), ["metrics.interval_s"]),
    ("memory budget too small",
     with_changes(("matrices.rows", 2000), ("matrices.cols", 2000), ("slots.memory_budget_mb", 1)),
     ["slots.memory_budget_mb"]),
    ("job name with a slash", with_changes(("job", "a/b")), ["job"]),
    ("top level not an object", [1, 2, 3], ["object"]),
    ("invalid JSON", '{"job": "bad", "matrices": {', ["not valid JSON"]),
]


def run(shmjob, config_path):
    return subprocess.run(["mpirun", "-n", str(RANKS), shmjob, config_path],
                          capture_output=True, text=True, timeout=120)


def check(name, result, fragments, out_dir, failures, expect_no_dir=True, code=2):
    errors = [l for l in (result.stdout + result.stderr).splitlines() if l.startswith("shmjob: error:")]
    problems = []
    if result.returncode != code:
        problems.append(f"exit code {result.returncode}, expected {code}")
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines, expected 1: {errors}")
    elif not all(f in errors[0] for f in fragments):
        problems.append(f"message {errors[0]!r} lacks one of {fragments}")
    if expect_no_dir and os.path.exists(out_dir):
        problems.append(f"{out_dir} was created")
    if result.stdout.strip():
        problems.append(f"unexpected stdout: {result.stdout.strip()!r}")
    status = "ok" if not problems else "FAIL: " + "; ".join(problems)
    print(f"{name:32s} {status}" + (f"   [{errors[0]}]" if len(errors) == 1 else ""))
    if problems:
        failures.append(name)


def main():
    shmjob = sys.argv[1]
    failures = []
    before = shm_entries()
    with tempfile.TemporaryDirectory(prefix="shmjob-bad-") as tmp:
        for i, (name, config, fragments) in enumerate(CASES):
            out_dir = os.path.join(tmp, f"out{i}")
            path = os.path.join(tmp, f"case{i}.json")
            with open(path, "w") as f:
                if isinstance(config, str):
                    f.write(config)
                else:
                    if isinstance(config, dict):
                        config["output_dir"] = out_dir
                    json.dump(config, f)
            check(name, run(shmjob, path), fragments, out_dir, failures)

        check("missing config file", run(shmjob, os.path.join(tmp, "nope.json")),
              ["cannot read", "nope.json"], os.path.join(tmp, "nope"), failures)

        # Output paths: a file where the directory should be, and an existing job.
        blocker = os.path.join(tmp, "a-file")
        open(blocker, "w").close()
        path = os.path.join(tmp, "file-as-dir.json")
        with open(path, "w") as f:
            json.dump(dict(GOOD, output_dir=blocker), f)
        # A path the job cannot use is a runtime I/O error (exit 3), not a config error.
        check("output_dir is a file", run(shmjob, path), ["output_dir", "not a directory", blocker],
              os.path.join(tmp, "unused"), failures, code=3)

        existing = os.path.join(tmp, "existing")
        os.makedirs(existing)
        open(os.path.join(existing, "bad.h5"), "w").close()
        path = os.path.join(tmp, "existing.json")
        with open(path, "w") as f:
            json.dump(dict(GOOD, output_dir=existing), f)
        check("output_dir holds the job", run(shmjob, path), ["already holds", "overwrite"],
              existing, failures, expect_no_dir=False)
        if sorted(os.listdir(existing)) != ["bad.h5"] or os.path.getsize(os.path.join(existing, "bad.h5")):
            print("FAIL: the existing job's directory was changed")
            failures.append("existing job untouched")

        bad_usage = subprocess.run([shmjob], capture_output=True, text=True)
        if bad_usage.returncode != 2:
            print(f"FAIL: shmjob without arguments exited {bad_usage.returncode}")
            failures.append("usage")

    left = leftover_entries(before)
    if left:
        print(f"FAIL: left in /dev/shm: {sorted(left)}")
        failures.append("/dev/shm")
    total = len(CASES) + 4
    print(f"{total - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
