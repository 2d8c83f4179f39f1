#include "input/chunk_size_check.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <limits>

#include "h5/h5_handle.hpp"
#include "h5/zstd_filter.hpp"

namespace shmjob {

std::optional<ChunkSizeCheck> ChunkSizeCheck::for_dataset(hid_t dataset) {
  h5::PropList dcpl(H5Dget_create_plist(dataset), "H5Dget_create_plist");
  if (H5Pget_layout(dcpl) != H5D_CHUNKED) return std::nullopt;
  const int filters = h5::check(H5Pget_nfilters(dcpl), "H5Pget_nfilters");
  ChunkSizeCheck check;
  bool fletcher_first = false;
  int compressors = 0;
  for (int i = 0; i < filters; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t cd_count = 0;
    const H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &cd_count, nullptr, 0, nullptr, &config);
    if (id < 0) h5::fail("H5Pget_filter2");
    if (id == H5Z_FILTER_FLETCHER32) {
      fletcher_first = compressors == 0;  // its 4 checksum bytes are compressed too
    } else if (id == H5Z_FILTER_DEFLATE || id == h5::kZstdFilterId) {
      ++compressors;
      check.codec_ = id == H5Z_FILTER_DEFLATE ? Codec::deflate : Codec::zstd;
      check.codec_bit_ = 1u << i;
    } else if (id != H5Z_FILTER_SHUFFLE) {
      return std::nullopt;
    }
  }
  if (compressors != 1) return std::nullopt;
  const int rank = h5::check(H5Pget_chunk(dcpl, 0, nullptr), "H5Pget_chunk");
  check.chunk_.resize(static_cast<std::size_t>(rank));
  h5::check(H5Pget_chunk(dcpl, rank, check.chunk_.data()), "H5Pget_chunk");
  h5::Datatype type(H5Dget_type(dataset), "H5Dget_type");
  std::size_t bytes = H5Tget_size(type);
  for (const hsize_t c : check.chunk_) bytes *= static_cast<std::size_t>(c);
  check.expected_ = bytes + (fletcher_first ? 4 : 0);
  return check;
}

std::string ChunkSizeCheck::check(hid_t dataset, bool sliced, std::uint64_t index, std::uint32_t rows,
                                  std::uint32_t cols) {
  // The chunk grid over the matrix: the slice's chunk along dim 0 (sliced), every chunk row and
  // column the matrix covers.
  const std::size_t r = sliced ? 1 : 0;
  const hsize_t slab = sliced ? index / chunk_[0] : 0;
  const hsize_t chunk_rows = (rows + chunk_[r] - 1) / chunk_[r], chunk_cols = (cols + chunk_[r + 1] - 1) / chunk_[r + 1];
  for (hsize_t cr = 0; cr < chunk_rows; ++cr)
    for (hsize_t cc = 0; cc < chunk_cols; ++cc) {
      const std::uint64_t number = (slab * chunk_rows + cr) * chunk_cols + cc;
      if (!checked_.insert(number).second) continue;
      std::array<hsize_t, 3> offset{};
      if (sliced) offset[0] = slab * chunk_[0];
      offset[r] = cr * chunk_[r];
      offset[r + 1] = cc * chunk_[r + 1];
      unsigned stored_mask = 0;
      haddr_t address = HADDR_UNDEF;
      hsize_t stored = 0;
      h5::check(H5Dget_chunk_info_by_coord(dataset, offset.data(), &stored_mask, &address, &stored),
                "H5Dget_chunk_info_by_coord");
      if (address == HADDR_UNDEF || stored == 0) continue;  // never written: HDF5 fills it, nothing is decoded
      // deflate and zstd grow incompressible data by far less than this: a larger stored chunk
      // is a corrupt index entry, and reading it would allocate what the file claims.
      if (stored > expected_ + expected_ / 8 + 65536)
        return "a compressed chunk is stored as " + std::to_string(stored) + " bytes, too many for a chunk of " +
               std::to_string(expected_) + " (corrupt chunk index)";
      raw_.resize(static_cast<std::size_t>(stored));
      std::uint32_t mask = 0;
      h5::check(H5Dread_chunk(dataset, H5P_DEFAULT, offset.data(), &mask, raw_.data()), "H5Dread_chunk");
      if ((mask & codec_bit_) != 0) continue;  // stored uncompressed
      std::size_t decoded = 0;
      if (codec_ == Codec::zstd) {
        const unsigned long long size = ZSTD_getFrameContentSize(raw_.data(), raw_.size());
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) continue;  // the filter refuses it
        decoded = size > std::numeric_limits<std::size_t>::max() ? std::numeric_limits<std::size_t>::max()
                                                                  : static_cast<std::size_t>(size);
      } else {
        // One byte more than expected: a stream that fills it is too long.
        scratch_.resize(expected_ + 1);
        uLongf length = static_cast<uLongf>(scratch_.size());
        const int rc = ::uncompress(scratch_.data(), &length, raw_.data(), static_cast<uLong>(raw_.size()));
        if (rc != Z_OK && rc != Z_BUF_ERROR) continue;  // a corrupt stream: HDF5's read fails on it
        decoded = rc == Z_BUF_ERROR ? scratch_.size() : static_cast<std::size_t>(length);
      }
      if (decoded != expected_)
        return "a compressed chunk decodes to " + std::string(decoded > expected_ ? "more than " : "") +
               std::to_string(decoded > expected_ ? expected_ : decoded) + " bytes, not the chunk's " +
               std::to_string(expected_) + " (corrupt or forged compressed data)";
    }
  return "";
}

}  // namespace shmjob
