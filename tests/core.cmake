# MPI tests: real mpirun runs of the shmjob binary, output read back by h5py and h5dump.

# A Python script that runs shmjob under mpirun itself:
#   shmjob_mpi_script(name script.py [LABEL label] [args...])
function(shmjob_mpi_script name script)
  cmake_parse_arguments(ARG "" "LABEL" "" ${ARGN})
  if(NOT ARG_LABEL)
    set(ARG_LABEL mpi)
  endif()
  add_test(NAME ${name}
    COMMAND ${SHMJOB_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/python/${script} ${ARG_UNPARSED_ARGUMENTS})
  # PROCESSORS 2: every job oversubscribes both cores; SKIP_RETURN_CODE 77: needs what is missing.
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SHMJOB_TEST_ENV}" LABELS ${ARG_LABEL}
                       PROCESSORS 2 TIMEOUT 600 SKIP_RETURN_CODE 77)
endfunction()

# One job from a config given inline, checked by run_job_test.py:
#   shmjob_mpi_test(name ranks config-json [extra args])
function(shmjob_mpi_test name ranks config)
  shmjob_mpi_script(${name} run_job_test.py $<TARGET_FILE:shmjob> ${ranks} ${config} ${ARGN})
endfunction()

shmjob_mpi_test(mpi_split_1_1_1 3
  [=[{"matrices": {"count": 60, "rows": 200, "cols": 150, "dtype": "float64", "kind": "smooth"},
      "stages": {"producers": 1, "compressors": 1, "writers": 1}}]=] --h5dump ${PROJECT_BINARY_DIR}/plugins)
shmjob_mpi_test(mpi_split_2_2_2 6
  [=[{"matrices": {"count": 61, "rows": 200, "cols": 150, "dtype": "float64", "kind": "smooth"},
      "stages": {"producers": 2, "compressors": 2, "writers": 2}}]=])
shmjob_mpi_test(mpi_split_1_2_1_shuffle_float32 4
  [=[{"matrices": {"count": 50, "rows": 128, "cols": 100, "dtype": "float32", "kind": "random", "seed": 7},
      "stages": {"producers": 1, "compressors": 2, "writers": 1},
      "compression": {"level": 1, "shuffle": true}}]=] --h5dump ${PROJECT_BINARY_DIR}/plugins)
shmjob_mpi_test(mpi_split_3_5_2_int32_poisson 10
  [=[{"matrices": {"count": 37, "rows": 64, "cols": 96, "dtype": "int32", "kind": "poisson", "seed": 3},
      "stages": {"producers": 3, "compressors": 5, "writers": 2},
      "compression": {"level": 5, "shuffle": true}, "slots": {"per_producer": 1, "per_compressor": 1}}]=])
shmjob_mpi_test(mpi_split_2_1_3_uint16_smooth 6
  [=[{"matrices": {"count": 41, "rows": 33, "cols": 17, "dtype": "uint16", "kind": "smooth"},
      "stages": {"producers": 2, "compressors": 1, "writers": 3}}]=])
shmjob_mpi_test(mpi_split_1_2_1_float16_smooth_shuffle 4
  [=[{"matrices": {"count": 25, "rows": 40, "cols": 64, "dtype": "float16", "kind": "smooth"},
      "stages": {"producers": 1, "compressors": 2, "writers": 1},
      "compression": {"shuffle": true}}]=] --h5dump ${PROJECT_BINARY_DIR}/plugins)
shmjob_mpi_test(mpi_16_ranks_auto 16
  [=[{"matrices": {"count": 100, "rows": 256, "cols": 256, "dtype": "float64", "kind": "smooth"},
      "metrics": {"interval_s": 0.1}}]=] --h5dump ${PROJECT_BINARY_DIR}/plugins)
shmjob_mpi_test(mpi_idle_ranks_memory_budget 8
  [=[{"matrices": {"count": 30, "rows": 300, "cols": 300, "dtype": "int64", "kind": "random"},
      "stages": {"producers": 1, "compressors": 2, "writers": 1},
      "slots": {"memory_budget_mb": 8}}]=])
# The portable (SSE2) generator and statistics paths in a real job, on any CPU: what a machine
# without AVX-512 runs (SHMJOB_SIMD=baseline reaches the ranks through mpirun's environment).
shmjob_mpi_test(portable_mpi_poisson_float64 4
  [=[{"matrices": {"count": 30, "rows": 64, "cols": 80, "dtype": "float64", "kind": "poisson", "seed": 9},
      "stages": {"producers": 1, "compressors": 2, "writers": 1}}]=])
shmjob_mpi_test(portable_mpi_random_float32 4
  [=[{"matrices": {"count": 30, "rows": 50, "cols": 33, "dtype": "float32", "kind": "random", "seed": 4},
      "stages": {"producers": 1, "compressors": 2, "writers": 1}}]=])
foreach(name portable_mpi_poisson_float64 portable_mpi_random_float32)
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SHMJOB_TEST_ENV};SHMJOB_SIMD=baseline"
                       LABELS "mpi;portable")
endforeach()
shmjob_mpi_test(mpi_more_writers_than_matrices 6
  [=[{"matrices": {"count": 2, "rows": 10, "cols": 10},
      "stages": {"producers": 1, "compressors": 1, "writers": 4}}]=])

