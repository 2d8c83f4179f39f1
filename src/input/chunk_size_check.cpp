#include "input/chunk_size_check.hpp"

extern "C" {  // libaec's szlib.h declares C functions without saying so
#include <szlib.h>
}

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "h5/h5_handle.hpp"
#include "h5/zstd_filter.hpp"
#include "shmjob/error.hpp"
#include "shmjob/matrix_shape.hpp"

namespace shmjob {
namespace {

constexpr unsigned kScaleoffsetInteger = 2;     // H5Z_SO_INT in the first stored parameter
constexpr std::size_t kScaleoffsetHeader = 21;  // bit width (4), minimum's size (1), minimum (16)

std::size_t clamp_size(unsigned long long size) {
  return size > std::numeric_limits<std::size_t>::max() ? std::numeric_limits<std::size_t>::max()
                                                        : static_cast<std::size_t>(size);
}

// H5Z_filter_shuffle's reverse: element bytes were grouped by position; a tail shorter than one
// element was left in place.
void unshuffle(const std::vector<unsigned char>& in, std::vector<unsigned char>& out, std::size_t element) {
  out.resize(in.size());
  const std::size_t count = element > 1 ? in.size() / element : 0;
  if (count == 0) {
    out = in;
    return;
  }
  for (std::size_t b = 0; b < element; ++b)
    for (std::size_t i = 0; i < count; ++i) out[i * element + b] = in[b * count + i];
  std::copy(in.begin() + static_cast<std::ptrdiff_t>(count * element), in.end(),
            out.begin() + static_cast<std::ptrdiff_t>(count * element));
}

// The sum of the content sizes the frames in `data` declare; nullopt if one declares none or the
// data is not a sequence of whole frames.
std::optional<unsigned long long> zstd_declared_size(const unsigned char* data, std::size_t size) {
  unsigned long long total = 0;
  while (size > 0) {
    const unsigned long long content = ZSTD_getFrameContentSize(data, size);
    const std::size_t frame = ZSTD_findFrameCompressedSize(data, size);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN || ZSTD_isError(frame) || frame == 0 ||
        frame > size)
      return std::nullopt;
    total += std::min<unsigned long long>(content, std::numeric_limits<unsigned long long>::max() - total);
    data += frame;
    size -= frame;
  }
  return total;
}

// The decoders below take memory as the stream yields bytes, never what a file claims: a few
// bytes of a forged chunk must not make the reader allocate the (up to 4 GiB) chunk it declares.
// `out` null: only the size is counted, through a fixed window; else `out` starts at `hint`
// bytes (a bound the stream's own size sets) and grows as bytes come. The result is the decoded
// size, limit + 1 once the stream yields more than `limit`, or nullopt for a stream the decoder
// rejects (corrupt or truncated).
constexpr std::size_t kDecodeWindow = std::size_t{1} << 16;
constexpr std::size_t kDeflateMaxRatio = 1032;  // deflate's densest code: 258 bytes from 2 bits

class DecodeSink {
 public:
  DecodeSink(std::vector<unsigned char>* out, std::size_t hint) : out_(out) {
    if (out_ != nullptr && out_->size() < hint) out_->resize(hint);
  }
  // Where the next bytes go, and how many fit there.
  std::pair<unsigned char*, std::size_t> room() {
    if (out_ == nullptr) return {window_.data(), window_.size()};
    if (out_->size() - done_ < kDecodeWindow) out_->resize(done_ + std::max(kDecodeWindow, done_ / 2));
    return {out_->data() + done_, out_->size() - done_};
  }
  void produced(std::size_t n) { done_ += n; }
  std::size_t done() const { return done_; }
  ~DecodeSink() {
    if (out_ != nullptr) out_->resize(std::min(done_, out_->size()));
  }
  DecodeSink(const DecodeSink&) = delete;
  DecodeSink& operator=(const DecodeSink&) = delete;

