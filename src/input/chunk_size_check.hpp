#pragma once
// HDF5 does not check that a filter decoded a whole chunk: a deflate or zstd stream that decodes
// to fewer bytes than the chunk leaves the rest of HDF5's chunk buffer as it was (earlier chunks,
// heap bytes), and H5Dread copies that into the slot without an error. So the reader checks each
// compressed chunk a read used, once: a zstd frame's header must declare the chunk's size (the
// filter already refuses a frame that decodes to anything but what it declares), and a deflate
// stream must inflate to exactly the chunk's size. Other pipelines (nbit, scaleoffset, other
// plugins, two compressors) are not checked: their sizes cannot be predicted here.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace shmjob {

class ChunkSizeCheck {
 public:
  // nullopt for a dataset whose chunks need no check (contiguous, compact, unfiltered, or an
  // unpredictable pipeline).
  static std::optional<ChunkSizeCheck> for_dataset(hid_t dataset);

  // Checks the chunks that matrix `index` (sliced: [index, :rows, :cols]; else [:rows, :cols])
  // touches and that were not checked before. Returns "" or the problem, one line. Throws
  // H5Error if a chunk cannot be read raw.
  std::string check(hid_t dataset, bool sliced, std::uint64_t index, std::uint32_t rows, std::uint32_t cols);

 private:
  enum class Codec { deflate, zstd };
  Codec codec_ = Codec::deflate;
  unsigned codec_bit_ = 0;     // the compressor's bit in a chunk's filter mask (set: not applied)
  std::size_t expected_ = 0;   // what the compressor must decode to
  std::vector<hsize_t> chunk_; // chunk dims
  std::unordered_set<std::uint64_t> checked_;  // linear chunk numbers
  std::vector<unsigned char> raw_, scratch_;
};

}  // namespace shmjob
