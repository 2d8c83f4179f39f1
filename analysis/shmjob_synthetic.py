"""numpy twin of shmjob's deterministic synthetic matrices.

Regenerates matrix ``matrix_id`` of a shmjob job from (kind, dtype, rows, cols, seed) so that an
analysis can compare what was written to HDF5 with what was produced.

This module MUST stay in lock-step with src/synthetic/synthetic.cpp (the source of truth) and the spec in
src/synthetic/synthetic.hpp: every floating-point operation below mirrors the C++ one, in the same
order, and the result is bit-identical for every kind and dtype. The C++ file is compiled with
-ffp-contract=off (no fused multiply-add), and numpy's element-wise +, -, *, / and rint are
correctly rounded IEEE-754 double operations, so the bits agree. Any change on one side needs the
same change on the other; tests/python/synthetic_twin_test.py (ctest ``synthetic_numpy_twin``)
compares the two byte for byte.

Integer arithmetic is wrapping uint64 arithmetic on np.uint64 arrays; every operand is kept
np.uint64 so numpy never promotes to float64.

Requires only numpy (tested with Debian's python3-numpy 1.24).
"""

import numpy as np

__all__ = ["KINDS", "DTYPES", "generate_matrix", "regenerate_from_config"]

KINDS = ("random", "smooth", "poisson")
DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "float16")

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB

_U_GOLDEN = np.uint64(_GOLDEN)
_U_MUL1 = np.uint64(_MUL1)
_U_MUL2 = np.uint64(_MUL2)
_U_11 = np.uint64(11)
_U_27 = np.uint64(27)
_U_30 = np.uint64(30)
_U_31 = np.uint64(31)
_U_40 = np.uint64(40)
_U_64 = np.uint64(64)

_TWO_POW_MINUS_53 = 2.0 ** -53  # 0x1.0p-53, exact
_TWO_POW_MINUS_24 = 2.0 ** -24  # 0x1.0p-24, exact
_EXP_MINUS_4 = 0.018315638888734179  # the same literal as kExpMinus4 in src/synthetic/synthetic.cpp
_MAX_POISSON_VALUE = 63


# --- splitmix64 ---------------------------------------------------------------------------------

