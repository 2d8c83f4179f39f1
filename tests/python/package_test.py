#!/usr/bin/env python3
"""The installed CMake package, as another project uses it (issue 19).

usage: package_test.py SHMJOB_SOURCE_DIR SHMJOB_BUILD_DIR

- `cmake --install BUILD --prefix P` installs the public headers (and no other), the shared
  library behind shmjob::reader, and shmjobConfig.cmake with its version file;
- every installed header compiles on its own (twice included, -Wall -Wextra -Werror), with only
  P/include on the include path;
- tests/package, a project outside the tree, configures with find_package(shmjob) against P,
  builds, and reads matrix 3 of a real job's output equal to h5py's reading of the master, with
  verify_output finding no problem; a missing output throws shmjob::ReaderError (exit code 2)
  across the library.
Prints each check; exits 1 if one fails.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from helpers.smoke_common import Failures

PUBLIC_HEADERS = {"dtype.hpp", "error.hpp", "index_row.hpp", "matrix_shape.hpp", "reader.hpp", "verify.hpp", "version.hpp"}


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def main():
    source, build = map(os.path.abspath, sys.argv[1:3])
    os.environ.setdefault("HDF5_PLUGIN_PATH", os.path.join(build, "plugins"))  # h5py reads the output
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        if "SHMJOB_SANITIZE:BOOL=ON" in f.read():
            print("package_test: skipped: a sanitized build's library needs the sanitizer runtime in every program")
            return 77
    failures = Failures("package_test")
    with tempfile.TemporaryDirectory(prefix="shmjob-package-") as tmp:
        prefix = os.path.join(tmp, "prefix")
        r = sh(["cmake", "--install", build, "--prefix", prefix])
        if not failures.check(r.returncode == 0, f"cmake --install: {r.stderr[-400:]}"):
            return failures.report()
        headers = {os.path.basename(h) for h in glob.glob(os.path.join(prefix, "include", "**", "*"), recursive=True)
                   if os.path.isfile(h)}
        failures.check(headers == PUBLIC_HEADERS, f"installed headers are the public ones: {sorted(headers)}")
        failures.check(bool(glob.glob(os.path.join(prefix, "lib*", "libshmjob_reader.so*"))), "libshmjob_reader.so installed")
        failures.check(all(glob.glob(os.path.join(prefix, "lib*", "cmake", "shmjob", f)) for f in
                           ("shmjobConfig.cmake", "shmjobConfigVersion.cmake", "shmjobTargets.cmake")),
                       "shmjobConfig.cmake, its version file and the targets are installed")

        for header in sorted(headers):
            tu = f"#include <shmjob/{header}>\n#include <shmjob/{header}>\nint main() {{ return 0; }}\n"
            r = sh(["c++", "-std=c++20", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++", "-",
                    "-I", os.path.join(prefix, "include")], input=tu)
            failures.check(r.returncode == 0, f"shmjob/{header} compiles alone: {r.stderr.strip()[-300:]}")

        out = os.path.join(tmp, "job")
        config = os.path.join(tmp, "pkg.json")
        with open(config, "w") as f:
            json.dump({"job": "pkg", "output_dir": out,
                       "matrices": {"count": 8, "rows": 24, "cols": 20, "kind": "smooth"}}, f)
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMPI_MCA_rmaps_base_oversubscribe="1")
        r = sh(["mpirun", "-n", "3", os.path.join(build, "shmjob"), "--quiet", config], env=env, timeout=120)
        if not failures.check(r.returncode == 0, f"a job to read: exit {r.returncode} {r.stderr.strip()[-300:]}"):
            return failures.report()

        consumer_build = os.path.join(tmp, "consumer")
        r = sh(["cmake", "-S", os.path.join(source, "tests", "package"), "-B", consumer_build,
                f"-DCMAKE_PREFIX_PATH={prefix}"])
        if not failures.check(r.returncode == 0, f"find_package(shmjob) configures: {r.stderr.strip()[-500:]}"):
            return failures.report()
        r = sh(["cmake", "--build", consumer_build])
        if not failures.check(r.returncode == 0, f"the consumer builds: {(r.stdout + r.stderr).strip()[-800:]}"):
            return failures.report()
        consumer = os.path.join(consumer_build, "consumer")
        raw = os.path.join(tmp, "m3.bin")
        r = sh([consumer, out, "3", raw])
        failures.check(r.returncode == 0, f"the consumer reads matrix 3: exit {r.returncode} {r.stderr.strip()}")
        if r.returncode == 0:
            rows, cols, dtype, problems, _ = r.stdout.split()
            with open(raw, "rb") as f:
                got = f.read()
            with h5py.File(os.path.join(out, "pkg.h5"), "r") as f:
                want = np.ascontiguousarray(f["data"][3]).tobytes()
            failures.check((rows, cols, dtype) == ("24", "20", "float64") and got == want,
                           f"matrix 3 equals h5py's: {rows}x{cols} {dtype}, {len(got)} bytes ({len(want)} from h5py)")
            failures.check(problems == "0", f"verify_output through the library finds no problem: {problems}")
        r = sh([consumer, "--missing", os.path.join(tmp, "nothing-here")])
        failures.check(r.returncode == 0 and r.stdout.strip() == "ReaderError 2",
                       f"a missing output throws shmjob::ReaderError with exit code 2 across the library: {r.stdout.strip()}")
    return failures.report()


if __name__ == "__main__":
    sys.exit(main())
