#include "h5/zstd_filter.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include <zstd.h>

// Linked into the standalone plugin too, which must not depend on libhdf5: only types and macros
// from H5Zpublic.h here, never an HDF5 function. Buffers are malloc/free because HDF5 1.10 frees
// and reallocates filter buffers with the C allocator.

namespace shmjob::h5 {
namespace {

constexpr int kDefaultLevel = 3;  // when the dataset stores no cd_values

struct FreeCCtx {
  void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};

// Replaces HDF5's buffer with `out` (of `out_capacity` bytes); returns the valid byte count.
std::size_t hand_over(void* out, std::size_t out_capacity, std::size_t valid, std::size_t* buf_size,
                      void** buf) noexcept {
  std::free(*buf);
  *buf = out;
  *buf_size = out_capacity;
  return valid;
}

// cd_values are unsigned; negative (fast) levels arrive in two's complement.
int level_from(std::size_t cd_nelmts, const unsigned cd_values[]) noexcept {
  return cd_nelmts > 0 ? static_cast<int>(cd_values[0]) : kDefaultLevel;
}

std::size_t compress_chunk(int level, std::size_t nbytes, std::size_t* buf_size, void** buf) noexcept {
  const std::unique_ptr<ZSTD_CCtx, FreeCCtx> ctx(ZSTD_createCCtx());
  if (!ctx) return 0;
  // Out-of-range levels are clamped by zstd; the content size lets readers size their buffer.
  if (ZSTD_isError(ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_contentSizeFlag, 1)))
    return 0;
  const std::size_t capacity = ZSTD_compressBound(nbytes);
  void* out = std::malloc(capacity);
  if (out == nullptr) return 0;
  const std::size_t frame = ZSTD_compress2(ctx.get(), out, capacity, *buf, nbytes);
  if (ZSTD_isError(frame)) {
    std::free(out);
    return 0;
  }
  return hand_over(out, capacity, frame, buf_size, buf);
}

std::size_t decompress_chunk(std::size_t nbytes, std::size_t* buf_size, void** buf) noexcept {
  const unsigned long long content = ZSTD_getFrameContentSize(*buf, nbytes);
  // 0 is "failed" to HDF5, so an empty frame cannot be reported either. HDF5 does not tell a
  // filter the chunk's expected size, so a header claiming more than the frame could hold is
  // refused before anything is allocated (see zstd_max_content_size).
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN || content == 0 ||
      content > zstd_max_content_size(nbytes))
    return 0;
  const auto raw_bytes = static_cast<std::size_t>(content);
  void* out = std::malloc(raw_bytes);
  if (out == nullptr) return 0;
  const std::size_t written = ZSTD_decompress(out, raw_bytes, *buf, nbytes);
  if (ZSTD_isError(written) || written != raw_bytes) {
    std::free(out);
    return 0;
  }
  return hand_over(out, raw_bytes, written, buf_size, buf);
}

// The H5Z_func_t. Returning 0 tells HDF5 the filter failed; *buf is then left untouched.
std::size_t zstd_filter(unsigned flags, std::size_t cd_nelmts, const unsigned cd_values[], std::size_t nbytes,
                        std::size_t* buf_size, void** buf) noexcept {
  if (flags & H5Z_FLAG_REVERSE) return decompress_chunk(nbytes, buf_size, buf);
  return compress_chunk(level_from(cd_nelmts, cd_values), nbytes, buf_size, buf);
}

constexpr H5Z_class2_t kZstdClass{
    H5Z_CLASS_T_VERS,
    kZstdFilterId,
    1,  // encoder_present
    1,  // decoder_present
    "Zstandard compression: http://www.zstd.net",
    nullptr,  // can_apply
    nullptr,  // set_local
    zstd_filter,
};

}  // namespace

std::uint64_t zstd_max_content_size(std::size_t frame_bytes) noexcept {
  // Every block that yields data costs at least 4 bytes of the frame (a 3-byte block header and
  // one RLE byte) and yields at most ZSTD_BLOCKSIZE_MAX (128 KiB).
  const std::uint64_t by_blocks = (std::uint64_t{frame_bytes} / 4 + 1) * std::uint64_t{ZSTD_BLOCKSIZE_MAX};
  return std::min({by_blocks, kMaxChunkBytes, std::uint64_t{SIZE_MAX}});
}

const H5Z_class2_t* zstd_filter_class() noexcept { return &kZstdClass; }

}  // namespace shmjob::h5
