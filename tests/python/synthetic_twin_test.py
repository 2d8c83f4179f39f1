#!/usr/bin/python3
"""The numpy twin (analysis/shmjob_synthetic.py) must be bit-identical to src/synthetic/synthetic.cpp.

usage: synthetic_twin_test.py PATH/TO/synthetic_dump

For every kind x dtype x shape x (seed, id) it runs synthetic_dump and compares its stdout with
generate_matrix(...).tobytes(); then it sanity-checks the distributions, the CLI's argument
checking and regenerate_from_config. Exits 1 with the first differing element of every mismatch.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, "..", "..", "analysis"))  # PYTHONPATH first; works without it

import numpy as np  # noqa: E402

import shmjob_synthetic as twin  # noqa: E402

SHAPES = [(1, 1), (3, 5), (17, 33), (256, 300), (0, 4)]
SEED_IDS = [  # (seed, matrix id)
    (0, 0),
    (1, 1),
    (2 ** 32 + 7, 2),
    (2 ** 63 + 5, 2 ** 32 + 7),
    (2 ** 64 - 1, 2 ** 63 + 5),
]

failures = []
checks = 0


def fail(message):
    failures.append(message)
    print("FAIL: " + message, file=sys.stderr)


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        fail(message)
    return condition


def run_dump(exe, kind, dtype, rows, cols, seed, matrix_id):
    args = [exe, kind, dtype, str(rows), str(cols), str(seed), str(matrix_id)]
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(args), proc.returncode,
                                                  proc.stderr.decode(errors="replace").strip()))
    return proc.stdout


def describe_mismatch(expected, got_bytes):
    """First differing element of the numpy matrix `expected` and the C++ bytes."""
    want = expected.tobytes()
    if len(got_bytes) != len(want):
        return "C++ wrote %d bytes, numpy has %d" % (len(got_bytes), len(want))
    got = np.frombuffer(got_bytes, dtype=expected.dtype).reshape(expected.shape)
    differ = got.view(np.uint8).reshape(expected.size, -1) != \
        expected.view(np.uint8).reshape(expected.size, -1)
    flat = np.flatnonzero(differ.any(axis=1))
    first = int(flat[0])
    r, c = divmod(first, expected.shape[1])
    return ("%d of %d elements differ; first at [%d, %d] (flat %d): C++ %r, numpy %r"
            % (flat.size, expected.size, r, c, first, got.flat[first].item(),
               expected.flat[first].item()))


def test_bit_identity(exe):
    compared = 0
    for kind in twin.KINDS:
        for dtype in twin.DTYPES:
            for rows, cols in SHAPES:
                for seed, matrix_id in SEED_IDS:
                    case = "%s %s %dx%d seed=%d id=%d" % (kind, dtype, rows, cols, seed, matrix_id)
                    expected = twin.generate_matrix(kind, dtype, rows, cols, seed, matrix_id)
                    check(expected.shape == (rows, cols) and expected.dtype == np.dtype(dtype),
                          "%s: numpy twin returned shape %s dtype %s"
                          % (case, expected.shape, expected.dtype))
                    got = run_dump(exe, kind, dtype, rows, cols, seed, matrix_id)
                    compared += 1
                    if not check(got == expected.tobytes(), "%s: mismatch" % case):
                        fail("%s: %s" % (case, describe_mismatch(expected, got)))
    return compared


def test_distributions(exe):
    gen = twin.generate_matrix
    rows, cols = 256, 300

    # random
    m = gen("random", "float64", rows, cols, 0, 0)
    check(abs(m.mean() - 0.5) < 0.01, "random float64 mean %.5f not ~0.5" % m.mean())
    check(m.min() >= 0.0 and m.max() < 1.0, "random float64 outside [0, 1)")
    m = gen("random", "float32", rows, cols, 3, 1)
    check(abs(m.mean() - 0.5) < 0.01 and m.min() >= 0.0 and m.max() < 1.0,
          "random float32 mean %.5f / range [%g, %g]" % (m.mean(), m.min(), m.max()))
    for dtype in ("int8", "uint8", "int16", "uint16"):
        m = gen("random", dtype, rows, cols, 0, 0)
        info = np.iinfo(dtype)
        mid = (float(info.min) + float(info.max)) / 2.0
        span = float(info.max) - float(info.min)
        check(abs(m.astype(np.float64).mean() - mid) < 0.01 * span,
              "random %s mean %.2f not ~%.1f" % (dtype, m.mean(), mid))
        check(m.min() <= info.min + span * 0.01 and m.max() >= info.max - span * 0.01,
              "random %s does not cover its range: [%d, %d]" % (dtype, m.min(), m.max()))
    m = gen("random", "int64", rows, cols, 0, 0)
    check((m < 0).any() and (m > 0).any(), "random int64 never has both signs")

    # smooth
    for seed, matrix_id in SEED_IDS:
        m = gen("smooth", "float64", rows, cols, seed, matrix_id)
        check(np.abs(m).max() <= 100.0, "smooth float64 outside [-100, 100]: %g" % np.abs(m).max())
        scaled = m * 1000.0
        check(np.abs(scaled - np.rint(scaled)).max() < 1e-6,
              "smooth float64 has more than 3 decimals (seed=%d id=%d)" % (seed, matrix_id))
        step = max(np.abs(np.diff(m, axis=0)).max(), np.abs(np.diff(m, axis=1)).max())
        check(step < 1.0, "smooth float64 not smooth: neighbour step %g" % step)
        m32 = gen("smooth", "float32", rows, cols, seed, matrix_id)
        check(np.array_equal(m32, m.astype(np.float32)), "smooth float32 != (float) smooth float64")
    for dtype in ("int8", "int16", "int32", "int64"):
        m = gen("smooth", dtype, rows, cols, 5, 6)
        limit = np.iinfo(dtype).max // 4 + 1
        check(np.abs(m.astype(np.float64)).max() <= limit, "smooth %s beyond max/4" % dtype)
    for dtype in ("uint8", "uint16", "uint32", "uint64"):
        m = gen("smooth", dtype, rows, cols, 5, 6)
        check(m.astype(np.float64).max() <= np.iinfo(dtype).max // 2 + 1,
              "smooth %s beyond max/2" % dtype)

    # poisson (lambda 4)
    for seed, matrix_id in SEED_IDS[:3]:
        m = gen("poisson", "float64", rows, cols, seed, matrix_id)
        check(abs(m.mean() - 4.0) < 0.2, "poisson mean %.4f not within 0.2 of 4" % m.mean())
        check(abs(m.var() - 4.0) < 0.3, "poisson variance %.4f not ~4" % m.var())
        check(m.min() >= 0 and m.max() <= 63 and np.array_equal(m, np.rint(m)),
              "poisson values not integers in [0, 63]")
    m = gen("poisson", "int8", rows, cols, 0, 0)
    check(m.min() >= 0 and abs(m.mean() - 4.0) < 0.2, "poisson int8 mean %.4f" % m.mean())

    # determinism: same (seed, id) same matrix, different id or seed different matrix
    for kind in twin.KINDS:
        a = gen(kind, "float64", 17, 33, 9, 4)
        check(np.array_equal(a, gen(kind, "float64", 17, 33, 9, 4)),
              "%s: same id gives different matrices" % kind)
        check(run_dump(exe, kind, "float64", 17, 33, 9, 4) ==
              run_dump(exe, kind, "float64", 17, 33, 9, 4),
              "%s: synthetic_dump is not deterministic" % kind)
        for other in (0, 1, 5, 2 ** 32 + 4, 2 ** 63 + 4):
            check(not np.array_equal(a, gen(kind, "float64", 17, 33, 9, other)),
                  "%s: ids 4 and %d give the same matrix" % (kind, other))
        check(not np.array_equal(a, gen(kind, "float64", 17, 33, 10, 4)),
              "%s: seeds 9 and 10 give the same matrix" % kind)


def test_cli(exe):
    bad = [
        [],
        ["smooth", "float64", "3", "5", "0"],
        ["smooth", "float64", "3", "5", "0", "0", "extra"],
        ["gaussian", "float64", "3", "5", "0", "0"],
        ["smooth", "float128", "3", "5", "0", "0"],
        ["smooth", "float64", "-3", "5", "0", "0"],
        ["smooth", "float64", "3", "4294967296", "0", "0"],
        ["smooth", "float64", "3", "5x", "0", "0"],
        ["smooth", "float64", "3", "5", "18446744073709551616", "0"],
        ["smooth", "float64", "3", "5", "0", ""],
        ["smooth", "float64", "3", "5", "0", "+1"],
    ]
    for args in bad:
        proc = subprocess.run([exe] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check(proc.returncode == 2 and b"usage:" in proc.stderr and proc.stdout == b"",
              "synthetic_dump %r: exit %d, stderr %r (want exit 2 and a usage line)"
              % (args, proc.returncode, proc.stderr[:200]))


def test_regenerate_from_config():
    gen, regen = twin.generate_matrix, twin.regenerate_from_config
    m = {"count": 3, "rows": 4, "cols": 6}
    check(np.array_equal(regen(m, 2), gen("smooth", "float64", 4, 6, 0, 2)),
          "regenerate_from_config defaults are not smooth/float64/seed 0")
    m = {"count": 10, "rows": 5, "cols": 7, "dtype": "uint16", "kind": "poisson",
         "seed": 2 ** 63 + 5}
    expected = gen("poisson", "uint16", 5, 7, 2 ** 63 + 5, 9)
    check(regen(m, 9).tobytes() == expected.tobytes(), "regenerate_from_config(matrices) differs")
    check(regen({"job": "x", "matrices": m}, 9).tobytes() == expected.tobytes(),
          "regenerate_from_config(whole config) differs")
    for matrix_id in (10, -1):
        try:
            regen(m, matrix_id)
            fail("regenerate_from_config accepted id %d with count 10" % matrix_id)
        except IndexError:
            pass


def main():
    if len(sys.argv) != 2:
        print("usage: synthetic_twin_test.py PATH/TO/synthetic_dump", file=sys.stderr)
        return 2
    exe = sys.argv[1]
    start = time.perf_counter()
    compared, t_identity, identity_checks = -1, float("nan"), 0
    try:
        compared = test_bit_identity(exe)
        t_identity = time.perf_counter() - start
        identity_checks = checks
        test_distributions(exe)
        test_cli(exe)
        test_regenerate_from_config()
    except Exception as error:  # a crash of the tool or the twin is a failure, not a traceback
        import traceback
        traceback.print_exc()
        fail("%s: %s" % (type(error).__name__, error))

    t0 = time.perf_counter()
    twin.generate_matrix("poisson", "float64", 1000, 1000, 1, 1)
    t_poisson = time.perf_counter() - t0
    elapsed = time.perf_counter() - start
    print("synthetic numpy twin: %d matrices compared byte for byte (%d kinds x %d dtypes x "
          "%d shapes x %d seed/id pairs) in %.2f s; %d further checks; numpy 1000x1000 poisson "
          "%.2f s; total %.2f s" % (compared, len(twin.KINDS), len(twin.DTYPES), len(SHAPES),
                                     len(SEED_IDS), t_identity, checks - identity_checks,
                                     t_poisson, elapsed))
    if failures:
        print("%d FAILURE(S); first: %s" % (len(failures), failures[0]), file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
