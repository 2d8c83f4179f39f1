"""scripts/fuzz_triage.py, which lets the fuzzing step of CI tell a crash inside HDF5 itself
(upstream: Debian's HDF5 1.10 crashes on some corrupt files, h5dump too) from a bug of shmjob's.

Usage: /usr/bin/python3 fuzz_triage_test.py <repo root>

The reports in tests/fuzz/triage/ are real ones (paths shortened): hdf5-* must come out upstream
(exit 0), ours-* as shmjob's (exit 1). Edited copies check each rule from the other side: the
same SEGV with a shmjob frame innermost is ours; the same overflow into memory HDF5 allocated is
upstream; a UBSan report or a harness BUG line is always ours.
"""
import os
import subprocess
import sys
import tempfile


def triage(script, text):
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
        f.write(text)
    try:
        r = subprocess.run(["/usr/bin/python3", script, f.name], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(f.name)
    return r.returncode, r.stdout.strip()


def main():
    root = sys.argv[1]
    script = os.path.join(root, "scripts", "fuzz_triage.py")
    reports = os.path.join(root, "tests", "fuzz", "triage")
    failures = []

    def expect(name, text, upstream):
        rc, said = triage(script, text)
        ok = rc == (0 if upstream else 1) and said.startswith("upstream HDF5:" if upstream else "shmjob:")
        print(f"{'ok ' if ok else 'BAD'} {name}: exit {rc}: {said[:160]}")
        if not ok:
            failures.append(name)

    texts = {}
    for name in sorted(os.listdir(reports)):
        with open(os.path.join(reports, name)) as f:
            texts[name] = f.read()
        expect(name, texts[name], name.startswith("hdf5-"))
    if len(texts) < 3:
        failures.append("fewer than 3 reports")

    segv = texts["hdf5-segv-local-heap.log"]
    # The innermost HDF5 frame replaced by a frame of shmjob's: a crash in our code.
    lines = segv.splitlines()
    i = next(k for k, l in enumerate(lines) if "H5F__accum_read" in l)
    lines[i] = "    #2 0x55d7623a55b5 in shmjob::h5::something() /src/shmjob/src/h5/something.cpp:34:7"
    expect("segv with a shmjob frame innermost", "\n".join(lines), False)
    overflow = texts["ours-heap-overflow-into-shmjob-buffer.log"]
    head, allocated = overflow.split("allocated by thread", 1)
    hdf5_owned = allocated.replace("shmjob::ChunkSizeCheck::decode_stored", "H5FL_blk_malloc", 1).replace(
        "/src/shmjob/src/input/chunk_size_check.cpp", "(/lib/x86_64-linux-gnu/libhdf5_serial.so.103+0x1f7292)", 1)
    hdf5_owned = "\n".join(l for l in hdf5_owned.splitlines() if "std::vector" not in l)
    expect("overflow of memory HDF5 allocated", head + "allocated by thread" + hdf5_owned, True)
    expect("UBSan report", segv + "\n/src/shmjob/src/x.cpp:3:5: runtime error: signed integer overflow\n", False)
    expect("harness BUG line", "fuzz: BUG: catalog serialisation round trip: /tmp/x\n" + segv, False)
    expect("no report", "INFO: Running with entropic power schedule\n", False)

    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)
    print("fuzz triage: all cases as expected")


if __name__ == "__main__":
    main()
