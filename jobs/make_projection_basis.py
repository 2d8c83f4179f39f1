#!/usr/bin/python3
"""The operand of jobs/projection.json: an orthonormal basis to project matrices onto.

usage: make_projection_basis.py [DIR] [--rows 1024] [--cols 128]   (default: the current directory)

Writes DIR/basis.h5 with /basis, a float64 [rows, cols] matrix with orthonormal columns (the Q
of a QR decomposition of a seeded standard normal matrix): the job computes X @ basis for every
64 x 1024 matrix X. Deterministic (fixed seed). Needs python3-h5py.
"""
import argparse
import os

import h5py
import numpy as np


def make(directory, rows, cols):
    rng = np.random.default_rng(1024)
    q, _ = np.linalg.qr(rng.standard_normal((rows, cols)))
    with h5py.File(os.path.join(directory, "basis.h5"), "w") as f:
        f["basis"] = np.ascontiguousarray(q, dtype=np.float64)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="?", default=".")
    p.add_argument("--rows", type=int, default=1024)
    p.add_argument("--cols", type=int, default=128)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    make(a.dir, a.rows, a.cols)
    print(f"wrote {os.path.join(a.dir, 'basis.h5')} ({a.rows}x{a.cols} float64)")


if __name__ == "__main__":
    main()