 private:
  std::vector<unsigned char>* out_;
  std::array<unsigned char, kDecodeWindow> window_;
  std::size_t done_ = 0;
};

struct EndInflate {
  void operator()(z_stream* s) const noexcept { ::inflateEnd(s); }
};

// zlib's format (HDF5's deflate filter), as uncompress() decodes it.
std::optional<std::size_t> inflate_bounded(const unsigned char* in, std::size_t size, std::size_t limit,
                                           std::vector<unsigned char>* out) {
  if (size > std::numeric_limits<uInt>::max()) return std::nullopt;  // beyond any chunk HDF5 stores
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return std::nullopt;
  const std::unique_ptr<z_stream, EndInflate> end(&stream);
  stream.next_in = const_cast<Bytef*>(in);
  stream.avail_in = static_cast<uInt>(size);
  DecodeSink sink(out, std::min(limit + 1, size * kDeflateMaxRatio + kDecodeWindow));
  for (;;) {
    const auto [where, room] = sink.room();
    stream.next_out = where;
    stream.avail_out = static_cast<uInt>(std::min<std::size_t>(room, std::numeric_limits<uInt>::max()));
    const uInt offered = stream.avail_out;
    const int rc = ::inflate(&stream, Z_NO_FLUSH);
    sink.produced(offered - stream.avail_out);
    if (sink.done() > limit) return limit + 1;
    if (rc == Z_STREAM_END) return sink.done();
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && stream.avail_out == 0)) return std::nullopt;  // corrupt, or cut short
  }
}

struct FreeDCtx {
  void operator()(ZSTD_DCtx* c) const noexcept { ZSTD_freeDCtx(c); }
};

// Every frame in `in`, one after another, as ZSTD_decompress decodes them.
std::optional<std::size_t> zstd_bounded(const unsigned char* in, std::size_t size, std::size_t limit,
                                        std::vector<unsigned char>* out) {
  const std::unique_ptr<ZSTD_DCtx, FreeDCtx> context(ZSTD_createDCtx());
  if (!context) return std::nullopt;
  DecodeSink sink(out, std::min(limit + 1, std::max(kDecodeWindow, 4 * size)));
  ZSTD_inBuffer input{in, size, 0};
  std::size_t pending = 1;  // 0 once the frame being decoded is complete
  while (input.pos < input.size || pending != 0) {
    const auto [where, room] = sink.room();
    ZSTD_outBuffer output{where, room, 0};
    const std::size_t consumed = input.pos;
    pending = ZSTD_decompressStream(context.get(), &output, &input);
    if (ZSTD_isError(pending)) return std::nullopt;
    sink.produced(output.pos);
    if (sink.done() > limit) return limit + 1;
    if (output.pos == 0 && input.pos == consumed) return std::nullopt;  // input ended inside a frame
  }
  return sink.done();
}

}  // namespace

std::optional<ChunkSizeCheck> ChunkSizeCheck::for_dataset(hid_t dataset, h5::FilterPlugins& plugins,
                                                          hid_t memory_type) {
  h5::PropList dcpl(H5Dget_create_plist(dataset), "H5Dget_create_plist");
  if (H5Pget_layout(dcpl) != H5D_CHUNKED) return std::nullopt;
  const int filters = h5::check(H5Pget_nfilters(dcpl), "H5Pget_nfilters");
  if (filters == 0) return std::nullopt;
  ChunkSizeCheck check;
  check.plugins_ = &plugins;
  for (int i = 0; i < filters; ++i) {
    Step step;
    std::size_t count = 0;
    unsigned config = 0;
    h5::check(H5Pget_filter2(dcpl, static_cast<unsigned>(i), &step.flags, &count, nullptr, 0, nullptr, &config),
              "H5Pget_filter2");
    step.parameters.resize(count);
    step.id = h5::check(H5Pget_filter2(dcpl, static_cast<unsigned>(i), &step.flags, &count, step.parameters.data(), 0,
                                       nullptr, &config),
                        "H5Pget_filter2");
    check.steps_.push_back(std::move(step));
  }
  const int rank = h5::check(H5Pget_chunk(dcpl, 0, nullptr), "H5Pget_chunk");
  check.chunk_.resize(static_cast<std::size_t>(rank));
  h5::check(H5Pget_chunk(dcpl, rank, check.chunk_.data()), "H5Pget_chunk");
  h5::Datatype type(H5Dget_type(dataset), "H5Dget_type");
  // The dims come from the file: multiplied checked (HDF5 refuses to open a layout beyond its
  // limit; checked again here, where the size is used).
  std::uint64_t bytes = H5Tget_size(type);
  for (const hsize_t c : check.chunk_)
    if (__builtin_mul_overflow(bytes, std::uint64_t{c}, &bytes)) bytes = std::numeric_limits<std::uint64_t>::max();
  if (bytes > kMaxChunkBytes)
    throw InputError("a chunk of more than " + std::to_string(kMaxChunkBytes) +
                     " bytes, HDF5's limit (corrupt chunk layout)");
  check.expected_ = static_cast<std::size_t>(bytes);
  // One chunk per matrix: chunk [1, rows, cols] of [n, rows, cols], or the whole 2-D dataset.
  h5::Dataspace space(H5Dget_space(dataset), "H5Dget_space");
  std::vector<hsize_t> dims(check.chunk_.size());
  const bool same_shape =
      H5Sget_simple_extent_ndims(space) == rank && H5Sget_simple_extent_dims(space, dims.data(), nullptr) == rank &&
      ((rank == 3 && check.chunk_[0] == 1 && check.chunk_[1] == dims[1] && check.chunk_[2] == dims[2]) ||
       (rank == 2 && check.chunk_ == dims));
  const bool decoded_here = std::none_of(check.steps_.begin(), check.steps_.end(), [](const Step& step) {
    return step.id == H5Z_FILTER_FLETCHER32 || step.id == H5Z_FILTER_NBIT || step.id == H5Z_FILTER_SCALEOFFSET;
  });
  check.whole_chunks_ = same_shape && decoded_here && H5Tequal(type, memory_type) > 0;
  // No compressor in use grows incompressible data by nearly this much (fletcher32 adds 4 bytes,
  // szip 4): more is a forged size, and decoding it would allocate what the file claims.
  check.limit_ = check.expected_ + check.expected_ / 8 + 65536;
  return check;
}

