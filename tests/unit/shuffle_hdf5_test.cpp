// Our shuffle and zstd filter against HDF5 1.10 itself: the bytes HDF5 stores for a shuffled chunk
// must be exactly shuffle()'s, chunks written raw with H5Dwrite_chunk must read back through HDF5's
// pipeline, and the 32015 filter must work both in-process and when HDF5 applies it on H5Dwrite.
#include <gtest/gtest.h>

#include <hdf5.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "codec/shuffle.hpp"
#include "codec/zstd_codec.hpp"
#include "h5/h5_handle.hpp"
#include "h5/zstd_filter.hpp"
#include "shmjob/dtype.hpp"

namespace shmjob {
namespace {

using Bytes = std::vector<unsigned char>;
using Dims = std::array<hsize_t, 2>;

// ---- small helpers -----------------------------------------------------------------------------

// Owns one HDF5 identifier.
class Hid {
 public:
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hid(Hid&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() {
    if (id_ >= 0) close_(id_);
  }
  operator hid_t() const { return id_; }  // NOLINT: lets Hid stand in for hid_t in H5 calls

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// A file name under the temp directory, removed afterwards.
class TempFile {
 public:
  TempFile()
      : path_(std::filesystem::temp_directory_path() /
              ("shmjob_codec_" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".h5")) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { std::filesystem::remove(path_); }
  const char* c_str() const { return path_.c_str(); }

 private:
  std::filesystem::path path_;
};

Bytes noise(std::size_t bytes, std::uint64_t seed) {
  Bytes out(bytes);
  for (auto& b : out) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<unsigned char>(seed >> 56);
  }
  return out;
}

using h5::native_type;

// A 2-D chunked dataset layout and its data, with a fill value so edge chunks are predictable.
struct Layout {
  DType dtype;
  Dims dims;
  Dims chunk;

  std::size_t element_size() const { return dtype_size(dtype); }
  std::size_t elements() const { return dims[0] * dims[1]; }
  std::size_t chunk_bytes() const { return chunk[0] * chunk[1] * element_size(); }
  Bytes fill() const { return Bytes(element_size(), 0xA5); }

  // Origins of every chunk, row-major.
  std::vector<Dims> chunk_origins() const {
    std::vector<Dims> out;
    for (hsize_t r = 0; r < dims[0]; r += chunk[0])
      for (hsize_t c = 0; c < dims[1]; c += chunk[1]) out.push_back({r, c});
    return out;
  }

