// libFuzzer target: arbitrary bytes as a stored zstd chunk, through the HDF5 filter 32015 (the
// function libh5zstd.so and shmjob's in-process registration share) the way HDF5 calls it, and
// through codec::decompress + unshuffle, the path a reader of our shards takes. A rejected chunk
// is fine; a crash, a sanitizer report, an allocation beyond zstd_max_content_size or a round
// trip that changes bytes is a bug.
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "codec/shuffle.hpp"
#include "codec/zstd_codec.hpp"
#include "fuzz_common.hpp"
#include "h5/zstd_filter.hpp"
#include "shmjob/error.hpp"

namespace {

using shmjob::fuzz::bug;

// Runs the filter on a malloc'd copy, as HDF5 does; returns the output bytes, empty on failure.
std::vector<std::uint8_t> run_filter(unsigned flags, unsigned level, const std::uint8_t* data, std::size_t size) {
  const H5Z_class2_t* filter = shmjob::h5::zstd_filter_class();
  std::size_t buf_size = size == 0 ? 1 : size;
  void* buf = std::malloc(buf_size);
  if (buf == nullptr) bug("malloc", "");
  if (size > 0) std::memcpy(buf, data, size);
  const unsigned cd_values[1] = {level};
  const std::size_t n = filter->filter(flags, 1, cd_values, size, &buf_size, &buf);
  std::vector<std::uint8_t> out;
  if (n > 0) {
    if (n > buf_size) bug("filter returned more bytes than its buffer holds", std::to_string(n));
    out.assign(static_cast<std::uint8_t*>(buf), static_cast<std::uint8_t*>(buf) + n);
  }
  std::free(buf);  // on failure HDF5 keeps (and later frees) its own buffer
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // 1. The bytes as a stored chunk, decoded by the filter.
  const std::vector<std::uint8_t> raw = run_filter(H5Z_FLAG_REVERSE, 0, data, size);
  if (!raw.empty()) {
    if (raw.size() > shmjob::h5::zstd_max_content_size(size))
      bug("filter decoded more than its bound", std::to_string(raw.size()));
    if (ZSTD_getFrameContentSize(data, size) != raw.size())
      bug("decoded size differs from the frame header", std::to_string(raw.size()));
  }

  // 2. codec::decompress with the size a reader expects (the header's claim, capped as a reader
  //    caps it by the dataset's chunk size), then unshuffle as for a shuffled dataset.
  const unsigned long long claimed = ZSTD_getFrameContentSize(data, size);
  const std::size_t expected = claimed < (std::size_t{1} << 20) ? static_cast<std::size_t>(claimed) : (size % 4096);
  std::vector<std::uint8_t> out(expected), unshuffled(expected);
  try {
    shmjob::codec::decompress(data, size, out.data(), out.size());
    if (out != raw && !(raw.empty() && expected == 0))
      bug("codec::decompress and the filter disagree", std::to_string(expected));
    const std::size_t element = std::size_t{1} << (size % 4);  // 1, 2, 4 or 8 bytes
    shmjob::codec::unshuffle(out.data(), unshuffled.data(), out.size(), element);
    std::vector<std::uint8_t> back(expected);
    shmjob::codec::shuffle(unshuffled.data(), back.data(), back.size(), element);
    if (back != out) bug("shuffle(unshuffle(x)) != x", std::to_string(element));
  } catch (const shmjob::CodecError&) {
  }

  // 3. The bytes as raw data: compressed by the filter, decoded again, must be identical.
  if (size > 0 && size <= (std::size_t{1} << 16)) {
    const unsigned level = data[0] % 6 + 1;
    const std::vector<std::uint8_t> frame = run_filter(0, level, data, size);
    if (frame.empty()) bug("filter could not compress", std::to_string(size));
    const std::vector<std::uint8_t> again = run_filter(H5Z_FLAG_REVERSE, 0, frame.data(), frame.size());
    if (again.size() != size || std::memcmp(again.data(), data, size) != 0)
      bug("compress + decompress changed the bytes", std::to_string(size));
  }
  return 0;
}
