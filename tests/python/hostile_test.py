#!/usr/bin/env python3
"""Hostile configs and inputs (issue 7): the catalogue in tests/hostile/catalogue.py. Each case
is run as `shmjob ...` in a single process where it can be (the same parse/scan code path as under mpirun, much
faster), and the cases marked ranks=N again under `mpirun -n N` to show every rank agrees. Each
run must exit with the case's code (2: bad config or input), print exactly one line on stderr,
`shmjob: error: ...`, containing every expected fragment, print nothing on stdout, write
nothing (no new file or directory anywhere under the case's directory; for failures found
while the job runs: no master file), and leave nothing in /dev/shm. mpirun's own boxed notice
about a non-zero exit is not counted. Cases that must work (paths with spaces, symlinks followed) exit 0 instead.

usage: hostile_test.py SHMJOB
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))
from catalogue import CASES  # noqa: E402
from helpers.shm_check import leftover_entries, shm_entries  # noqa: E402


def snapshot(root):
    found = set()
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            found.add(os.path.join(dirpath, name))
    return found


def without_mpirun_notice(lines):
    """mpirun's own boxed notice ("Primary job terminated normally, but 1 process returned a
    non-zero exit code...") between lines of dashes: not shmjob's output."""
    out, boxed = [], False
    for line in lines:
        if set(line.strip()) == {"-"}:
            boxed = not boxed
        elif not boxed:
            out.append(line)
    return out


def run_case(shmjob, case, ranks, root):
    cwd = os.path.join(root, "%s-%d" % (case.slug, ranks))
    os.makedirs(cwd)
    args = case.setup(cwd)
    before = snapshot(cwd)
    command = [shmjob] + args
    if ranks > 1:
        command = ["mpirun", "-n", str(ranks)] + command
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return ["hung: no exit within 120 s"], "(timeout)"
    stdout = result.stdout.decode("utf-8", "replace")
    stderr = result.stderr.decode("utf-8", "replace")
    lines = without_mpirun_notice([l for l in stderr.splitlines() if l.strip()])
    problems = []
    codes = case.code if isinstance(case.code, tuple) else (case.code,)
    if result.returncode not in codes:
        problems.append("exit code %d, expected %s" % (result.returncode, " or ".join(map(str, codes))))
    if case.code == 0:
        if lines and any(l.startswith("shmjob: error:") for l in lines):
            problems.append("error printed: %s" % lines)
        if case.check:
            problems += case.check(cwd)
        return problems, "(ran)"
    if len(lines) != 1 or not lines[0].startswith("shmjob: error: "):
        problems.append("stderr is not one 'shmjob: error:' line: %r" % lines[:6])
    elif not all(f in lines[0] for f in case.expect):
        problems.append("message lacks %s" % [f for f in case.expect if f not in lines[0]])
    if stdout.strip():
        problems.append("unexpected stdout: %r" % stdout.strip()[:200])
    new = snapshot(cwd) - before
    if case.code == 2 and new:
        problems.append("written: %s" % sorted(os.fsdecode(p) for p in new)[:5])
    masters = [os.fsdecode(p) for p in new if p.endswith(b".h5") and b".shard-" not in p]
    if case.code != 2 and masters:
        problems.append("master file written: %s" % masters)
    return problems, lines[0] if lines else "(no error line)"


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    shmjob = os.path.abspath(sys.argv[1])
    before = shm_entries()
    failed, runs = [], 0
    with tempfile.TemporaryDirectory(prefix="shmjob-hostile-") as root:
        for case in CASES:
            for ranks in ([1] if case.single else []) + ([case.ranks] if case.ranks > 1 else []):
                runs += 1
                problems, shown = run_case(shmjob, case, ranks, root)
                label = "%s%s" % (case.name, "" if ranks == 1 else " [mpirun -n %d]" % ranks)
                if problems:
                    failed.append(label)
                    print("FAIL %-52s %s\n       %s" % (label, "; ".join(problems), shown), flush=True)
                else:
                    print("ok   %-52s %s" % (label, shown), flush=True)
    left = leftover_entries(before)
    if left:
        print("FAIL: left in /dev/shm: %s" % left)
        failed.append("/dev/shm")
    print("%d cases, %d runs: %d passed, %d failed" % (len(CASES), runs, runs - len(failed), len(failed)))
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
