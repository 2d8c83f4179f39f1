# Hostile input (issue 7): the catalogue of bad configs and inputs, unit tests of the bounds, and
# the fuzz targets' corpora and regression inputs replayed without libFuzzer (the libFuzzer
# builds themselves: -DSHMJOB_FUZZ=ON, scripts/fuzz.sh). Included from tests/CMakeLists.txt.

shmjob_unit_test(unit_hostile unit/hostile_test.cpp)
target_link_libraries(unit_hostile PRIVATE shmjob_h5)
target_include_directories(unit_hostile PRIVATE ${PROJECT_SOURCE_DIR}/src)

# The fuzz harness's input file opens as a job's input does (else a target fuzzes nothing).
shmjob_unit_test(unit_fuzz_harness unit/fuzz_harness_test.cpp)
target_link_libraries(unit_fuzz_harness PRIVATE shmjob_input shmjob_h5)
target_include_directories(unit_fuzz_harness PRIVATE ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
target_compile_definitions(unit_fuzz_harness PRIVATE SHMJOB_FUZZ_CORPUS="${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus")

# Each fuzz target built with a replay main: every file of its corpus and regression directory.
# Each links the layer it reads (as the libFuzzer builds in tests/fuzz do).
set(fuzz_replay_config_libs shmjob_config)
set(fuzz_replay_chunk_libs shmjob_h5)
set(fuzz_replay_shard_libs shmjob_input shmjob_h5)
foreach(target config chunk shard)
  add_executable(fuzz_replay_${target} fuzz/${target}_fuzz.cpp fuzz/replay_main.cpp)
  target_link_libraries(fuzz_replay_${target} PRIVATE ${fuzz_replay_${target}_libs})
  target_include_directories(fuzz_replay_${target} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  set(dirs ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${target})
  if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/regressions/${target})
    list(APPEND dirs ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/regressions/${target})
  endif()
  add_test(NAME fuzz_replay_${target} COMMAND fuzz_replay_${target} ${dirs})
  # No plugin directory: the in-process zstd filter (instrumented in sanitized builds) decodes.
  set_tests_properties(fuzz_replay_${target} PROPERTIES LABELS unit
                       ENVIRONMENT "HDF5_PLUGIN_PATH=${PROJECT_BINARY_DIR}/no-plugins")
endforeach()

# The catalogue: most cases as single-process runs (same code path, fast), a few under mpirun
# with several ranks to show that every rank agrees.
shmjob_mpi_script(mpi_hostile_inputs hostile_test.py $<TARGET_FILE:shmjob>)

# Trust (issue 18): planted links, FIFOs, name clashes with inputs and other jobs, exact
# overwrite, the job lock, control characters in names.
shmjob_mpi_script(mpi_trust trust_test.py $<TARGET_FILE:shmjob>)
# Filtered input chunks that decode to the wrong size, for every filter pipeline (HDF5's own,
# szip, and the LZ4 and bzip2 plugins of Debian's hdf5-filter-plugin).
shmjob_mpi_script(mpi_filtered_input filtered_input_test.py $<TARGET_FILE:shmjob>)

# scripts/fuzz_triage.py: a crash inside HDF5 itself is told from a bug of shmjob's.
shmjob_python_test(fuzz_triage fuzz_triage_test.py ${PROJECT_SOURCE_DIR})