def _mix_int(z):
    """splitmix64 finaliser on a Python int (wrapping uint64), for per-matrix scalars."""
    z = (z + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK64
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK64
    return z ^ (z >> 31)


def _mix(z):
    """splitmix64 finaliser on a np.uint64 array (wrapping arithmetic). Returns a new array."""
    with np.errstate(over="ignore"):
        z = z + _U_GOLDEN
        z = (z ^ (z >> _U_30)) * _U_MUL1
        z = (z ^ (z >> _U_27)) * _U_MUL2
        return z ^ (z >> _U_31)


class _Stream:
    """Mirror of Stream in src/synthetic/synthetic.cpp: bits(k) = mix(key + k * G)."""

    def __init__(self, seed, matrix_id):
        self.key_int = _mix_int((seed & _MASK64) ^ _mix_int(matrix_id & _MASK64))
        self.key = np.uint64(self.key_int)

    def bits(self, k):
        """k: np.uint64 array of draw indices -> np.uint64 array."""
        with np.errstate(over="ignore"):
            return _mix(self.key + k * _U_GOLDEN)

    def u53(self, k):
        """k: np.uint64 array -> float64 array uniform in [0, 1)."""
        return (self.bits(k) >> _U_11).astype(np.float64) * _TWO_POW_MINUS_53

    def u53_scalar(self, k):
        """One draw as a Python float (an IEEE double, same rounding as the C++ double)."""
        bits = _mix_int((self.key_int + k * _GOLDEN) & _MASK64)
        return float(bits >> 11) * _TWO_POW_MINUS_53


# --- kinds --------------------------------------------------------------------------------------

def _fill_random(stream, dt, n):
    e = np.arange(n, dtype=np.uint64)
    if dt == np.float64:
        return stream.u53(e)
    bits = stream.bits(e)
    if dt == np.float32:
        return ((bits >> _U_40).astype(np.float64) * _TWO_POW_MINUS_24).astype(np.float32)
    # Top 8*itemsize bits, reinterpreted as the (possibly signed) type.
    unsigned = np.dtype("u%d" % dt.itemsize)
    top = bits >> np.uint64(64 - 8 * dt.itemsize)
    return top.astype(unsigned).view(dt)


def _fill_smooth(stream, dt, rows, cols):
    a = [2.0 * stream.u53_scalar(k) - 1.0 for k in range(6)]
    x = (np.arange(rows, dtype=np.float64) / np.float64(rows)).reshape(rows, 1)
    y = (np.arange(cols, dtype=np.float64) / np.float64(cols)).reshape(1, cols)
    # C++: (a[0]*x + a[1]*y + a[2]*x*y + a[3]*x*x + a[4]*y*y + a[5]) / 6.0, left to right.
    v = (a[0] * x + a[1] * y + a[2] * x * y + a[3] * x * x + a[4] * y * y + a[5]) / 6.0
    v = np.broadcast_to(v, (rows, cols))
    if dt.kind == "f":
        return (np.rint(v * 100000.0) / 1000.0).astype(dt)
    vmax = float(np.iinfo(dt).max)  # static_cast<double>(numeric_limits<T>::max()), round-to-nearest
    if dt.kind == "i":
        return np.rint(v * 0.25 * vmax).astype(dt)
    return np.rint((v + 1.0) * 0.25 * vmax).astype(dt)


def _poisson_cdf():
    """cdf[k] for k = 0..62, summed exactly as PoissonTable in src/synthetic/synthetic.cpp."""
    p = s = _EXP_MINUS_4
    cdf = [s]
    for k in range(1, _MAX_POISSON_VALUE):
        p = p * 4.0 / float(k)
        s = s + p
        cdf.append(s)
    return np.array(cdf, dtype=np.float64)


_POISSON_CDF = _poisson_cdf()


def _fill_poisson(stream, dt, n):
    # Inversion: the number of cdf entries <= u (cdf is non-decreasing), 0..63.
    u = stream.u53(np.arange(n, dtype=np.uint64))
    return np.searchsorted(_POISSON_CDF, u, side="right").astype(dt)


# --- public API ---------------------------------------------------------------------------------

def generate_matrix(kind, dtype, rows, cols, seed, matrix_id):
    """Matrix ``matrix_id`` as src/synthetic/synthetic.cpp generates it: an ndarray of shape (rows, cols).

    kind: "random", "smooth" or "poisson"; dtype: a numpy dtype (or name) among DTYPES;
    seed, matrix_id: integers taken modulo 2**64 like the C++ uint64_t.
    """
    if kind not in KINDS:
        raise ValueError("unknown kind %r (expected one of %s)" % (kind, ", ".join(KINDS)))
    dt = np.dtype(dtype)
    if dt.name not in DTYPES:
        raise ValueError("unsupported dtype %r (expected one of %s)" % (dtype, ", ".join(DTYPES)))
    rows, cols = int(rows), int(cols)
    if not (0 <= rows < 2 ** 32 and 0 <= cols < 2 ** 32):
        raise ValueError("rows and cols must be in [0, 2**32)")
    dt = dt.newbyteorder("=")  # native order, as the C++ side stores it
    if dt.name == "float16":  # the float64 matrix rounded to nearest, ties to even
        return generate_matrix(kind, "float64", rows, cols, seed, matrix_id).astype(dt)
    stream = _Stream(int(seed), int(matrix_id))
    n = rows * cols
    if kind == "random":
        flat = _fill_random(stream, dt, n)
    elif kind == "smooth":
        flat = _fill_smooth(stream, dt, rows, cols)
    else:
        flat = _fill_poisson(stream, dt, n)
    return np.ascontiguousarray(flat, dtype=dt).reshape(rows, cols)


def regenerate_from_config(config_dict, matrix_id):
    """Matrix ``matrix_id`` of the job described by a shmjob config.

    ``config_dict`` is the "matrices" object of a shmjob config (keys count, rows, cols, dtype,
    kind, seed; defaults dtype "float64", kind "smooth", seed 0, as in MatrixSpec); a whole config
    (a dict with a "matrices" key) is accepted too. ``matrix_id`` must be below count.
    """
    m = config_dict.get("matrices", config_dict)
    for key in ("count", "rows", "cols"):
        if key not in m:
            raise KeyError("matrices.%s is required" % key)
    count = int(m["count"])
    matrix_id = int(matrix_id)
    if not 0 <= matrix_id < count:
        raise IndexError("matrix id %d out of range (matrices.count = %d)" % (matrix_id, count))
    return generate_matrix(m.get("kind", "smooth"), m.get("dtype", "float64"),
                           int(m["rows"]), int(m["cols"]), int(m.get("seed", 0)), matrix_id)
