# HDF5 ingest: real mpirun runs of `shmjob ingest` / input configs over make_inputs.py's files,
# every output compared bit for bit with its inputs (verify_ingest.py), and every bad input of
# docs/ingest.md rejected with exit code 2 and one line. Included from tests/CMakeLists.txt.
add_test(NAME mpi_ingest
  COMMAND ${SHMJOB_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/python/ingest_test.py
          $<TARGET_FILE:shmjob> ${PROJECT_BINARY_DIR}/plugins)
set_tests_properties(mpi_ingest PROPERTIES ENVIRONMENT "${SHMJOB_TEST_ENV}" LABELS mpi
                     PROCESSORS 2 TIMEOUT 300)

add_test(NAME mpi_ingest_bad_inputs
  COMMAND ${SHMJOB_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/python/bad_input_test.py $<TARGET_FILE:shmjob>)
set_tests_properties(mpi_ingest_bad_inputs PROPERTIES ENVIRONMENT "${SHMJOB_TEST_ENV}" LABELS mpi
                     PROCESSORS 2 TIMEOUT 300)
