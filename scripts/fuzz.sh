#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ (or
# $SHMJOB_FUZZ_BUILD_DIR) and runs each for SECONDS (default 60) from its committed seed corpus
# (tests/fuzz/corpus/<target>; new inputs go to build-fuzz/corpus/<target>, not into the repo).
# Prints each target's executions; exits non-zero if a target found a crash, a leak, a timeout
# or an out-of-memory (the input is then in build-fuzz/artifacts/: fix the bug and add the input
# to tests/fuzz/regressions/<target>/, which the normal suite replays).
#   usage: scripts/fuzz.sh [SECONDS] [TARGET...]     targets: config chunk shard
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHMJOB_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config chunk shard)

"$root/scripts/setup.sh"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSHMJOB_FUZZ=ON -DSHMJOB_BUILD_TESTS=OFF -DSHMJOB_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
# No plugin directory: the targets use the in-process (instrumented) zstd filter.
export HDF5_PLUGIN_PATH="$build/no-plugins"
mkdir -p "$build/artifacts"
status=0
for t in "${targets[@]}"; do
  work=$build/corpus/$t
  mkdir -p "$work"
  log=$build/fuzz-$t.log
  seeds=("$root/tests/fuzz/corpus/$t")
  [ -d "$root/tests/fuzz/regressions/$t" ] && seeds+=("$root/tests/fuzz/regressions/$t")
  rc=0
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" "$work" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  echo "fuzz_$t: ${seconds} s, $runs executions, $cov, corpus $(ls "$work" | wc -l) files, exit $rc"
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E "ERROR|BUG|SUMMARY|artifact|Test unit written" "$log" | head -20
  fi
done
exit $status