  // The chunk at `origin` as HDF5 holds it in memory: data inside the extent, fill outside.
  Bytes chunk_of(const Bytes& data, const Dims& origin) const {
    const std::size_t w = element_size();
    Bytes out(chunk_bytes());
    const Bytes fill_value = fill();
    for (hsize_t y = 0; y < chunk[0]; ++y)
      for (hsize_t x = 0; x < chunk[1]; ++x) {
        const hsize_t r = origin[0] + y, c = origin[1] + x;
        const unsigned char* src = (r < dims[0] && c < dims[1]) ? &data[(r * dims[1] + c) * w] : fill_value.data();
        std::memcpy(&out[(y * chunk[1] + x) * w], src, w);
      }
    return out;
  }
};

std::string describe(const Layout& l) {
  return std::string(dtype_name(l.dtype)) + " " + std::to_string(l.dims[0]) + "x" + std::to_string(l.dims[1]) +
         " chunks " + std::to_string(l.chunk[0]) + "x" + std::to_string(l.chunk[1]);
}

// Creation properties: chunked, fill value written at allocation, then `add_filters`.
template <class AddFilters>
Hid make_dcpl(const Layout& l, AddFilters add_filters) {
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  EXPECT_GE(H5Pset_chunk(dcpl, 2, l.chunk.data()), 0);
  const Bytes fill = l.fill();
  EXPECT_GE(H5Pset_fill_value(dcpl, native_type(l.dtype), fill.data()), 0);
  EXPECT_GE(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC), 0);
  add_filters(static_cast<hid_t>(dcpl));
  return dcpl;
}

Hid create_dataset(hid_t file, const Layout& l, hid_t dcpl) {
  Hid space(H5Screate_simple(2, l.dims.data(), nullptr), H5Sclose);
  return Hid(H5Dcreate2(file, "data", native_type(l.dtype), space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
}

Hid create_file(const TempFile& f) {
  return Hid(H5Fcreate(f.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
}

Hid open_file(const TempFile& f) { return Hid(H5Fopen(f.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose); }

Hid open_dataset(hid_t file) { return Hid(H5Dopen2(file, "data", H5P_DEFAULT), H5Dclose); }

Bytes read_all(hid_t dset, const Layout& l) {
  Bytes out(l.elements() * l.element_size());
  EXPECT_GE(H5Dread(dset, native_type(l.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), 0);
  return out;
}

// The stored bytes of one chunk, as H5Dread_chunk returns them (no filter applied).
Bytes read_raw_chunk(hid_t dset, const Dims& origin, std::uint32_t* filter_mask) {
  hsize_t stored = 0;
  EXPECT_GE(H5Dget_chunk_storage_size(dset, origin.data(), &stored), 0);
  Bytes out(stored);
  EXPECT_GE(H5Dread_chunk(dset, H5P_DEFAULT, origin.data(), filter_mask, out.data()), 0);
  return out;
}

void write_raw_chunk(hid_t dset, const Dims& origin, const Bytes& stored) {
  ASSERT_GE(H5Dwrite_chunk(dset, H5P_DEFAULT, 0, origin.data(), stored.size(), stored.data()), 0);
}

Bytes shuffled(const Bytes& in, std::size_t w) {
  Bytes out(in.size());
  codec::shuffle(in.data(), out.data(), in.size(), w);
  return out;
}

Bytes unshuffled(const Bytes& in, std::size_t w) {
  Bytes out(in.size());
  codec::unshuffle(in.data(), out.data(), in.size(), w);
  return out;
}

Bytes zstd_frame(const Bytes& raw, int level) {
  codec::ZstdCompressor z(level);
  Bytes frame(codec::compressed_bound(raw.size()));
  frame.resize(z.compress(raw.data(), raw.size(), frame.data(), frame.size()));
  return frame;
}

Bytes zstd_raw(const Bytes& frame, std::size_t raw_bytes) {
  Bytes raw(raw_bytes);
  codec::decompress(frame.data(), frame.size(), raw.data(), raw.size());
  return raw;
}

void add_shuffle(hid_t dcpl) { EXPECT_GE(H5Pset_shuffle(dcpl), 0); }

constexpr int kLevel = 3;

void add_shuffle_zstd(hid_t dcpl) {
  EXPECT_GE(H5Pset_shuffle(dcpl), 0);
  const unsigned cd_values[1] = {kLevel};
  EXPECT_GE(H5Pset_filter(dcpl, h5::kZstdFilterId, H5Z_FLAG_OPTIONAL, 1, cd_values), 0);
}

// Several dtypes, full and partial edge chunks, 1 element per chunk, chunk element counts that
// are and are not multiples of the 8-element blocks of the fast shuffle kernels.
const Layout kLayouts[] = {
    {DType::int16, {6, 10}, {6, 10}},     {DType::float32, {9, 7}, {4, 3}}, {DType::float64, {5, 5}, {5, 5}},
    {DType::float64, {64, 64}, {32, 16}}, {DType::int64, {3, 1}, {2, 1}},   {DType::uint8, {4, 4}, {2, 4}},
    {DType::uint32, {1, 1}, {1, 1}},      {DType::uint16, {17, 3}, {5, 3}},
};

// ---- shuffle: HDF5 compatibility ---------------------------------------------------------------

// HDF5 shuffles on H5Dwrite; the chunk it stores must equal our shuffle of the same chunk.
TEST(ShuffleHdf5, HdfShuffledChunksEqualOurs) {
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(describe(l));
    const TempFile path;
    const Bytes data = noise(l.elements() * l.element_size(), l.elements());
    {
      const Hid file = create_file(path);
      const Hid dset = create_dataset(file, l, make_dcpl(l, add_shuffle));
      ASSERT_GE(H5Dwrite(dset, native_type(l.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), 0);
    }
    const Hid file = open_file(path);
    const Hid dset = open_dataset(file);
    for (const Dims& origin : l.chunk_origins()) {
      SCOPED_TRACE("chunk at " + std::to_string(origin[0]) + "," + std::to_string(origin[1]));
      std::uint32_t mask = 0xFFFF;
      const Bytes stored = read_raw_chunk(dset, origin, &mask);
      EXPECT_EQ(mask, 0u);  // the shuffle filter was applied
      const Bytes chunk = l.chunk_of(data, origin);
      EXPECT_EQ(stored, shuffled(chunk, l.element_size()));
      EXPECT_EQ(unshuffled(stored, l.element_size()), chunk);
    }
  }
}

// Chunks we shuffle and store raw read back through HDF5's unshuffle.
TEST(ShuffleHdf5, OurShuffledChunksReadBackThroughHdf) {
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(describe(l));
    const TempFile path;
    const Bytes data = noise(l.elements() * l.element_size(), 7 * l.elements());
    {
      const Hid file = create_file(path);
      const Hid dset = create_dataset(file, l, make_dcpl(l, add_shuffle));
      for (const Dims& origin : l.chunk_origins())
        write_raw_chunk(dset, origin, shuffled(l.chunk_of(data, origin), l.element_size()));
    }
    const Hid file = open_file(path);
    const Hid dset = open_dataset(file);
    EXPECT_EQ(read_all(dset, l), data);
  }
}

// ---- zstd filter 32015 -------------------------------------------------------------------------

TEST(ZstdFilter, ClassDescribesFilter32015) {
  const H5Z_class2_t* cls = h5::zstd_filter_class();
  ASSERT_NE(cls, nullptr);
  EXPECT_EQ(cls, h5::zstd_filter_class());
  EXPECT_EQ(cls->version, H5Z_CLASS_T_VERS);
  EXPECT_EQ(cls->id, 32015);
  EXPECT_EQ(cls->encoder_present, 1u);
  EXPECT_EQ(cls->decoder_present, 1u);
  EXPECT_STREQ(cls->name, "Zstandard compression: http://www.zstd.net");
  EXPECT_EQ(cls->can_apply, nullptr);
  EXPECT_EQ(cls->set_local, nullptr);
  EXPECT_NE(cls->filter, nullptr);
}

// Runs the filter function the way HDF5 does: on a malloc'd buffer it may replace.
struct FilterRun {
  std::size_t result;
  Bytes valid;  // the first `result` bytes of the buffer afterwards
};

FilterRun run_filter(unsigned flags, std::vector<unsigned> cd_values, const Bytes& input) {
  std::size_t buf_size = input.size();
  void* buf = std::malloc(buf_size);
  std::memcpy(buf, input.data(), input.size());
  const std::size_t result =
      h5::zstd_filter_class()->filter(flags, cd_values.size(), cd_values.data(), input.size(), &buf_size, &buf);
  FilterRun run{result, {}};
  if (result > 0) {
    EXPECT_GE(buf_size, result);
    const auto* p = static_cast<const unsigned char*>(buf);
    run.valid.assign(p, p + result);
  } else {  // on failure the input buffer must be left alone
    run.valid.assign(static_cast<const unsigned char*>(buf), static_cast<const unsigned char*>(buf) + input.size());
    EXPECT_EQ(run.valid, input);
  }
  std::free(buf);
  return run;
}

constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

bool starts_with_zstd_magic(const Bytes& b) { return b.size() >= 4 && std::memcmp(b.data(), kZstdMagic, 4) == 0; }

TEST(ZstdFilter, FilterFunctionRoundTrips) {
  const Bytes raw = Bytes(100000, 7);
  for (const std::vector<unsigned>& cd : {std::vector<unsigned>{}, {1}, {19}, {static_cast<unsigned>(-3)}}) {
    SCOPED_TRACE(cd.size());
    const FilterRun forward = run_filter(0, cd, raw);
    ASSERT_GT(forward.result, 0u);
    EXPECT_LT(forward.result, raw.size());
    EXPECT_TRUE(starts_with_zstd_magic(forward.valid));
    EXPECT_EQ(zstd_raw(forward.valid, raw.size()), raw);  // frame records its content size
    const FilterRun reverse = run_filter(H5Z_FLAG_REVERSE, cd, forward.valid);
    EXPECT_EQ(reverse.result, raw.size());
    EXPECT_EQ(reverse.valid, raw);
  }
}

TEST(ZstdFilter, FilterDecodesOurCompressorsFrames) {
  const Bytes raw = noise(4096, 3);
  const FilterRun reverse = run_filter(H5Z_FLAG_REVERSE, {kLevel}, zstd_frame(raw, 9));
  EXPECT_EQ(reverse.result, raw.size());
  EXPECT_EQ(reverse.valid, raw);
}

TEST(ZstdFilter, FilterFailsOnCorruptInput) {
  EXPECT_EQ(run_filter(H5Z_FLAG_REVERSE, {kLevel}, noise(500, 1)).result, 0u);
  Bytes truncated = zstd_frame(Bytes(5000, 1), kLevel);
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(run_filter(H5Z_FLAG_REVERSE, {kLevel}, truncated).result, 0u);
  EXPECT_EQ(run_filter(H5Z_FLAG_REVERSE, {kLevel}, Bytes{0x28, 0xB5}).result, 0u);
}

// Forces the in-process class to be the one HDF5 uses: with HDF5_PLUGIN_PATH set (ctest sets it)
// H5Zfilter_avail would otherwise load libh5zstd.so. Restores the loading state afterwards.
class InProcessFilter : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(H5PLget_loading_state(&loading_state_), 0);
    ASSERT_GE(H5PLset_loading_state(0), 0);
    H5Eget_auto2(H5E_DEFAULT, &error_func_, &error_data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // "plugins disabled" is expected noise here
    if (H5Zfilter_avail(h5::kZstdFilterId) > 0) {
      ASSERT_GE(H5Zunregister(h5::kZstdFilterId), 0);
    }
    ASSERT_LE(H5Zfilter_avail(h5::kZstdFilterId), 0);
    H5Eset_auto2(H5E_DEFAULT, error_func_, error_data_);
    h5::register_zstd_filter();
  }
  void TearDown() override { H5PLset_loading_state(loading_state_); }

 private:
  unsigned loading_state_ = 0;
  H5E_auto2_t error_func_ = nullptr;
  void* error_data_ = nullptr;
};

TEST_F(InProcessFilter, RegistersAndIsIdempotent) {
  EXPECT_GT(H5Zfilter_avail(h5::kZstdFilterId), 0);
  unsigned config = 0;
  ASSERT_GE(H5Zget_filter_info(h5::kZstdFilterId, &config), 0);
  EXPECT_TRUE(config & H5Z_FILTER_CONFIG_ENCODE_ENABLED);
  EXPECT_TRUE(config & H5Z_FILTER_CONFIG_DECODE_ENABLED);
  h5::register_zstd_filter();  // a second call is harmless
  EXPECT_GT(H5Zfilter_avail(h5::kZstdFilterId), 0);
}

const Layout kZstdLayouts[] = {
    {DType::float64, {64, 48}, {32, 48}},
    {DType::int16, {30, 20}, {7, 20}},
    {DType::float32, {10, 10}, {10, 10}},
};

// What shmjob's compressors do: shuffle + zstd by hand, H5Dwrite_chunk; HDF5 must read it back.
TEST_F(InProcessFilter, ChunksWrittenRawReadBackBitExact) {
  for (const Layout& l : kZstdLayouts) {
    SCOPED_TRACE(describe(l));
    const TempFile path;
    const Bytes data = noise(l.elements() * l.element_size(), 11);
    {
      const Hid file = create_file(path);
      const Hid dset = create_dataset(file, l, make_dcpl(l, add_shuffle_zstd));
      for (const Dims& origin : l.chunk_origins())
        write_raw_chunk(dset, origin, zstd_frame(shuffled(l.chunk_of(data, origin), l.element_size()), kLevel));
    }
    const Hid file = open_file(path);
    const Hid dset = open_dataset(file);
    EXPECT_EQ(read_all(dset, l), data);
  }
}

// HDF5 runs shuffle and our filter on H5Dwrite; the stored chunk must be shuffle + a zstd frame.
TEST_F(InProcessFilter, H5DwriteAppliesTheFilter) {
  for (const Layout& l : kZstdLayouts) {
    SCOPED_TRACE(describe(l));
    const TempFile path;
    Bytes data(l.elements() * l.element_size());  // compressible: a ramp of small values
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i % 13);
    {
      const Hid file = create_file(path);
      const Hid dset = create_dataset(file, l, make_dcpl(l, add_shuffle_zstd));
      ASSERT_GE(H5Dwrite(dset, native_type(l.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), 0);
    }
    const Hid file = open_file(path);
    const Hid dset = open_dataset(file);
    EXPECT_EQ(read_all(dset, l), data);
    for (const Dims& origin : l.chunk_origins()) {
      std::uint32_t mask = 0xFFFF;
      const Bytes stored = read_raw_chunk(dset, origin, &mask);
      EXPECT_EQ(mask, 0u);  // neither the shuffle nor the optional zstd filter was skipped
      EXPECT_TRUE(starts_with_zstd_magic(stored));
      EXPECT_LT(stored.size(), l.chunk_bytes());
      EXPECT_EQ(unshuffled(zstd_raw(stored, l.chunk_bytes()), l.element_size()), l.chunk_of(data, origin));
    }
  }
}

}  // namespace
}  // namespace shmjob