std::string ChunkSizeCheck::check(hid_t dataset, bool sliced, std::uint64_t index, std::uint32_t rows,
                                  std::uint32_t cols) {
  // The chunk grid over the matrix: the slice's chunk along dim 0 (sliced), every chunk row and
  // column the matrix covers.
  const std::size_t r = sliced ? 1 : 0;
  const hsize_t slab = sliced ? index / chunk_[0] : 0;
  const hsize_t chunk_rows = (rows + chunk_[r] - 1) / chunk_[r],
                chunk_cols = (cols + chunk_[r + 1] - 1) / chunk_[r + 1];
  for (hsize_t cr = 0; cr < chunk_rows; ++cr)
    for (hsize_t cc = 0; cc < chunk_cols; ++cc) {
      const std::uint64_t number = (slab * chunk_rows + cr) * chunk_cols + cc;
      if (!checked_.insert(number).second) continue;
      std::array<hsize_t, 3> offset{};
      if (sliced) offset[0] = slab * chunk_[0];
      offset[r] = cr * chunk_[r];
      offset[r + 1] = cc * chunk_[r + 1];
      const StoredChunk chunk = decode_stored(dataset, offset.data(), false);
      if (!chunk.problem.empty()) return chunk.problem;  // a stream rejected here fails H5Dread too
    }
  return "";
}

std::optional<std::string> ChunkSizeCheck::read_whole_chunk(hid_t dataset, bool sliced, std::uint64_t index,
                                                            void* destination) {
  if (!whole_chunks_) return std::nullopt;
  const std::array<hsize_t, 3> offset{sliced ? index : 0, 0, 0};
  const StoredChunk chunk = decode_stored(dataset, offset.data(), true);
  if (!chunk.stored) return std::nullopt;  // never written: H5Dread reads the fill value
  if (!chunk.problem.empty()) return chunk.problem;
  if (!chunk.size) return std::nullopt;  // a stream rejected here: H5Dread reports it as HDF5 sees it
  std::memcpy(destination, raw_.data(), expected_);
  return std::string();
}

