#!/usr/bin/python3
"""The transform kernels (src/transform/) against numpy, bit for bit.

usage: transform_kernels_test.py PATH/TO/transform_twin

For every op on every input dtype (int8..uint64, float16, float32, float64), with scalar values
and operands of every broadcast shape (same, [1, cols], [rows, 1]) in assorted dtypes, casts to
every dtype with both roundings, bins, transposes, matmuls and a few chains, it runs the C++ twin
tool (tests/tools/transform_twin.cpp) on random data with NaN, +-inf, -0.0, ties and extreme
integers, and computes the same with numpy using the formulas the kernel headers document.
Elementwise results must be equal bit for bit (NaN only by position); matmul within
1e-12 * (|X| @ |P|) per element (BLAS sums in its own order). Saturation counts must be equal.
Then the reductions: the same stack of matrices split and ordered three ways must give the same
bits; min, max and count_nonzero equal numpy's exactly; the sum is within the bound reduction.hpp
states of the exact sum (math.fsum), and within n * 2^-53 * sum|x| of numpy's np.sum.
Exits 1 naming every mismatch.
"""

import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"]
BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide}
U = 2.0 ** -53

failures = []
checks = 0


def fail(message):
    failures.append(message)
    print("FAIL: " + message, file=sys.stderr)


# ---- data -------------------------------------------------------------------------------------

def random_matrix(rng, dtype, rows, cols, moderate=False, zeros=0.0, plant=True):
    """Random values of dtype with the awkward ones planted: NaN, +-inf, -0.0, halves, extremes.
    moderate: no float values near the overflow limit (for matmul, whose sums may overflow in
    another order). zeros: the share of exact zeros (for masks and count_nonzero).
    plant=False: none planted (integer extremes still occur)."""
    t = np.dtype(dtype)
    n = rows * cols
    if t.kind in "iu":
        info = np.iinfo(t)
        x = rng.integers(info.min, info.max, size=n, endpoint=True, dtype=t)
        specials = [info.min, info.max, 0, 1, info.max - 1] + ([-1, info.min + 1] if t.kind == "i" else [])
        small = rng.integers(-3 if t.kind == "i" else 0, 4, size=n).astype(t)
        x = np.where(rng.random(n) < 0.25, small, x)  # small values too, so casts do not all saturate
    else:
        exponents = rng.uniform(-3, 3 if dtype == "float16" else 6, size=n)
        x = (rng.standard_normal(n) * 10.0 ** exponents).astype(t)
        halves = (rng.integers(-600, 600, size=n) + 0.5).astype(t)  # ties for rint
        x = np.where(rng.random(n) < 0.15, halves, x)
        specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, 0.5, -0.5, 1.5, -2.5]
        if not moderate:
            specials += [np.finfo(t).max, -np.finfo(t).max, np.finfo(t).tiny / 4]
    x = np.array(x, dtype=t)
    if not plant:
        specials = []
    positions = rng.choice(n, size=min(n, len(specials) * 2), replace=False)
    for k, p in enumerate(positions):
        x[p] = t.type(specials[k % len(specials)])
    if zeros:
        x[rng.random(n) < zeros] = 0
    return x.reshape(rows, cols)


# ---- the numpy twin -----------------------------------------------------------------------------

def np_cast(x, dtype, rounding):
    """cast.hpp: the cast values and the number saturated."""
    t = np.dtype(dtype)
    if t.kind == "f":
        return x.astype(t), 0
    r = np.rint(x) if rounding == "nearest" else np.trunc(x)
    info = np.iinfo(t)
    nan = np.isnan(r)
    if t.itemsize == 8:
        top = 2.0 ** 63 if t.kind == "i" else 2.0 ** 64
        lo = -2.0 ** 63 if t.kind == "i" else 0.0
        over = r >= top
        under = r < lo
        sat = nan | over | under
        out = np.where(sat, 0, r).astype(t)
        out[over] = info.max
        out[under] = info.min
    else:
        sat = nan | (r < info.min) | (r > info.max)
        out = np.where(nan, 0, np.clip(r, info.min, info.max)).astype(t)
    return out, int(sat.sum())


