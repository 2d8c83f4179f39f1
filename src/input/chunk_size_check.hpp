#pragma once
// HDF5 does not check that a filter pipeline decoded a whole chunk: a stream that decodes to
// fewer bytes than the chunk leaves the rest of HDF5's chunk buffer as it was (earlier chunks,
// heap bytes), and H5Dread copies that into the slot without an error. So the reader decodes each
// filtered chunk a read uses, once, before the read, and requires exactly the chunk's size:
// - shuffle, fletcher32, deflate, zstd and szip are replayed here (the same libraries HDF5 uses);
// - any other filter runs through its plugin's own filter function (h5::FilterPlugins);
// - nbit and scaleoffset (built into HDF5) produce what their stored parameters declare, which
//   must be the chunk's size.
// A stream the decoder rejects is left to H5Dread, which rejects it too.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "h5/filter_plugins.hpp"

namespace shmjob {

class ChunkSizeCheck {
 public:
  // nullopt for a dataset whose chunks need no check (contiguous, compact, or unfiltered chunks:
  // HDF5 reads exactly a chunk's size for those). `plugins` must outlive the check;
  // `memory_type` is the type the matrices are read as.
  static std::optional<ChunkSizeCheck> for_dataset(hid_t dataset, h5::FilterPlugins& plugins, hid_t memory_type);

  // Checks the chunks that matrix `index` (sliced: [index, :rows, :cols]; else [:rows, :cols])
  // touches and that were not checked before. Returns "" or the problem, one line. Throws
  // H5Error if a chunk cannot be read raw.
  std::string check(hid_t dataset, bool sliced, std::uint64_t index, std::uint32_t rows, std::uint32_t cols);

  // The read itself, for the common layout where a matrix is exactly one stored chunk, the
  // whole pipeline is decoded here (no fletcher32, whose checksum HDF5 verifies; no nbit or
  // scaleoffset) and the file's element type is `memory_type`: the chunk is decoded once,
  // straight into `destination` (H5Dread would decode it a second time). nullopt when that does
  // not apply (the caller then runs check() and H5Dread); "" when the matrix was read; else the
  // problem, one line. Throws H5Error if the chunk cannot be read raw.
  std::optional<std::string> read_whole_chunk(hid_t dataset, bool sliced, std::uint64_t index, void* destination);

  // What the pipeline decodes `bytes` (a chunk as stored, with its filter mask; used up) to: its
  // size, any stage's output beyond limit() reported as limit() + 1, or nullopt when a filter
  // rejects the stream or cannot be run here, or when HDF5 would read past the stored bytes
  // (then problem() says so). With `keep_bytes`, `bytes` ends holding what it decodes to
  // (else a last stage whose size is declared may skip decoding).
  std::optional<std::size_t> decoded_size(std::vector<unsigned char>& bytes, unsigned mask, bool keep_bytes = false);

  std::size_t chunk_bytes() const { return expected_; }
  std::size_t limit() const { return limit_; }
  const std::string& problem() const { return problem_; }

 private:
  struct Step {
    H5Z_filter_t id = 0;
    unsigned flags = 0;
    std::vector<unsigned> parameters;  // the filter's cd_values as stored
  };
  std::optional<std::size_t> run_plugin(const Step& step, std::vector<unsigned char>& bytes);
  // The chunk at `offset` read raw and decoded (keep_bytes: raw_ then holds what it decodes to).
  struct StoredChunk {
    bool stored = false;              // false: never written (HDF5 reads the fill value)
    std::optional<std::size_t> size;  // as decoded_size()
    std::string problem;              // "" unless the chunk is refused
  };
  StoredChunk decode_stored(hid_t dataset, const hsize_t* offset, bool keep_bytes);

  std::vector<Step> steps_;  // in the order HDF5 applies them when writing
  h5::FilterPlugins* plugins_ = nullptr;
  std::size_t expected_ = 0;    // a chunk's size in bytes
  std::size_t limit_ = 0;       // no stage may decode to more (a forged size would allocate it)
  std::vector<hsize_t> chunk_;  // chunk dims
  bool whole_chunks_ = false;   // read_whole_chunk applies: one chunk per matrix, decodable here, same type
  std::unordered_set<std::uint64_t> checked_;  // linear chunk numbers
  std::vector<unsigned char> raw_, scratch_;
  std::string problem_;  // set by decoded_size when a stream is too short to decode safely
};

}  // namespace shmjob