ChunkSizeCheck::StoredChunk ChunkSizeCheck::decode_stored(hid_t dataset, const hsize_t* offset, bool keep_bytes) {
  StoredChunk chunk;
  unsigned stored_mask = 0;
  haddr_t address = HADDR_UNDEF;
  hsize_t stored = 0;
  h5::check(H5Dget_chunk_info_by_coord(dataset, offset, &stored_mask, &address, &stored), "H5Dget_chunk_info_by_coord");
  if (address == HADDR_UNDEF || stored == 0) return chunk;  // never written: nothing to decode
  chunk.stored = true;
  // H5Dread_chunk writes as many bytes as its own lookup finds, which H5Dget_chunk_storage_size
  // shares; a corrupt index can list one offset twice, and the other lookup finds the other entry.
  hsize_t read_size = 0;
  h5::check(H5Dget_chunk_storage_size(dataset, offset, &read_size), "H5Dget_chunk_storage_size");
  if (read_size != stored) {
    chunk.problem = "the chunk index lists the chunk twice (" + std::to_string(stored) + " and " +
                    std::to_string(read_size) + " bytes stored; corrupt chunk index)";
    return chunk;
  }
  if (stored > limit_) {
    chunk.problem = "a filtered chunk is stored as " + std::to_string(stored) + " bytes, too many for a chunk of " +
                    std::to_string(expected_) + " (corrupt chunk index)";
    return chunk;
  }
  raw_.resize(static_cast<std::size_t>(stored));
  std::uint32_t mask = 0;
  h5::check(H5Dread_chunk(dataset, H5P_DEFAULT, offset, &mask, raw_.data()), "H5Dread_chunk");
  chunk.size = decoded_size(raw_, mask, keep_bytes);
  if (!problem_.empty()) {
    chunk.problem = problem_;
  } else if (chunk.size && *chunk.size != expected_) {
    const bool more = *chunk.size > expected_;
    chunk.problem = "a filtered chunk decodes to " + std::string(more ? "more than " : "") +
                    std::to_string(more ? expected_ : *chunk.size) + " bytes, not the chunk's " +
                    std::to_string(expected_) + " (corrupt or forged compressed data)";
  }
  return chunk;
}

