# Tiled chunks and reading the output (issue 6).
shmjob_unit_test(unit_tiles unit/tiles_test.cpp)
target_link_libraries(unit_tiles PRIVATE shmjob_codec)

# Reader: files written with the real shard/master writers, read back and compared with HDF5.
shmjob_unit_test(unit_reader unit/reader_test.cpp)
target_link_libraries(unit_reader PRIVATE shmjob_reader shmjob_h5)
target_include_directories(unit_reader PRIVATE ${PROJECT_SOURCE_DIR}/src)

# A tiled job (tiles that do not divide the matrix, shuffle) read back by h5py and h5dump.
shmjob_mpi_test(mpi_tiled_chunks 5
  [=[{"matrices": {"count": 23, "rows": 100, "cols": 70, "dtype": "float32", "kind": "random"},
      "stages": {"producers": 1, "compressors": 2, "writers": 2},
      "compression": {"chunk": [32, 25], "shuffle": true}}]=] --h5dump ${PROJECT_BINARY_DIR}/plugins)
# shmjob read / inspect / verify on real runs (tiled, untiled, ingest) against h5py.
shmjob_mpi_script(reader_cli reader_cli_test.py $<TARGET_FILE:shmjob>)
# shmjob verify: clean output passes, each corruption is named with its ids and file.
shmjob_mpi_script(verify_command verify_command_test.py $<TARGET_FILE:shmjob>)

# The shard writer's metadata cache stays bounded (reopen after a flush), and a writer killed
# after a reopen leaves every flushed matrix readable.
shmjob_unit_test(unit_shard_writer unit/shard_writer_test.cpp)
target_link_libraries(unit_shard_writer PRIVATE shmjob_h5)
target_include_directories(unit_shard_writer PRIVATE ${PROJECT_SOURCE_DIR}/src)

# What keeps index rows out of memory: a writer's received-id bits, a shard's index sorted on
# disk, the shards' indexes merged by id, and the master written from that merge.
shmjob_unit_test(unit_index_merge unit/index_merge_test.cpp)
target_link_libraries(unit_index_merge PRIVATE shmjob_pipeline shmjob_h5)
target_include_directories(unit_index_merge PRIVATE ${PROJECT_SOURCE_DIR}/src)

# The installed CMake package (issue 19): cmake --install, each public header compiled alone,
# and tests/package (a project outside the tree) built with find_package(shmjob) against the
# prefix, reading a real job's output as h5py does.
shmjob_mpi_script(package package_test.py ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