shmjob_mpi_script(mpi_bad_configs bad_config_test.py $<TARGET_FILE:shmjob>)
# Waiting ranks sleep: their CPU in the steady part of a paced run, start-up excluded.
shmjob_mpi_script(mpi_idle_ranks_sleep idle_cpu_test.py $<TARGET_FILE:shmjob>)
# ... and that check fails on a spinning build: futex waits made to return at once (preload shim).
add_library(spin_waits MODULE tools/spin_waits.cpp)
target_link_libraries(spin_waits PRIVATE ${CMAKE_DL_LIBS})
shmjob_mpi_script(mpi_idle_ranks_spin_detected idle_cpu_test.py $<TARGET_FILE:shmjob>
                  --expect-spinning $<TARGET_FILE:spin_waits>)
# Disk full on a tiny tmpfs: needs root and mount(8), else skipped.
shmjob_mpi_script(mpi_disk_full disk_full_test.py $<TARGET_FILE:shmjob>)
# The verifier itself must reject corrupted output (deleted shard, flipped byte, bad crc, ...).
shmjob_mpi_script(verify_output_selftest verify_output_self_test.py LABEL python
                  $<TARGET_FILE:shmjob> ${PROJECT_BINARY_DIR}/plugins)
# Placement: --plan output, a synthetic topology under mpirun, pinning on this machine.
shmjob_mpi_script(mpi_placement placement_test.py $<TARGET_FILE:shmjob>)
# A signal mid-run: drained, master "interrupted", exit code 4.
shmjob_mpi_script(mpi_interrupt interrupt_test.py $<TARGET_FILE:shmjob>)
# Interrupts at several points, a second signal, a SIGKILLed compressor and writer, each then
# --resume and compared with an uninterrupted run; resume refused on another config.
shmjob_mpi_script(mpi_resume resume_test.py $<TARGET_FILE:shmjob>)
# shmjob cleanup after a SIGKILLed mpirun, while another job runs.
shmjob_mpi_script(mpi_cleanup cleanup_test.py $<TARGET_FILE:shmjob>)
# It looks at the whole node's /dev/shm: no other test's job may come and go meanwhile.
set_tests_properties(mpi_cleanup PROPERTIES RUN_SERIAL TRUE)
# Several nodes on one machine (testing.pretend_nodes): 2 and 3 pretend nodes, synthetic and an
# ingest of two sets, a slowed node, an interrupt resumed on another node count; each compared
# with a single-node run.
shmjob_mpi_script(mpi_multinode multinode_test.py $<TARGET_FILE:shmjob>)
# Its checks compare the pretend nodes' shares (every node writes, the slowed one writes less):
# another test's ranks on the same 2 cores can starve one pretend node's producer (it failed
# twice in parallel runs here, never alone).
set_tests_properties(mpi_multinode PROPERTIES RUN_SERIAL TRUE)
# The pipeline benchmark driver (bench/run --quick: tiny workloads and their bounds) and
# compare.py reading its results; no timing is asserted.
if(SHMJOB_BUILD_BENCH)
  shmjob_mpi_script(bench_run_smoke bench_run_smoke_test.py $<TARGET_FILE:shmjob> $<TARGET_FILE:bound_bench>)
  # handoff_bench (built only with Google Benchmark, see bench/CMakeLists.txt): every family runs
  # a few iterations, exits 0, reports no error and leaves nothing in $TMPDIR; no timing asserted.
  find_package(benchmark QUIET)
  if(benchmark_FOUND)
    shmjob_mpi_script(handoff_bench_smoke handoff_bench_smoke_test.py LABEL python $<TARGET_FILE:handoff_bench>)
  endif()
endif()

# compression.shuffle / level "auto": both shuffle choices in one dataset (filter masks) read
# back by h5py, h5dump, shmjob read/verify and --resume; levels rise when compressors wait.
shmjob_mpi_script(mpi_adaptive adaptive_test.py $<TARGET_FILE:shmjob> ${PROJECT_BINARY_DIR}/plugins)
# bench/adaptive_bench.py --quick: every job runs, the results file holds every goal's figures.
shmjob_mpi_script(adaptive_bench_smoke adaptive_bench_smoke_test.py LABEL python $<TARGET_FILE:shmjob>)

# The transform stage end to end: operands from HDF5 files, chains against numpy twins, bad inputs.
# Elastic stages: output identical across splits, helping in bad splits, interrupt + resume with
# helpers, pretend nodes.
shmjob_mpi_script(mpi_elastic elastic_test.py $<TARGET_FILE:shmjob> ${PROJECT_BINARY_DIR}/plugins)
shmjob_mpi_script(mpi_transform transform_job_test.py $<TARGET_FILE:shmjob> ${PROJECT_BINARY_DIR}/plugins)
# The two transform examples of jobs/ (docs/transform.md#examples) against numpy.
shmjob_mpi_script(mpi_transform_examples transform_examples_test.py $<TARGET_FILE:shmjob> ${PROJECT_BINARY_DIR}/plugins)
# A 134 MB matmul operand used by 4 compressors: every rank's private memory stays below 64 MB
# (100 MB sanitized: ASan's shadow, its 32 MB quarantine and a larger binary put a rank at 43-57 MB
# before any operand; a copy of the operand would still be 128 MB more) and the node holds it once.
if(SHMJOB_SANITIZE)
  set(transform_memory_limit 100)
else()
  set(transform_memory_limit 64)
endif()
shmjob_mpi_script(mpi_transform_memory transform_memory_test.py $<TARGET_FILE:shmjob> ${PROJECT_BINARY_DIR}/plugins
                  --limit-mb ${transform_memory_limit})
# It samples /proc while the job runs: keep other jobs off the cores so the sampler keeps up.
set_tests_properties(mpi_transform_memory PROPERTIES RUN_SERIAL TRUE)