std::optional<std::size_t> ChunkSizeCheck::decoded_size(std::vector<unsigned char>& bytes, unsigned mask,
                                                        bool keep_bytes) {
  // Decoding runs the pipeline backwards. A stage whose output only matters by its size (nothing
  // below it but shuffle and fletcher32, which keep or trim sizes) may skip producing bytes.
  problem_.clear();
  std::size_t size = bytes.size();
  bool have_bytes = true;  // false once a stage yields only a size
  const auto applied = [&](std::size_t i) { return i >= 32 || (mask & (1u << i)) == 0; };
  for (std::size_t i = steps_.size(); i-- > 0;) {
    if (!applied(i)) continue;
    const Step& step = steps_[i];
    bool bytes_below = keep_bytes;
    for (std::size_t j = 0; j < i; ++j)
      if (applied(j) && steps_[j].id != H5Z_FILTER_SHUFFLE && steps_[j].id != H5Z_FILTER_FLETCHER32) bytes_below = true;
    const std::vector<unsigned>& p = step.parameters;
    if (step.id == H5Z_FILTER_SHUFFLE) {
      if (have_bytes && bytes_below && !p.empty()) {
        unshuffle(bytes, scratch_, p[0]);
        bytes.swap(scratch_);
      }
      continue;
    }
    if (step.id == H5Z_FILTER_FLETCHER32) {  // verifies and drops its 4 checksum bytes
      if (size < 4) return std::nullopt;
      size -= 4;
      if (have_bytes) bytes.resize(size);
      continue;
    }
    if (step.id == H5Z_FILTER_NBIT || step.id == H5Z_FILTER_SCALEOFFSET) {
      // Parameters 2 and 4 are the elements per chunk and the element size; a "nothing to
      // pack" flag (nbit: parameter 1; scaleoffset: integers at full width) passes bytes through.
      if (p.size() < 5) return std::nullopt;
      const bool pass_through =
          step.id == H5Z_FILTER_NBIT ? p[1] != 0 : p[0] == kScaleoffsetInteger && p[1] == p[4] * 8;
      if (pass_through) continue;
      if (step.id == H5Z_FILTER_SCALEOFFSET && have_bytes) {
        // HDF5 reads the packed values without checking the stored length: a chunk shorter than
        // its bit width and element count need makes it read past the chunk (heap bytes).
        if (size < kScaleoffsetHeader) return std::nullopt;
        const unsigned long long bits = std::uint32_t{bytes[0]} | std::uint32_t{bytes[1]} << 8 |
                                        std::uint32_t{bytes[2]} << 16 | std::uint32_t{bytes[3]} << 24;
        if (bits > 8ull * p[4] || size - kScaleoffsetHeader < (static_cast<unsigned long long>(p[2]) * bits + 7) / 8) {
          problem_ = "a scaleoffset chunk holds " + std::to_string(size) + " bytes, fewer than its " +
                     std::to_string(p[2]) + " values of " + std::to_string(bits) +
                     " bits need (corrupt or forged compressed data)";
          return std::nullopt;
        }
      }
      size = clamp_size(static_cast<unsigned long long>(p[2]) * p[4]);
      if (bytes_below) return std::nullopt;  // its bytes cannot be produced here
      have_bytes = false;
      continue;
    }
    if (!have_bytes) return std::nullopt;
    if (step.id == H5Z_FILTER_DEFLATE) {
      const std::optional<std::size_t> decoded =
          inflate_bounded(bytes.data(), size, limit_, bytes_below ? &scratch_ : nullptr);
      if (!decoded || *decoded > limit_) return decoded;
      size = *decoded;
      if (!bytes_below) {
        have_bytes = false;
        continue;
      }
    } else if (step.id == h5::kZstdFilterId) {
      if (!bytes_below) {  // zstd itself fails a frame that decodes to other than it declares
        const std::optional<unsigned long long> declared = zstd_declared_size(bytes.data(), size);
        if (!declared) return std::nullopt;
        if (*declared > limit_) return limit_ + 1;
        size = clamp_size(*declared);
        have_bytes = false;
        continue;
      }
      const std::optional<std::size_t> decoded = zstd_bounded(bytes.data(), size, limit_, &scratch_);
      if (!decoded || *decoded > limit_) return decoded;
      size = *decoded;
    } else if (step.id == H5Z_FILTER_SZIP) {
      // A 4-byte little-endian size, then libaec's stream (H5Z_filter_szip).
      if (p.size() < 4 || size < 4) return std::nullopt;
      const std::size_t declared = std::size_t{bytes[0]} | std::size_t{bytes[1]} << 8 | std::size_t{bytes[2]} << 16 |
                                   std::size_t{bytes[3]} << 24;
      if (declared > limit_) return limit_ + 1;
      SZ_com_t parameters{};
      parameters.options_mask = static_cast<int>(p[H5Z_SZIP_PARM_MASK]);
      parameters.pixels_per_block = static_cast<int>(p[H5Z_SZIP_PARM_PPB]);
      parameters.bits_per_pixel = static_cast<int>(p[H5Z_SZIP_PARM_BPP]);
      parameters.pixels_per_scanline = static_cast<int>(p[H5Z_SZIP_PARM_PPS]);
      scratch_.resize(std::max<std::size_t>(declared, 1));
      size_t out = declared;
      if (SZ_BufftoBuffDecompress(scratch_.data(), &out, bytes.data() + 4, size - 4, &parameters) != SZ_OK)
        return std::nullopt;
      size = out;
    } else {
      bytes.resize(size);
      const std::optional<std::size_t> decoded = run_plugin(step, bytes);
      if (!decoded) return std::nullopt;
      if (*decoded > limit_) return limit_ + 1;
      size = *decoded;
      continue;  // run_plugin left its output in `bytes`
    }
    scratch_.resize(size);
    bytes.swap(scratch_);
  }
  return size;
}

std::optional<std::size_t> ChunkSizeCheck::run_plugin(const Step& step, std::vector<unsigned char>& bytes) {
  const H5Z_class2_t* filter = plugins_ != nullptr ? plugins_->find(step.id) : nullptr;
  if (filter == nullptr) return std::nullopt;  // HDF5 cannot read the chunk either
  // A filter frees or reallocates the buffer it is given, through HDF5's allocator.
  std::size_t capacity = std::max<std::size_t>(bytes.size(), 1);
  void* buffer = H5allocate_memory(capacity, false);
  if (buffer == nullptr) return std::nullopt;
  std::memcpy(buffer, bytes.data(), bytes.size());
  const std::size_t decoded = filter->filter(step.flags | H5Z_FLAG_REVERSE, step.parameters.size(),
                                             step.parameters.data(), bytes.size(), &capacity, &buffer);
  std::optional<std::size_t> result;
  if (decoded != 0 && buffer != nullptr) {
    result = decoded;
    if (decoded <= limit_)
      bytes.assign(static_cast<unsigned char*>(buffer), static_cast<unsigned char*>(buffer) + decoded);
  }
  H5free_memory(buffer);
  return result;
}

}  // namespace shmjob