def np_bin(x, k, how):
    """bin.hpp: row-major order within the block, from its first value."""
    rows, cols = x.shape
    v = x.reshape(rows // k, k, cols // k, k)
    s = v[:, 0, :, 0].copy()
    for a in range(k):
        for b in range(k):
            if (a, b) != (0, 0):
                s = s + v[:, a, :, b]
    return s / float(k * k) if how == "mean" else s


def number(v):
    return float(v)  # also "nan", "inf", "-inf", which JSON has no numbers for


def np_chain(x_in, steps, operands):
    """chain.hpp: load to float64, each step, a final cast gives the output dtype. Returns
    (result, saturated, bound): bound is the matmul's error scale |X| @ |P| when the chain has a
    matmul (then only transposes may follow it), else None."""
    x = x_in.astype(np.float64)
    saturated = 0
    bound = None
    for i, step in enumerate(steps):
        op = step["op"]
        last = i == len(steps) - 1
        if op in BINARY:
            v = operands[step["operand"]].astype(np.float64) if "operand" in step else np.float64(number(step["value"]))
            x = BINARY[op](x, v)
        elif op == "scale":
            x = x * np.float64(step.get("factor", 1.0)) + np.float64(step.get("offset", 0.0))
        elif op == "clip":
            x = np.clip(x, step.get("min"), step.get("max"))
        elif op == "threshold":
            x = np.where(x < step.get("below", 0.0), np.float64(number(step["value"])), x)
        elif op == "mask":
            x = np.where(operands[step["operand"]] != 0, np.float64(number(step["value"])), x)
        elif op == "cast":
            out, sat = np_cast(x, step["dtype"], step.get("rounding", "nearest"))
            saturated += sat
            x = out if last else out.astype(np.float64)
        elif op == "bin":
            x = np_bin(x, step["factor"], step.get("how", "sum"))
        elif op == "transpose":
            x = x.T.copy()
            bound = None if bound is None else bound.T.copy()
        elif op == "matmul":
            p = operands[step["operand"]].astype(np.float64)
            right = step.get("side", "right") == "right"
            scale = (np.abs(x) @ np.abs(p)) if right else (np.abs(p) @ np.abs(x))
            x = x @ p if right else p @ x
            bound = scale
            continue
        else:
            raise ValueError(op)
        if bound is not None and op != "transpose":
            raise ValueError("the twin compares matmul results only when nothing but transposes follow")
    return x, saturated, bound


def bits_equal(got, want):
    """Same shape and dtype, every element the same bits, NaN compared by position only."""
    if got.shape != want.shape or got.dtype != want.dtype:
        return "shape/dtype %s %s, numpy %s %s" % (got.shape, got.dtype, want.shape, want.dtype)
    if want.dtype.kind == "f":
        gn, wn = np.isnan(got), np.isnan(want)
        if not np.array_equal(gn, wn):
            i = np.flatnonzero(gn.ravel() != wn.ravel())[0]
            return "NaN positions differ, first at flat %d: C++ %r, numpy %r" % (i, got.flat[i], want.flat[i])
        ui = np.dtype("u%d" % want.dtype.itemsize)
        g, w = got.view(ui)[~wn], want.view(ui)[~wn]
    else:
        g, w = got, want
    if not np.array_equal(g, w):
        gv = got[~np.isnan(want)] if want.dtype.kind == "f" else got.ravel()
        wv = want[~np.isnan(want)] if want.dtype.kind == "f" else want.ravel()
        i = np.flatnonzero(g.ravel() != w.ravel())[0]
        return "%d elements differ; first (non-NaN index %d): C++ %r, numpy %r" % (
            int((g.ravel() != w.ravel()).sum()), i, gv.ravel()[i], wv.ravel()[i])
    return None


def close_enough(got, want, scale):
    """matmul: |got - want| <= 1e-12 * (|X| @ |P|); where that scale is not finite (inf or NaN
    inputs), the same non-finite value or the same finite value."""
    if got.shape != want.shape:
        return "shape %s, numpy %s" % (got.shape, want.shape)
    finite = np.isfinite(scale) & np.isfinite(want)
    with np.errstate(all="ignore"):
        ok_finite = np.abs(got - want) <= 1e-12 * scale
    ok_other = (np.isnan(got) & np.isnan(want)) | (got == want)
    ok = np.where(finite, ok_finite, ok_other)
    if not ok.all():
        i = np.flatnonzero(~ok.ravel())[0]
        return "%d elements off; first at flat %d: C++ %r, numpy %r (scale %r)" % (
            int((~ok).sum()), i, got.flat[i], want.flat[i], scale.flat[i])
    return None


# ---- cases ------------------------------------------------------------------------------------

class Cases:
    def __init__(self, tmp):
        self.tmp = tmp
        self.cases = []    # JSON for the tool
        self.expect = []   # (name, x, steps, operands arrays)
        self.written = {}  # id(array) -> (array, path): each array is written once

    def raw(self, array):
        if id(array) not in self.written:
            path = os.path.join(self.tmp, "m%d.raw" % len(self.written))
            np.ascontiguousarray(array).tofile(path)
            self.written[id(array)] = (array, path)
        return self.written[id(array)][1]

    def add(self, name, x, steps, operands=None):
        operands = operands or {}
        case = {"input": self.raw(x), "rows": x.shape[0], "cols": x.shape[1], "dtype": x.dtype.name,
                "steps": steps, "output": os.path.join(self.tmp, "out%d.raw" % len(self.cases)),
                "operands": {k: {"file": self.raw(v), "rows": v.shape[0], "cols": v.shape[1], "dtype": v.dtype.name}
                             for k, v in operands.items()}}
        self.cases.append(case)
        self.expect.append((name, x, steps, operands))


def build_cases(cases, rng):
    shapes = [(6, 12), (64, 96), (4, 1040)]  # bins of 2 and 3 divide 6x12; 1040 cols: several strips
    for di, dtype in enumerate(DTYPES):
        def matrix(rows, cols, **kw):
            return random_matrix(rng, dtype, rows, cols, **kw)

        def operand_dtype(k):
            return DTYPES[(di + 3 + k) % len(DTYPES)]

        for si, (rows, cols) in enumerate(shapes):
            x = matrix(rows, cols)
            tag = "%s %dx%d" % (dtype, rows, cols)
            # arithmetic: scalar, and operands of every broadcast shape in other dtypes
            for k, (op, value) in enumerate([("add", 1.5), ("subtract", -3.25), ("multiply", -0.1), ("divide", 3.0)]):
                cases.add("%s %s scalar %r" % (tag, op, value), x, [{"op": op, "value": value}])
                for b, oshape in enumerate([(rows, cols), (1, cols), (rows, 1)]):
                    od = operand_dtype(k + b + si)
                    g = random_matrix(rng, od, *oshape, zeros=0.1)
                    cases.add("%s %s operand %s %s" % (tag, op, od, oshape), x, [{"op": op, "operand": "g"}], {"g": g})
            cases.add(tag + " divide by zero", x, [{"op": "divide", "value": 0.0}])
            cases.add(tag + " scale", x, [{"op": "scale", "factor": 0.1, "offset": -7.3}])
            cases.add(tag + " clip both", x, [{"op": "clip", "min": -100.0, "max": 2.5}])
            cases.add(tag + " clip zeros", x, [{"op": "clip", "min": 0.0, "max": 0.0}])
            cases.add(tag + " clip min", x, [{"op": "clip", "min": -0.0}])
            cases.add(tag + " clip max", x, [{"op": "clip", "max": 1e3}])
            cases.add(tag + " threshold", x, [{"op": "threshold", "below": 0.5, "value": -1.0}])
            cases.add(tag + " threshold nan", x, [{"op": "threshold", "below": 1e3, "value": "nan"}])
            for b, oshape in enumerate([(rows, cols), (1, cols), (rows, 1)]):
                od = operand_dtype(b + 5 + si)
                m = random_matrix(rng, od, *oshape, zeros=0.5)
                cases.add("%s mask %s %s" % (tag, od, oshape), x, [{"op": "mask", "operand": "m", "value": 42.0}], {"m": m})
            cases.add(tag + " transpose", x, [{"op": "transpose"}])
            if si == 0:
                for target in DTYPES:
                    for rounding in ("nearest", "truncate"):
                        cases.add("%s cast %s %s" % (tag, target, rounding), x,
                                  [{"op": "cast", "dtype": target, "rounding": rounding}])
                for k in (1, 2, 3, 6):
                    for how in ("sum", "mean"):
                        cases.add("%s bin %d %s" % (tag, k, how), x, [{"op": "bin", "factor": k, "how": how}])
            else:
                cases.add(tag + " bin 2 sum", x, [{"op": "bin", "factor": 2, "how": "sum"}])
                cases.add(tag + " cast int16", x, [{"op": "cast", "dtype": "int16", "rounding": "nearest"}])
            # matmul, both sides, moderate values (see random_matrix)
            xm = matrix(rows, cols, moderate=True)
            p = random_matrix(rng, operand_dtype(si), cols, 5, moderate=True)
            q = random_matrix(rng, operand_dtype(si + 1), 3, rows, moderate=True)
            cases.add(tag + " matmul right", xm, [{"op": "matmul", "operand": "p", "side": "right"}], {"p": p})
            cases.add(tag + " matmul left", xm, [{"op": "matmul", "operand": "q", "side": "left"}], {"q": q})

        # chains
        x = matrix(6, 12)
        g = random_matrix(rng, operand_dtype(0), 1, 12)
        m = random_matrix(rng, "uint8", 6, 1, zeros=0.5)
        cases.add(dtype + " chain scale clip cast", x,
                  [{"op": "scale", "factor": 3.0, "offset": 0.5}, {"op": "clip", "min": -1e4, "max": 1e4},
                   {"op": "cast", "dtype": "int16", "rounding": "nearest"}])
        cases.add(dtype + " chain cast in the middle", x,
                  [{"op": "cast", "dtype": "uint8", "rounding": "truncate"}, {"op": "multiply", "operand": "g"},
                   {"op": "bin", "factor": 2, "how": "mean"}], {"g": g})
        cases.add(dtype + " chain transpose twice", x,
                  [{"op": "transpose"}, {"op": "mask", "operand": "m2", "value": -0.0}, {"op": "transpose"},
                   {"op": "subtract", "operand": "g"}, {"op": "cast", "dtype": "float32"}],
                  {"g": g, "m2": random_matrix(rng, "int8", 12, 1, zeros=0.5)})
        cases.add(dtype + " chain mask divide cast int64", x,
                  [{"op": "mask", "operand": "m", "value": 0.5}, {"op": "divide", "value": 1e-300},
                   {"op": "cast", "dtype": "int64", "rounding": "nearest"}], {"m": m})
        cases.add(dtype + " chain bin transpose threshold cast uint64", x,
                  [{"op": "bin", "factor": 3, "how": "sum"}, {"op": "transpose"},
                   {"op": "threshold", "below": 0.0, "value": "-inf"},
                   {"op": "cast", "dtype": "uint64", "rounding": "truncate"}])
        xm = matrix(6, 12, moderate=True)
        cases.add(dtype + " chain bin matmul", xm,
                  [{"op": "scale", "factor": 0.5, "offset": 1.0}, {"op": "bin", "factor": 2, "how": "mean"},
                   {"op": "matmul", "operand": "p", "side": "left"}, {"op": "transpose"}],
                  {"p": random_matrix(rng, "float32", 4, 3, moderate=True)})


def cast_edge_cases(cases):
    """Values at and around every integer limit, ties, NaN and infinities, cast every way."""
    values = [np.nan, np.inf, -np.inf, -0.0, 0.0, 0.5, 1.5, 2.5, -0.5, -0.4, -0.6, -1.0,
              2.0 ** 63, 2.0 ** 63 - 1024, -2.0 ** 63, -2.0 ** 63 - 2048, 2.0 ** 64, 2.0 ** 64 - 2048,
              np.nextafter(2.0 ** 63, 0), np.nextafter(2.0 ** 64, 0), 1e300, -1e300, 65504.0, 65520.0,
              3.4028235677973366e38, 3.4028235677973366e38 * 1.0000001]
    for t in DTYPES[:8]:
        info = np.iinfo(t)
        lo, hi = float(info.min), float(info.max)
        values += [lo, hi, lo - 1, hi + 1, lo - 0.5, hi + 0.5, lo - 0.4, hi + 0.4, lo + 0.5, hi - 0.5]
    x = np.array(values, dtype=np.float64).reshape(1, -1)
    for target in DTYPES:
        for rounding in ("nearest", "truncate"):
            cases.add("edges cast %s %s" % (target, rounding), x, [{"op": "cast", "dtype": target, "rounding": rounding}])
            cases.add("edges cast %s %s in the middle" % (target, rounding), x,
                      [{"op": "cast", "dtype": target, "rounding": rounding}, {"op": "add", "value": 0.0}])
    # Why np_cast has its own 64-bit branch: clip's bound 2^63 - 1 becomes 2^63 in float64.
    with np.errstate(all="ignore"):
        naive = np.clip(np.array([2.0 ** 63]), np.iinfo(np.int64).min, np.iinfo(np.int64).max).astype(np.int64)
    print("note: the plain np.clip(2^63, int64 limits).astype(int64) gives %d here" % naive[0])


def run_cases(tool, tmp, cases):
    global checks
    description = os.path.join(tmp, "cases.json")
    with open(description, "w") as f:
        json.dump({"cases": cases.cases}, f)
    proc = subprocess.run([tool, description], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        fail("transform_twin exited %d: %s" % (proc.returncode, proc.stderr.strip()))
        return
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    if len(results) != len(cases.cases):
        fail("transform_twin printed %d results for %d cases" % (len(results), len(cases.cases)))
        return
    for case, result, (name, x, steps, operands) in zip(cases.cases, results, cases.expect):
        checks += 1
        if "error" in result:
            fail("%s: rejected: %s" % (name, result["error"]))
            continue
        with np.errstate(all="ignore"):
            want, saturated, bound = np_chain(x, steps, operands)
        got = np.fromfile(case["output"], dtype=np.dtype(result["dtype"]))
        if got.size != want.size or (result["rows"], result["cols"]) != want.shape:
            fail("%s: C++ gave %dx%d %s, numpy %s %s" % (name, result["rows"], result["cols"], result["dtype"],
                                                        want.shape, want.dtype))
            continue
        got = got.reshape(want.shape)
        problem = bits_equal(got, want) if bound is None else close_enough(got, want, bound)
        if problem:
            fail("%s: %s" % (name, problem))
        if result["saturated"] != saturated:
            fail("%s: saturated %d, numpy %d" % (name, result["saturated"], saturated))
        # Leading elementwise steps run fused into the scratch; each transpose/matmul swaps buffers.
        leading = bool(steps) and steps[0]["op"] not in ("bin", "transpose", "matmul")
        expect_scratch = (sum(1 for s in steps if s["op"] in ("transpose", "matmul")) + leading) % 2 == 1
        if result["in_scratch"] != expect_scratch:
            fail("%s: in_scratch %r, expected %r" % (name, result["in_scratch"], expect_scratch))


# ---- plan errors through the tool ---------------------------------------------------------------

def check_plan_errors(tool, tmp, rng):
    """What plan_chain rejects comes back as one message naming the step."""
    global checks
    x = random_matrix(rng, "float64", 512, 512)
    y = random_matrix(rng, "int16", 6, 12)
    cases = Cases(tmp)
    expected = []

    def rejected(x, steps, operands, message):
        cases.add(message, x, steps, operands)
        expected.append(message)

    rejected(x, [{"op": "add", "value": 1.0}, {"op": "scale", "factor": 2.0}, {"op": "multiply", "operand": "gain"}],
             {"gain": random_matrix(rng, "float32", 512, 256)},
             'transform[2] (multiply): operand "gain" is 512x256, the matrix at this step is 512x512 '
             '(same shape, [1, 512] or [512, 1] expected)')
    rejected(y, [{"op": "clip", "min": 5.0, "max": 1.0}], None, "transform[0] (clip): min 5 is above max 1")
    rejected(y, [{"op": "bin", "factor": 2}, {"op": "bin", "factor": 2}], None,
             "transform[1] (bin): bin factor 2 does not divide the matrix at this step, 3x6")
    rejected(y, [{"op": "transpose"}, {"op": "matmul", "operand": "p"}], {"p": random_matrix(rng, "float64", 12, 2)},
             'transform[1] (matmul): operand "p" is 12x2, the matrix at this step is 12x6 '
             '(side right, X * P: P needs 6 rows)')
    rejected(y, [{"op": "mask", "operand": "nope", "value": 0.0}], None,
             'transform[0] (mask): operand "nope" is not defined (no operands are)')
    description = os.path.join(tmp, "errors.json")
    with open(description, "w") as f:
        json.dump({"cases": cases.cases}, f)
    proc = subprocess.run([tool, description], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = proc.stdout.splitlines() if proc.returncode == 0 else []
    for k, want in enumerate(expected):
        checks += 1
        got = json.loads(lines[k]).get("error") if k < len(lines) else None
        if got != want:
            fail("plan error: got %r, want %r" % (got, want))


# ---- reductions -------------------------------------------------------------------------------

def check_reductions(tool, tmp, rng):
    global checks
    rows, cols, count = 7, 9, 60
    for dtype in ("float64", "float32", "int64", "uint64", "int8", "float16"):
        stack = np.stack([random_matrix(rng, dtype, rows, cols, moderate=True, zeros=0.1, plant=False)
                          for _ in range(count)])
        if dtype.startswith("float"):
            # the special values in row 0 only, so the other rows test finite sums
            stack[7, 0, 1] = np.nan
            stack[:count // 2, 0, 2] = np.inf
            stack[count // 2:, 0, 2] = -np.inf
            stack[:, 0, 3] = -0.0
            stack[5, 0, 4] = -np.inf
            stack[::2, 0, 5] = 0.0
            stack[1::2, 0, 5] = -0.0
        if dtype == "float64":
            # cancellation: large values that cancel, small ones that survive
            stack[:, 0, 0] = np.tile([1e17, 3.0, -1e17, 0.25], count // 4)
            stack[:, 1, :] *= 10.0 ** rng.integers(-12, 12, size=(count, cols))
        path = os.path.join(tmp, "stack_%s.raw" % dtype)
        stack.tofile(path)
        permutation = rng.permutation(count)
        splits = [[list(range(count))],                                    # one accumulator, in order
                  [list(range(count - 1, -1, -1))[k::3] for k in range(3)],  # 3 ranks, backwards
                  [list(permutation[k::7]) for k in range(7)]]               # 7 ranks, shuffled
        reductions = []
        for s, groups in enumerate(splits):
            reductions.append({"input": path, "rows": rows, "cols": cols, "dtype": dtype,
                               "reductions": ["sum", "mean", "min", "max", "count_nonzero"],
                               "groups": [[int(i) for i in g] for g in groups],
                               "output": os.path.join(tmp, "red_%s_%d" % (dtype, s))})
        description = os.path.join(tmp, "red_%s.json" % dtype)
        with open(description, "w") as f:
            json.dump({"reductions": reductions}, f)
        proc = subprocess.run([tool, description], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            fail("transform_twin (reductions %s) exited %d: %s" % (dtype, proc.returncode, proc.stderr.strip()))
            continue

        def load(s, name):
            kind = np.uint64 if name == "count_nonzero" else np.float64
            return np.fromfile(reductions[s]["output"] + "." + name, dtype=kind).reshape(rows, cols)

        names = ["sum", "mean", "min", "max", "count_nonzero"]
        results = [{name: load(s, name) for name in names} for s in range(len(splits))]
        for s in range(1, len(splits)):
            for name in names:
                checks += 1
                problem = bits_equal(results[s][name], results[0][name])
                if problem:
                    fail("reduction %s %s: split %d differs from one accumulator: %s" % (dtype, name, s, problem))
        r = results[0]
        x = stack.astype(np.float64)
        with np.errstate(all="ignore"):
            want_min, want_max = np.min(x, axis=0), np.max(x, axis=0)
            want_sum_np = np.sum(x, axis=0)
        for name, got, want in (("min", r["min"], want_min), ("max", r["max"], want_max)):
            checks += 1
            if not np.array_equal(got, want, equal_nan=True):  # -0.0 == 0.0: numpy keeps whichever came first
                fail("reduction %s %s: differs from numpy: %s" % (dtype, name, bits_equal(got, want)))
        checks += 1
        if not np.array_equal(r["count_nonzero"], np.count_nonzero(x, axis=0).astype(np.uint64)):
            fail("reduction %s count_nonzero differs from numpy" % dtype)
        # sum: the bound of reduction.hpp against the exact sum; numpy within n*u*sum|x|
        n = count
        gamma = n * U / (1 - n * U)
        abs_sum = np.sum(np.abs(x), axis=0)
        exact_matches = finite = 0
        for i in range(rows):
            for j in range(cols):
                checks += 1
                column = x[:, i, j]
                got, mean = r["sum"][i, j], r["mean"][i, j]
                if not np.all(np.isfinite(column)):
                    want = want_sum_np[i, j]
                    if not (got == want or (math.isnan(got) and math.isnan(want))):
                        fail("reduction %s sum[%d,%d] = %r, numpy %r (non-finite inputs)" % (dtype, i, j, got, want))
                    continue
                finite += 1
                exact = math.fsum(column.tolist())
                limit = U * abs(exact) + gamma * gamma * abs_sum[i, j]
                if abs(got - exact) > limit:
                    fail("reduction %s sum[%d,%d] = %r, exact %r: off by more than %r" % (dtype, i, j, got, exact, limit))
                exact_matches += got == exact
                if abs(got - want_sum_np[i, j]) > n * U * abs_sum[i, j]:
                    fail("reduction %s sum[%d,%d] = %r, numpy %r" % (dtype, i, j, got, want_sum_np[i, j]))
                if mean != got / n:
                    fail("reduction %s mean[%d,%d] = %r is not sum / %d = %r" % (dtype, i, j, mean, n, got / n))
        print("reductions %s: %d of %d finite sums equal math.fsum exactly" % (dtype, exact_matches, finite))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    rng = np.random.default_rng(20)
    with tempfile.TemporaryDirectory(prefix="transform_twin_") as tmp:
        cases = Cases(tmp)
        build_cases(cases, rng)
        cast_edge_cases(cases)
        run_cases(tool, tmp, cases)
        print("ops: %d cases compared" % len(cases.cases))
        check_plan_errors(tool, tmp, rng)
        check_reductions(tool, tmp, rng)
    print("%d checks, %d failures" % (checks, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
