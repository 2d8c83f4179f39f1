#include "codec/zstd_codec.hpp"

#include <string>

#include "shmjob/error.hpp"

namespace shmjob::codec {
namespace {

[[noreturn]] void fail(const std::string& what, std::size_t zstd_code) {
  throw CodecError("zstd: " + what + ": " + ZSTD_getErrorName(zstd_code));
}

void check(std::size_t zstd_code, const char* what) {
  if (ZSTD_isError(zstd_code)) fail(what, zstd_code);
}

// zstd clamps out-of-range levels silently; we would rather say so.
int validated_level(int level) {
  const ZSTD_bounds bounds = ZSTD_cParam_getBounds(ZSTD_c_compressionLevel);
  check(bounds.error, "cannot query the compression level bounds");
  if (level < bounds.lowerBound || level > bounds.upperBound)
    throw CodecError("zstd: compression level " + std::to_string(level) + " is outside " +
                     std::to_string(bounds.lowerBound) + ".." + std::to_string(bounds.upperBound));
  return level;
}

}  // namespace

std::size_t compressed_bound(std::size_t raw_bytes) noexcept { return ZSTD_compressBound(raw_bytes); }

ZstdCompressor::ZstdCompressor(int level) : ctx_(ZSTD_createCCtx()), level_(validated_level(level)) {
  if (!ctx_) throw CodecError("zstd: cannot allocate a compression context");
  check(ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_compressionLevel, level_), "cannot set the compression level");
  // Readers (the HDF5 filter) size their output from the frame header.
  check(ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_contentSizeFlag, 1), "cannot enable the content size flag");
}

void ZstdCompressor::set_level(int level) {
  if (level == level_) return;
  const int valid = validated_level(level);
  check(ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_compressionLevel, valid), "cannot set the compression level");
  level_ = valid;
}

std::size_t ZstdCompressor::compress(const void* raw, std::size_t raw_bytes, void* out, std::size_t capacity) {
  // ZSTD_compress2 keeps the parameters set above and records raw_bytes in the frame header.
  const std::size_t frame = ZSTD_compress2(ctx_.get(), out, capacity, raw, raw_bytes);
  check(frame, "compression failed");
  return frame;
}

void decompress(const void* frame, std::size_t frame_bytes, void* out, std::size_t raw_bytes) {
  const unsigned long long content = ZSTD_getFrameContentSize(frame, frame_bytes);
  if (content == ZSTD_CONTENTSIZE_ERROR) throw CodecError("zstd: not a zstd frame");
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) throw CodecError("zstd: frame does not record its content size");
  if (content != raw_bytes)
    throw CodecError("zstd: frame holds " + std::to_string(content) + " bytes, expected " + std::to_string(raw_bytes));
  const std::size_t written = ZSTD_decompress(out, raw_bytes, frame, frame_bytes);
  check(written, "decompression failed");
  if (written != raw_bytes)
    throw CodecError("zstd: decompressed " + std::to_string(written) + " bytes, expected " + std::to_string(raw_bytes));
}

}  // namespace shmjob::codec
