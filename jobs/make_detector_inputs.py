#!/usr/bin/python3
"""Inputs of jobs/detector.json: a run of uint16 detector frames and its calibration.

usage: make_detector_inputs.py [DIR] [--frames N]     (default: the current directory, 64 frames)

Writes DIR/frames.h5 (/frames: N x 512 x 512 uint16, one chunk per frame, about 0.5 MB each)
and DIR/calib.h5 (/dark uint16 [512, 512], /gain float32 [512, 512], /bad_pixels uint8
[512, 512], 1 where a pixel is dead or hot). Deterministic (fixed seed). Needs python3-h5py.
"""
import argparse
import os

import h5py
import numpy as np

ROWS = COLS = 512


def make(directory, frames):
    rng = np.random.default_rng(20)
    dark = rng.normal(100.0, 3.0, size=(ROWS, COLS)).round().astype(np.uint16)
    gain = rng.normal(1.0, 0.03, size=(ROWS, COLS)).astype(np.float32)
    bad = (rng.random((ROWS, COLS)) < 0.002).astype(np.uint8)
    hot = bad.astype(bool) & (rng.random((ROWS, COLS)) < 0.5)
    # A smooth beam profile plus a few bright spots, Poisson-distributed counts on the dark level.
    y, x = np.mgrid[0:ROWS, 0:COLS]
    beam = 40.0 * np.exp(-(((x - COLS / 2) / 140.0) ** 2 + ((y - ROWS / 2) / 110.0) ** 2))
    with h5py.File(os.path.join(directory, "frames.h5"), "w") as f:
        d = f.create_dataset("frames", shape=(frames, ROWS, COLS), dtype=np.uint16, chunks=(1, ROWS, COLS))
        for i in range(frames):
            signal = beam.copy()
            for _ in range(5):
                cy, cx = rng.integers(20, ROWS - 20, size=2)
                signal[cy - 2:cy + 3, cx - 2:cx + 3] += rng.uniform(200, 2000)
            counts = rng.poisson(signal) + rng.normal(dark, 3.0)
            counts[hot] = 65535
            d[i] = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
    with h5py.File(os.path.join(directory, "calib.h5"), "w") as f:
        f["dark"] = dark
        f["gain"] = gain
        f["bad_pixels"] = bad


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="?", default=".")
    p.add_argument("--frames", type=int, default=64)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    make(a.dir, a.frames)
    print(f"wrote {os.path.join(a.dir, 'frames.h5')} ({a.frames} x {ROWS}x{COLS} uint16) and "
          f"{os.path.join(a.dir, 'calib.h5')}")


if __name__ == "__main__":
    main()
