#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ (or
# $SHMJOB_FUZZ_BUILD_DIR) and runs each for SECONDS (default 60) from its committed seed corpus
# (tests/fuzz/corpus/<target>; new inputs go to build-fuzz/corpus/<target>, not into the repo).
# Prints each target's executions; exits non-zero if a target found a crash, a leak, a timeout
# or an out-of-memory in shmjob's code (the input is then in build-fuzz/artifacts/: fix the bug
# and add the input to tests/fuzz/regressions/<target>/, which the normal suite replays). A crash
# inside HDF5 itself (scripts/fuzz_triage.py) is printed, its input kept as artifacts/hdf5-*,
# and fuzzing goes on: it is HDF5's bug, which h5dump shares (docs/reliability.md).
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

# HDF5 (not instrumented) sizes some of its own buffers from what a file declares and checks
# malloc's result: a C malloc beyond 2 GiB returns NULL here, as glibc's does for an impossible
# size, and HDF5 reports an error. shmjob's own allocations are C++ (new, vectors), for which
# ASan still reports an allocation beyond 2 GiB as out-of-memory: a bug.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=2048"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
# No plugin directory: the targets use the in-process (instrumented) zstd filter.
export HDF5_PLUGIN_PATH="$build/no-plugins"
mkdir -p "$build/artifacts"
status=0
upstream=0
for t in "${targets[@]}"; do
  work=$build/corpus/$t
  mkdir -p "$work"
  seeds=("$root/tests/fuzz/corpus/$t")
  [ -d "$root/tests/fuzz/regressions/$t" ] && seeds+=("$root/tests/fuzz/regressions/$t")
  # Runs until the time is used; a run ended by a crash inside HDF5 is followed by another.
  rm -f "$build"/fuzz-"$t".*.log
  deadline=$((SECONDS + seconds))
  runs=0 part=0 rc=0
  while left=$((deadline - SECONDS)); [ "$left" -ge 1 ]; do
    part=$((part + 1))
    log=$build/fuzz-$t.$part.log
    rc=0
    "$build/tests/fuzz/fuzz_$t" -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t-" "$work" "${seeds[@]}" >"$log" 2>&1 || rc=$?
    n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' ||
      grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
    runs=$((runs + ${n:-0}))
    [ "$rc" -eq 0 ] && break
    input=$(grep -o 'Test unit written to .*' "$log" | sed 's/Test unit written to //' | tail -1)
    if why=$(/usr/bin/python3 "$root/scripts/fuzz_triage.py" "$log"); then
      upstream=$((upstream + 1))
      kept=$build/artifacts/hdf5-$t-$(basename "${input:-unknown}")
      [ -n "$input" ] && [ -f "$input" ] && mv "$input" "$kept"
      echo "fuzz_$t: $why; input kept as $kept (not shmjob's bug; fuzzing goes on)"
      rc=0
      continue
    fi
    echo "fuzz_$t: $why"
    break
  done
  cov=$(cat "$build"/fuzz-"$t".*.log 2>/dev/null | grep -o 'cov: [0-9]*' | tail -1 || true)
  echo "fuzz_$t: ${seconds} s, $runs executions, $cov, corpus $(ls "$work" | wc -l) files, exit $rc"
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E "ERROR|BUG|SUMMARY|artifact|Test unit written" "$log" | head -20
  fi
done
[ "$upstream" -eq 0 ] || echo "fuzzing: $upstream crash(es) inside HDF5 itself (see above), none of shmjob's counted"
exit $status
