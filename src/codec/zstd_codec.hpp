#pragma once
// zstd compression of one matrix into a caller-provided buffer. Frames always carry the content
// size (HDF5's zstd filter 32015 relies on it to size the output buffer when reading).
#include <cstddef>
#include <memory>

#include <zstd.h>

namespace shmjob::codec {

// Upper bound of a compressed frame for `raw_bytes` input (ZSTD_compressBound).
std::size_t compressed_bound(std::size_t raw_bytes) noexcept;

// One compression context, reused for every matrix a compressor handles (RAII over ZSTD_CCtx).
class ZstdCompressor {
 public:
  // Accepts zstd's own range, ZSTD_minCLevel()..ZSTD_maxCLevel() (-131072..22 with zstd 1.5.4;
  // 0 means zstd's default, 3; negative levels are the fast modes). zstd itself would silently
  // clamp anything else; we throw CodecError instead.
  explicit ZstdCompressor(int level);
  // For the frames from now on (same range as the constructor's).
  void set_level(int level);
  int level() const noexcept { return level_; }
  // Returns the frame size; throws CodecError if zstd fails (e.g. `capacity` too small).
  std::size_t compress(const void* raw, std::size_t raw_bytes, void* out, std::size_t capacity);

 private:
  struct Free {
    void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
  };
  std::unique_ptr<ZSTD_CCtx, Free> ctx_;
  int level_;
};

// Decompresses one frame into `out`, which must hold exactly the frame's content size.
// Throws CodecError on a corrupt frame or a size mismatch.
void decompress(const void* frame, std::size_t frame_bytes, void* out, std::size_t raw_bytes);

}  // namespace shmjob::codec
