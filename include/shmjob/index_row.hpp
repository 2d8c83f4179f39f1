#pragma once
// One row of the index table stored in every shard and, for the whole job, in the master file
// (one table per matrix set, sorted by id). Field names are the HDF5 compound member names.
#include <cstdint>

namespace shmjob {

// source_file / source_dataset value of synthetic matrices (they have no input file).
inline constexpr std::uint32_t kNoSource = 0xFFFFFFFFu;

struct IndexRow {
  std::uint64_t id;                            // global matrix id
  std::uint32_t shard;                         // shard number (file <job>.shard-<shard>.h5)
  std::uint64_t row;                           // row of the matrix in that shard's dataset of its set
  std::uint64_t raw_bytes;                     // uncompressed size
  std::uint64_t compressed_bytes;              // stored chunk size
  std::uint32_t crc32;                         // zlib CRC-32 of the raw bytes (native byte order)
  double min, max, mean;                       // of the values, as float64
  std::int32_t producer, compressor, writer;   // world ranks that handled it
  double t_produced, t_compressed, t_written;  // seconds since the job started
  std::uint32_t source_file;                   // index into the master's inputs/files, or kNoSource
  std::uint32_t source_dataset;                // index into the master's inputs/datasets, or kNoSource
  std::uint64_t source_index;                  // slice within the source dataset (synthetic: the id)
  std::int32_t level;                          // zstd level its chunks were compressed with
  std::uint32_t shuffled;                      // 1: byte-shuffled before zstd (its chunks' filter mask
                                               // skips the dataset's shuffle filter when 0)
};

}  // namespace shmjob
