#pragma once
// One row of the index table stored in every shard and, for the whole job, in the master file
// (dataset "index", sorted by id). Field names are the HDF5 compound member names.
#include <cstdint>

namespace shmjob {

struct IndexRow {
  std::uint64_t id;                // matrix id, 0 .. count-1
  std::uint32_t shard;             // shard number (file <job>.shard-<shard>.h5)
  std::uint64_t row;               // row of the matrix in that shard's "data"
  std::uint64_t raw_bytes;         // uncompressed size
  std::uint64_t compressed_bytes;  // stored chunk size
  std::uint32_t crc32;             // zlib CRC-32 of the raw bytes (native byte order)
  double min, max, mean;           // of the values, as float64
  std::int32_t producer, compressor, writer;  // world ranks that handled it
  double t_produced, t_compressed, t_written;  // seconds since the job started
};

}  // namespace shmjob
