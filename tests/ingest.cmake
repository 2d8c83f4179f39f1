# HDF5 ingest: real mpirun runs of `shmjob ingest` / input configs over the files of
# python/helpers/make_inputs.py, every output compared bit for bit with its inputs
# (python/helpers/verify_ingest.py), and every bad input of docs/ingest.md rejected with exit code
# 2 and one line. Included from tests/CMakeLists.txt.
shmjob_mpi_script(mpi_ingest ingest_test.py $<TARGET_FILE:shmjob> ${PROJECT_BINARY_DIR}/plugins)
shmjob_mpi_script(mpi_ingest_bad_inputs bad_input_test.py $<TARGET_FILE:shmjob>)
