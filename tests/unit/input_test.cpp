// HDF5 ingest: InputConfig parsing, file expansion, InputCatalog::scan validation, serialisation,
// and Hdf5MatrixReader reads, against files this test writes itself with the HDF5 C API (every
// layout, dtype, byte order and filter shmjob supports, and every kind of bad input). Rejection
// tests check that the message names the file and the object.
#include <gtest/gtest.h>

#include <hdf5.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "h5/h5_handle.hpp"
#include "h5/zstd_filter.hpp"
#include "input/input.hpp"
#include "shmjob/dtype.hpp"
#include "shmjob/error.hpp"

namespace shmjob {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Bytes = std::vector<unsigned char>;
using Dims = std::vector<hsize_t>;

class QuietHdf5 : public ::testing::Environment {
 public:
  void SetUp() override {
    h5::silence_hdf5_errors();
    h5::register_zstd_filter();
  }
};
[[maybe_unused]] ::testing::Environment* const kQuiet = ::testing::AddGlobalTestEnvironment(new QuietHdf5);

// ---- files ------------------------------------------------------------------------------------

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    std::replace_if(
        name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
    path_ = fs::temp_directory_path() / ("shmjob_input_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

h5::File create_file(const std::string& path) {
  return h5::File(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "H5Fcreate");
}

h5::File open_file(const std::string& path, unsigned flags = H5F_ACC_RDWR) {
  return h5::File(H5Fopen(path.c_str(), flags, H5P_DEFAULT), "H5Fopen");
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Overwrites `n` bytes at `offset` with a pattern (file corruption).
void scribble(const std::string& path, std::uint64_t offset, std::size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  for (std::size_t i = 0; i < n; ++i) f.put(static_cast<char>(0xA5 ^ i));
  ASSERT_TRUE(f.good());
}

// ---- values -----------------------------------------------------------------------------------

constexpr std::array<DType, 11> kDTypes{DType::int8,    DType::int16,   DType::int32,  DType::int64,
                                        DType::uint8,   DType::uint16,  DType::uint32, DType::uint64,
                                        DType::float32, DType::float64, DType::float16};

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// `count` elements of `dtype` in native byte order: arbitrary bit patterns (so every byte
// matters), with floats also holding signed zeros, infinities, subnormals and a NaN payload.
Bytes make_values(DType dtype, std::size_t count, std::uint64_t seed) {
  const std::size_t size = dtype_size(dtype);
  Bytes out(count * size);
  std::uint64_t state = seed * 7919 + static_cast<std::uint64_t>(dtype);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t bits = splitmix(state);
    if (dtype == DType::float64) {
      constexpr std::array<std::uint64_t, 6> kSpecial{0x8000000000000000ull, 0x7FF0000000000000ull,
                                                      0xFFF0000000000000ull, 0x0000000000000001ull,
                                                      0x7FF8000000000123ull, 0x3FF0000000000000ull};
      if (i < kSpecial.size())
        bits = kSpecial[i];
      else if ((bits & 0x7FF0000000000000ull) == 0x7FF0000000000000ull)
        bits ^= 1ull << 62;
    } else if (dtype == DType::float32) {
      constexpr std::array<std::uint32_t, 6> kSpecial{0x80000000u, 0x7F800000u, 0xFF800000u,
                                                      0x00000001u, 0x7FC00123u, 0x3F800000u};
      auto b32 = static_cast<std::uint32_t>(bits);
      if (i < kSpecial.size())
        b32 = kSpecial[i];
      else if ((b32 & 0x7F800000u) == 0x7F800000u)
        b32 ^= 1u << 30;
      bits = b32;
    }
    std::memcpy(out.data() + i * size, &bits, size);  // little-endian host: low bytes
  }
  return out;
}

Bytes byteswapped(const Bytes& native, std::size_t element) {
  Bytes out(native.size());
  for (std::size_t i = 0; i < native.size(); i += element)
    for (std::size_t b = 0; b < element; ++b) out[i + b] = native[i + element - 1 - b];
  return out;
}

hid_t predefined_file_type(DType dtype, bool big_endian) {
  switch (dtype) {
    case DType::int8:
      return big_endian ? H5T_STD_I8BE : H5T_STD_I8LE;
    case DType::int16:
      return big_endian ? H5T_STD_I16BE : H5T_STD_I16LE;
    case DType::int32:
      return big_endian ? H5T_STD_I32BE : H5T_STD_I32LE;
    case DType::int64:
      return big_endian ? H5T_STD_I64BE : H5T_STD_I64LE;
    case DType::uint8:
      return big_endian ? H5T_STD_U8BE : H5T_STD_U8LE;
    case DType::uint16:
      return big_endian ? H5T_STD_U16BE : H5T_STD_U16LE;
    case DType::uint32:
      return big_endian ? H5T_STD_U32BE : H5T_STD_U32LE;
    case DType::uint64:
      return big_endian ? H5T_STD_U64BE : H5T_STD_U64LE;
    case DType::float32:
      return big_endian ? H5T_IEEE_F32BE : H5T_IEEE_F32LE;
    case DType::float16:  // not predefined: see file_type
    case DType::float64:
      break;
  }
  return big_endian ? H5T_IEEE_F64BE : H5T_IEEE_F64LE;
}

h5::Datatype file_type(DType dtype, bool big_endian) {
  if (dtype != DType::float16) return h5::Datatype(H5Tcopy(predefined_file_type(dtype, big_endian)), "H5Tcopy");
  h5::Datatype half = h5::native_type(dtype);
  if (big_endian) h5::check(H5Tset_order(half, H5T_ORDER_BE), "H5Tset_order");
  return half;
}

// ---- writing datasets -------------------------------------------------------------------------

enum class Layout { contiguous, chunked, compact };

struct Storage {
  Layout layout = Layout::contiguous;
  Dims chunk;  // chunked only
  bool shuffle = false, deflate = false, fletcher32 = false, zstd = false;
};

Storage contiguous() { return {}; }
Storage chunked(Dims chunk) { return {Layout::chunked, std::move(chunk)}; }

// Creates `path` in `file` with `dims` of (dtype, byte order) and writes `values` (native order)
// unless empty. Intermediate groups are created.
void write_dataset(hid_t file, const std::string& path, const Dims& dims, DType dtype, bool big_endian,
                   const Bytes& values, const Storage& storage = {}) {
  h5::PropList lcpl(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate");
  h5::check(H5Pset_create_intermediate_group(lcpl, 1), "H5Pset_create_intermediate_group");
  h5::PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  if (storage.layout == Layout::compact) h5::check(H5Pset_layout(dcpl, H5D_COMPACT), "compact");
  if (storage.layout == Layout::chunked) {
    h5::check(H5Pset_chunk(dcpl, static_cast<int>(storage.chunk.size()), storage.chunk.data()), "H5Pset_chunk");
    if (storage.fletcher32) h5::check(H5Pset_fletcher32(dcpl), "H5Pset_fletcher32");
    if (storage.shuffle) h5::check(H5Pset_shuffle(dcpl), "H5Pset_shuffle");
    if (storage.deflate) h5::check(H5Pset_deflate(dcpl, 6), "H5Pset_deflate");
    if (storage.zstd) {
      const unsigned level = 3;
      h5::check(H5Pset_filter(dcpl, h5::kZstdFilterId, H5Z_FLAG_MANDATORY, 1, &level), "zstd");
    }
  }
  h5::Dataspace space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple");
  h5::Dataset dataset(H5Dcreate2(file, path.c_str(), file_type(dtype, big_endian), space, lcpl, dcpl, H5P_DEFAULT),
                      "H5Dcreate2 " + path);
  if (!values.empty())
    h5::check(H5Dwrite(dataset, h5::native_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
              "H5Dwrite " + path);
}

// A dataset of an arbitrary type (for the unsupported-type cases); nothing written.
void create_typed(hid_t file, const std::string& path, hid_t type, const Dims& dims = {4, 5}) {
  h5::Dataspace space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple");
  h5::Dataset dataset(H5Dcreate2(file, path.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      "H5Dcreate2 " + path);
}

std::uint64_t elements(const Dims& dims) {
  std::uint64_t n = 1;
  for (hsize_t d : dims) n *= d;
  return n;
}

// ---- reading ----------------------------------------------------------------------------------

InputConfig config_for(std::vector<std::string> files, std::string dataset = "/data", bool recursive = false) {
  InputConfig config;
  config.files = std::move(files);
  config.dataset = std::move(dataset);
  config.recursive = recursive;
  return config;
}

// Reads every matrix of `catalog` back to back (native bytes) and checks each one leaves the
// bytes after it untouched.
Bytes read_all(const InputCatalog& catalog) {
  Hdf5MatrixReader reader(catalog);
  Bytes all;
  for (const InputMatrix& m : catalog.matrices()) {
    const std::uint64_t bytes = catalog.datasets()[m.dataset].shape.bytes();
    Bytes slot(bytes + 16, 0xEE);
    reader.read(m, slot.data(), bytes);
    EXPECT_TRUE(std::all_of(slot.end() - 16, slot.end(), [](unsigned char c) { return c == 0xEE; }))
        << "read past the matrix: " << catalog.describe(m);
    all.insert(all.end(), slot.begin(), slot.end() - 16);
  }
  return all;
}

// The message of the InputError `f` throws ("" and a test failure if it throws none).
std::string input_error(const std::function<void()>& f, int exit_code = kExitBadInput) {
  try {
    f();
  } catch (const InputError& e) {
    EXPECT_EQ(e.exit_code(), exit_code) << e.what();
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("input: ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no InputError thrown";
  return "";
}

std::string scan_error(const InputConfig& config) {
  return input_error([&] { InputCatalog::scan(config); });
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

// ---- config -----------------------------------------------------------------------------------

std::string config_error(const json& section) {
  try {
    parse_input_config(section);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << section.dump();
  return "";
}

TEST(InputConfigTest, ParsesListStringAndDefaults) {
  const InputConfig a = parse_input_config(json::parse(R"({"files": ["a.h5", "runs/*.h5"]})"));
  EXPECT_EQ(a.files, (std::vector<std::string>{"a.h5", "runs/*.h5"}));
  EXPECT_FALSE(a.dataset.has_value());  // found in each file
  EXPECT_FALSE(a.recursive);

  const InputConfig b =
      parse_input_config(json::parse(R"({"files": "one.h5", "dataset": "frames/", "recursive": true})"));
  EXPECT_EQ(b.files, std::vector<std::string>{"one.h5"});
  EXPECT_EQ(b.dataset, "/frames");  // normalised
  EXPECT_TRUE(b.recursive);
  EXPECT_EQ(parse_input_config(json::parse(R"({"files": "x", "dataset": "/"})")).dataset, "/");
}

TEST(InputConfigTest, RoundTripsThroughJson) {
  const InputConfig c = config_for({"a.h5", "b/*.h5"}, "/g/frames", true);
  EXPECT_EQ(parse_input_config(to_json(c)), c);
  EXPECT_EQ(to_json(c), json::parse(R"({"files": ["a.h5", "b/*.h5"], "dataset": "/g/frames", "recursive": true})"));
}

TEST(InputConfigTest, RejectionsNameTheKey) {
  EXPECT_EQ(config_error(json::parse("[1]")), "config: input: must be an object, got [1]");
  EXPECT_EQ(config_error(json::parse("{}")), "config: input: required key \"files\" is missing");
  EXPECT_EQ(config_error(json::parse(R"({"files": "a", "datasets": "/x"})")),
            "config: unknown key \"input.datasets\" (known keys: files, dataset, recursive)");
  EXPECT_EQ(config_error(json::parse(R"({"files": []})")),
            "config: input.files: must be a non-empty string or a non-empty list of non-empty "
            "strings, got []");
  EXPECT_EQ(config_error(json::parse(R"({"files": ""})")),
            "config: input.files: must be a non-empty string or a non-empty list of non-empty "
            "strings, got \"\"");
  EXPECT_EQ(config_error(json::parse(R"({"files": 3})")),
            "config: input.files: must be a non-empty string or a non-empty list of non-empty "
            "strings, got 3");
  EXPECT_EQ(config_error(json::parse(R"({"files": ["a.h5", 5]})")),
            "config: input.files[1]: must be a non-empty string, got 5");
  EXPECT_EQ(config_error(json::parse(R"({"files": ["a.h5", ""]})")),
            "config: input.files[1]: must be a non-empty string, got \"\"");
  EXPECT_EQ(config_error(json::parse(R"({"files": "a", "dataset": ""})")),
            "config: input.dataset: must be an HDF5 object path such as \"/frames\", got \"\"");
  EXPECT_EQ(config_error(json::parse(R"({"files": "a", "dataset": 7})")),
            "config: input.dataset: must be an HDF5 object path such as \"/frames\", got 7");
  EXPECT_EQ(config_error(json::parse(R"({"files": "a", "recursive": "yes"})")),
            "config: input.recursive: must be true or false, got \"yes\"");
  json nul = {{"files", std::string("a\0b", 3)}};
  EXPECT_CONTAINS(config_error(nul), "config: input.files: must be");
}

// ---- file expansion ---------------------------------------------------------------------------

TEST(InputFilesTest, GlobsSortEachPatternAndDropDuplicates) {
  TempDir dir;
  for (const char* name : {"b2.h5", "a1.h5", "c3.h5", "a10.h5", "notes.txt"}) write_text(dir / name, "x");
  fs::create_directories(dir.path() / "sub");
  write_text(dir / "sub/z.h5", "x");

  const auto files =
      expand_input_files({dir / "c3.h5", dir / "*.h5", dir / "sub/*.h5", dir / "./b2.h5", dir / "sub/../a1.h5"});
  EXPECT_EQ(files,
            (std::vector<std::string>{dir / "c3.h5", dir / "a1.h5", dir / "a10.h5", dir / "b2.h5", dir / "sub/z.h5"}));
  // Character classes and '?' are glob(3) patterns too.
  EXPECT_EQ(expand_input_files({dir / "[ab]?.h5"}), (std::vector<std::string>{dir / "a1.h5", dir / "b2.h5"}));
  // A literal path is kept even if missing: scan() reports it with the HDF5 checks.
  EXPECT_EQ(expand_input_files({dir / "missing.h5"}), std::vector<std::string>{dir / "missing.h5"});
  EXPECT_EQ(input_error([&] { expand_input_files({dir / "*.nc"}); }),
            "input: " + (dir / "*.nc") + ": no file matches this pattern");
  EXPECT_EQ(scan_error(config_for({dir / "*.nc"})), "input: " + (dir / "*.nc") + ": no file matches this pattern");
  EXPECT_EQ(scan_error(config_for({})), "input: no input files given (input.files is empty)");
}

TEST(InputFilesTest, ScanKeepsFileOrderThenDatasetsThenSlices) {
  TempDir dir;
  for (int f = 0; f < 3; ++f) {
    h5::File file = create_file(dir / ("run" + std::to_string(2 - f) + ".h5"));
    const Dims dims{static_cast<hsize_t>(f + 1), 2, 3};
    Bytes values(elements(dims) * 2);
    for (std::size_t i = 0; i < values.size(); i += 2) values[i] = static_cast<unsigned char>(f);
    write_dataset(file, "/data", dims, DType::int16, false, values);
  }
  const InputCatalog catalog = InputCatalog::scan(config_for({dir / "run1.h5", dir / "run*.h5"}));
  EXPECT_EQ(catalog.files(), (std::vector<std::string>{dir / "run1.h5", dir / "run0.h5", dir / "run2.h5"}));
  ASSERT_EQ(catalog.size(), 2u + 3u + 1u);
  const auto matrices = catalog.matrices();
  const std::vector<InputMatrix> expected{{0, 0, 0}, {0, 0, 1}, {1, 1, 0}, {1, 1, 1}, {1, 1, 2}, {2, 2, 0}};
  EXPECT_EQ(matrices, expected);
  const MatrixShape shape{2, 3, DType::int16};
  ASSERT_EQ(catalog.shapes(), std::vector<MatrixShape>{shape});
  EXPECT_EQ(catalog.count(shape), catalog.size());
  for (std::uint64_t id = 0; id < catalog.size(); ++id) {
    EXPECT_EQ(catalog.matrix(id), expected[id]);
    EXPECT_EQ(catalog.matrix(shape, id), expected[id]);
  }
  EXPECT_THROW(catalog.matrix(catalog.size()), std::out_of_range);
  EXPECT_EQ(catalog.describe(matrices[4]), dir / "run0.h5" + ":/data[2]");
  EXPECT_EQ(catalog.total_bytes(), 6u * 2 * 3 * 2);
}

// ---- every layout x dtype x byte order --------------------------------------------------------

struct LayoutCase {
  const char* name;
  Dims dims;  // [N, rows, cols]
  Storage storage;
};

const std::vector<LayoutCase>& layout_cases() {
  static const std::vector<LayoutCase> cases{
      {"contiguous", {7, 13, 11}, contiguous()},
      {"chunk_per_slice", {7, 13, 11}, chunked({1, 13, 11})},
      {"chunk_tiles", {7, 13, 11}, chunked({1, 5, 4})},           // tiles, ragged edges
      {"chunk_spans_slices", {7, 13, 11}, chunked({3, 13, 11})},  // last chunk partial
      {"chunk_spans_and_tiles", {7, 13, 11}, chunked({2, 6, 11})},
      {"compact", {3, 5, 4}, {Layout::compact, {}}},
  };
  return cases;
}

using TypeCase = std::tuple<DType, bool, std::size_t>;  // dtype, big-endian, layout index

class LayoutTypeTest : public ::testing::TestWithParam<TypeCase> {};

TEST_P(LayoutTypeTest, SlicesReadBackBitForBitInNativeOrder) {
  const auto [dtype, big_endian, layout] = GetParam();
  const LayoutCase& lc = layout_cases()[layout];
  TempDir dir;
  const std::string path = dir / "in.h5";
  const Bytes values = make_values(dtype, elements(lc.dims), 42);
  {
    h5::File file = create_file(path);
    write_dataset(file, "/data", lc.dims, dtype, big_endian, values, lc.storage);
    // The same data once more as 2-D datasets (one matrix each) in a group.
    const std::size_t matrix_bytes = values.size() / lc.dims[0];
    for (hsize_t i = 0; i < lc.dims[0]; ++i) {
      const Bytes one(values.begin() + static_cast<std::ptrdiff_t>(i * matrix_bytes),
                      values.begin() + static_cast<std::ptrdiff_t>((i + 1) * matrix_bytes));
      Storage s = lc.storage;
      if (s.layout == Layout::chunked) s.chunk.erase(s.chunk.begin());
      write_dataset(file, "/g/m" + std::to_string(i), {lc.dims[1], lc.dims[2]}, dtype, big_endian, one, s);
    }
  }

  // The file really holds the requested byte order.
  {
    h5::File file = open_file(path, H5F_ACC_RDONLY);
    h5::Dataset dataset(H5Dopen2(file, "/data", H5P_DEFAULT), "H5Dopen2");
    h5::Datatype type(H5Dget_type(dataset), "H5Dget_type");
    EXPECT_EQ(H5Tget_order(type), big_endian ? H5T_ORDER_BE : H5T_ORDER_LE);
    Bytes raw(values.size());
    h5::check(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), "raw read");
    EXPECT_EQ(raw, big_endian && dtype_size(dtype) > 1 ? byteswapped(values, dtype_size(dtype)) : values);
  }

  const InputCatalog sliced = InputCatalog::scan(config_for({path}));
  ASSERT_EQ(sliced.datasets().size(), 1u);
  const InputDataset& d = sliced.datasets()[0];
  EXPECT_EQ(d.path, "/data");
  EXPECT_EQ(d.shape,
            (MatrixShape{static_cast<std::uint32_t>(lc.dims[1]), static_cast<std::uint32_t>(lc.dims[2]), dtype}));
  EXPECT_EQ(d.matrices, lc.dims[0]);
  EXPECT_EQ(d.big_endian, big_endian);
  EXPECT_TRUE(d.sliced);
  EXPECT_EQ(read_all(sliced), values);

  const InputCatalog group = InputCatalog::scan(config_for({path}, "/g"));
  ASSERT_EQ(group.size(), lc.dims[0]);
  EXPECT_FALSE(group.datasets()[0].sliced);
  EXPECT_EQ(read_all(group), values);

  // Slices out of order, through the same reader (cached dataset, new selections).
  Hdf5MatrixReader reader(sliced);
  const std::size_t bytes = d.shape.bytes();
  Bytes slot(bytes);
  for (const hsize_t i : std::array<hsize_t, 3>{lc.dims[0] - 1, 0, lc.dims[0] / 2}) {
    reader.read(sliced.matrix(i), slot.data(), slot.size());
    EXPECT_TRUE(std::equal(slot.begin(), slot.end(), values.begin() + static_cast<std::ptrdiff_t>(i * bytes)))
        << "slice " << i;
  }
}

std::string type_case_name(const ::testing::TestParamInfo<TypeCase>& info) {
  const auto [dtype, big_endian, layout] = info.param;
  return std::string(dtype_name(dtype)) + (big_endian ? "_be_" : "_le_") + layout_cases()[layout].name;
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, LayoutTypeTest,
                         ::testing::Combine(::testing::ValuesIn(kDTypes), ::testing::Bool(),
                                            ::testing::Range<std::size_t>(0, 6)),
                         type_case_name);

// ---- filters ----------------------------------------------------------------------------------

struct FilterCase {
  const char* name;
  Storage storage;
};

class FilterTest : public ::testing::TestWithParam<FilterCase> {};

TEST_P(FilterTest, FilteredChunksReadBack) {
  TempDir dir;
  const std::string path = dir / "in.h5";
  const Dims dims{5, 40, 30};
  // Compressible values (so the filters really change the bytes), both byte orders.
  for (bool big_endian : {false, true}) {
    Bytes values(elements(dims) * 8);
    for (std::size_t i = 0; i < elements(dims); ++i) {
      const double v = static_cast<double>(i % 97) * 0.25 - 3.0;
      std::memcpy(values.data() + i * 8, &v, 8);
    }
    {
      h5::File file = create_file(path);
      write_dataset(file, "/data", dims, DType::float64, big_endian, values, GetParam().storage);
    }
    const InputCatalog catalog = InputCatalog::scan(config_for({path}));
    EXPECT_EQ(read_all(catalog), values) << (big_endian ? "big-endian" : "little-endian");
  }
}

Storage with_filters(Dims chunk, bool shuffle, bool deflate, bool fletcher32, bool zstd) {
  Storage s = chunked(std::move(chunk));
  s.shuffle = shuffle;
  s.deflate = deflate;
  s.fletcher32 = fletcher32;
  s.zstd = zstd;
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Filters, FilterTest,
    ::testing::Values(FilterCase{"deflate", with_filters({1, 40, 30}, false, true, false, false)},
                      FilterCase{"shuffle_deflate_tiles", with_filters({1, 16, 16}, true, true, false, false)},
                      FilterCase{"fletcher32", with_filters({2, 40, 30}, false, false, true, false)},
                      FilterCase{"fletcher32_shuffle_deflate", with_filters({1, 20, 30}, true, true, true, false)},
                      FilterCase{"zstd", with_filters({1, 40, 30}, false, false, false, true)},
                      FilterCase{"shuffle_zstd_spanning", with_filters({3, 40, 15}, true, false, false, true)}),
    [](const ::testing::TestParamInfo<FilterCase>& param_info) { return std::string(param_info.param.name); });

// ---- no input.dataset: /data, else the file's only candidate ------------------------------------

InputConfig config_without_dataset(std::vector<std::string> files) {
  InputConfig config;
  config.files = std::move(files);
  return config;
}

TEST(InputFindDatasetTest, TheOnlyCandidateIsReadAndNamed) {
  TempDir dir;
  const std::string path = dir / "stack.h5";
  {
    h5::File file = create_file(path);
    write_dataset(file, "/frames/stack", {4, 6, 5}, DType::float32, false, make_values(DType::float32, 120, 1));
    write_dataset(file, "/meta/time", {4}, DType::float64, false, make_values(DType::float64, 4, 2));
    write_dataset(file, "/meta/empty", {0, 3, 3}, DType::int16, false, {});
    create_typed(file, "/meta/label", H5T_C_S1, {2, 2});
  }
  std::vector<std::string> notes;
  const InputCatalog catalog = InputCatalog::scan(config_without_dataset({path}), &notes);
  ASSERT_EQ(catalog.datasets().size(), 1u);
  EXPECT_EQ(catalog.datasets()[0].path, "/frames/stack");
  EXPECT_EQ(catalog.size(), 4u);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], "input: " + path +
                          ": no input.dataset given and no /data: reading /frames/stack [4, 6, 5] float32, "
                          "the file's only 2-D or 3-D dataset (name it with input.dataset to be sure)");
}

TEST(InputFindDatasetTest, DataWinsWithoutANote) {
  TempDir dir;
  const std::string path = dir / "both.h5";
  {
    h5::File file = create_file(path);
    write_dataset(file, "/data", {2, 3, 3}, DType::int32, false, make_values(DType::int32, 18, 1));
    write_dataset(file, "/other", {3, 3}, DType::int32, false, make_values(DType::int32, 9, 2));
  }
  std::vector<std::string> notes;
  const InputCatalog catalog = InputCatalog::scan(config_without_dataset({path}), &notes);
  ASSERT_EQ(catalog.datasets().size(), 1u);
  EXPECT_EQ(catalog.datasets()[0].path, "/data");
  EXPECT_TRUE(notes.empty());
}

TEST(InputFindDatasetTest, SeveralCandidatesAreListedAtMostTwenty) {
  TempDir dir;
  const std::string two = dir / "two.h5", many = dir / "many.h5", none = dir / "none.h5";
  {
    h5::File file = create_file(two);
    write_dataset(file, "/b", {5, 4}, DType::uint16, false, make_values(DType::uint16, 20, 1));
    write_dataset(file, "/a/x", {2, 5, 4}, DType::float16, false, make_values(DType::float16, 40, 2));
  }
  EXPECT_EQ(scan_error(config_without_dataset({two})),
            "input: " + two +
                ": no input.dataset given and no /data, and 2 datasets could hold the matrices: "
                "/b [5, 4] uint16, /a/x [2, 5, 4] float16 (choose one with input.dataset or --dataset)");
  {
    h5::File file = create_file(many);
    for (int k = 0; k < 23; ++k) {
      char name[8];
      std::snprintf(name, sizeof name, "/m%02d", k);
      write_dataset(file, name, {2, 2}, DType::int8, false, make_values(DType::int8, 4, 1));
    }
  }
  const std::string error = scan_error(config_without_dataset({many}));
  EXPECT_CONTAINS(error, "23 datasets could hold the matrices: /m00 [2, 2] int8, /m01 [2, 2] int8,");
  EXPECT_CONTAINS(error, "/m19 [2, 2] int8, and 3 more (choose one");
  EXPECT_EQ(error.find("/m20"), std::string::npos) << error;
  {
    h5::File file = create_file(none);
    write_dataset(file, "/line", {7}, DType::float64, false, make_values(DType::float64, 7, 1));
  }
  EXPECT_EQ(scan_error(config_without_dataset({none})),
            "input: " + none +
                ": no input.dataset given, no /data, and no 2-D or 3-D dataset of a supported type "
                "in the file (name one with input.dataset or --dataset)");
}

TEST(InputFindDatasetTest, EveryFileMustChooseTheSame) {
  TempDir dir;
  const std::string a = dir / "a.h5", b = dir / "b.h5", c = dir / "c.h5";
  for (const auto& [path, object] : {std::pair{a, "/frames"}, std::pair{b, "/frames"}, std::pair{c, "/data"}}) {
    h5::File file = create_file(path);
    write_dataset(file, object, {2, 3, 3}, DType::int16, false, make_values(DType::int16, 18, 1));
  }
  EXPECT_EQ(InputCatalog::scan(config_without_dataset({a, b})).size(), 4u);
  EXPECT_EQ(
      scan_error(config_without_dataset({a, b, c})),
      "input: " + c + ": its matrices would be read from /data, but " + a +
          "'s from /frames: with no input.dataset every file must hold the same one (name it with input.dataset)");
}

// ---- groups -----------------------------------------------------------------------------------

// /g: b (4x5 int16), a (3x3 f64), c/ {z (6x2 u8), y (3x3 f64)}, d (4x5 int16), e = hard link to
// a, t (named datatype).
void write_group_file(const std::string& path) {
  h5::File file = create_file(path);
  write_dataset(file, "/g/b", {4, 5}, DType::int16, false, make_values(DType::int16, 20, 1));
  write_dataset(file, "/g/a", {3, 3}, DType::float64, true, make_values(DType::float64, 9, 2));
  write_dataset(file, "/g/c/z", {6, 2}, DType::uint8, false, make_values(DType::uint8, 12, 3));
  write_dataset(file, "/g/c/y", {3, 3}, DType::float64, false, make_values(DType::float64, 9, 4), chunked({2, 2}));
  write_dataset(file, "/g/d", {4, 5}, DType::int16, true, make_values(DType::int16, 20, 5));
  h5::check(H5Lcreate_hard(file, "/g/a", file, "/g/e", H5P_DEFAULT, H5P_DEFAULT), "hard link");
  h5::check(H5Lcreate_hard(file, "/g", file, "/g/c/loop", H5P_DEFAULT, H5P_DEFAULT), "cycle");
  h5::Datatype type(H5Tcopy(H5T_NATIVE_INT), "H5Tcopy");
  h5::check(H5Tcommit2(file, "/g/t", type, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "commit");
}

std::vector<std::string> paths(const InputCatalog& catalog) {
  std::vector<std::string> out;
  for (const auto& d : catalog.datasets()) out.push_back(d.path);
  return out;
}

TEST(InputGroupTest, TwoDDatasetsInNameOrder) {
  TempDir dir;
  write_group_file(dir / "g.h5");
  const InputCatalog flat = InputCatalog::scan(config_for({dir / "g.h5"}, "/g"));
  // e is the same object as a: listed once.
  EXPECT_EQ(paths(flat), (std::vector<std::string>{"/g/a", "/g/b", "/g/d"}));
  EXPECT_EQ(flat.shapes(), (std::vector<MatrixShape>{{3, 3, DType::float64}, {4, 5, DType::int16}}));
  EXPECT_TRUE(flat.datasets()[0].big_endian);
  EXPECT_EQ(flat.total_bytes(), 72u + 40u + 40u);
  EXPECT_EQ(flat.max_matrix_bytes(), 72u);
  EXPECT_EQ(flat.describe(flat.matrix(1)), dir / "g.h5" + ":/g/b");
  // Per shape (one output set each): b and d are the int16 ones.
  const MatrixShape int16s{4, 5, DType::int16};
  EXPECT_EQ(flat.count(int16s), 2u);
  EXPECT_EQ(flat.matrix(int16s, 0), (InputMatrix{0, 1, 0}));
  EXPECT_EQ(flat.matrix(int16s, 1), (InputMatrix{0, 2, 0}));
  EXPECT_EQ(flat.count(MatrixShape{3, 3, DType::float64}), 1u);
  EXPECT_THROW(flat.matrix(int16s, 2), std::out_of_range);
  EXPECT_EQ(flat.count(MatrixShape{4, 5, DType::uint16}), 0u);
  EXPECT_THROW(flat.matrix(MatrixShape{4, 5, DType::uint16}, 0), std::out_of_range);

  Bytes expected = make_values(DType::float64, 9, 2);
  for (auto [n, seed] : {std::pair{20, 1}, std::pair{20, 5}}) {
    const Bytes v = make_values(DType::int16, static_cast<std::size_t>(n), static_cast<std::uint64_t>(seed));
    expected.insert(expected.end(), v.begin(), v.end());
  }
  EXPECT_EQ(read_all(flat), expected);
}

TEST(InputGroupTest, RecursiveIsDepthFirstInNameOrder) {
  TempDir dir;
  write_group_file(dir / "g.h5");
  const InputCatalog deep = InputCatalog::scan(config_for({dir / "g.h5"}, "g", true));
  // c/loop leads back to /g: not entered twice.
  EXPECT_EQ(paths(deep), (std::vector<std::string>{"/g/a", "/g/b", "/g/c/y", "/g/c/z", "/g/d"}));
  EXPECT_EQ(deep.shapes(),
            (std::vector<MatrixShape>{{3, 3, DType::float64}, {4, 5, DType::int16}, {6, 2, DType::uint8}}));
  const MatrixShape f64{3, 3, DType::float64};
  ASSERT_EQ(deep.count(f64), 2u);
  EXPECT_EQ(deep.datasets()[deep.matrix(f64, 1).dataset].path, "/g/c/y");
  const Bytes all = read_all(deep);
  EXPECT_EQ(all.size(), 72u + 40u + 72u + 12u + 40u);
  const Bytes y = make_values(DType::float64, 9, 4);
  EXPECT_TRUE(std::equal(y.begin(), y.end(), all.begin() + 112));

  // The root group, recursively: the same five matrices.
  EXPECT_EQ(InputCatalog::scan(config_for({dir / "g.h5"}, "/", true)).size(), 5u);
}

TEST(InputGroupTest, GroupProblemsNameTheObject) {
  TempDir dir;
  const std::string path = dir / "g.h5";
  {
    h5::File file = create_file(path);
    h5::check(H5Gclose(H5Gcreate2(file, "/empty", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)), "g");
    write_dataset(file, "/nested/sub/m", {2, 2}, DType::int8, false, make_values(DType::int8, 4, 1));
    write_dataset(file, "/mixed/a", {2, 2}, DType::int8, false, make_values(DType::int8, 4, 1));
    write_dataset(file, "/mixed/b", {3, 2, 2}, DType::int8, false, make_values(DType::int8, 12, 1));
    write_dataset(file, "/texts/ok", {2, 2}, DType::int8, false, make_values(DType::int8, 4, 1));
    h5::Datatype s(H5Tcopy(H5T_C_S1), "H5Tcopy");
    h5::check(H5Tset_size(s, 8), "H5Tset_size");
    create_typed(file, "/texts/s", s);
    h5::check(H5Gclose(H5Gcreate2(file, "/dangling", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)), "group");
    h5::check(H5Lcreate_soft("/nowhere", file, "/dangling/x", H5P_DEFAULT, H5P_DEFAULT), "soft");
  }
  EXPECT_EQ(scan_error(config_for({path}, "/empty")), "input: " + path + ":/empty: group holds no 2-D datasets");
  EXPECT_EQ(scan_error(config_for({path}, "/nested")),
            "input: " + path +
                ":/nested: group holds no 2-D datasets (it has subgroups: set input.recursive to "
                "search them)");
  EXPECT_EQ(InputCatalog::scan(config_for({path}, "/nested", true)).size(), 1u);
  EXPECT_EQ(scan_error(config_for({path}, "/mixed")),
            "input: " + path +
                ":/mixed/b: rank 3 (shape [3, 2, 2]): datasets in an input group must be 2-D "
                "[rows, cols]");
  EXPECT_CONTAINS(scan_error(config_for({path}, "/texts")),
                  path + ":/texts/s: unsupported element type: fixed-length string");
  EXPECT_EQ(scan_error(config_for({path}, "/dangling")), "input: " + path + ":/dangling/x: dangling link");
}

// ---- rejected inputs --------------------------------------------------------------------------

TEST(InputRejectTest, MissingDirectoryNotHdf5) {
  TempDir dir;
  EXPECT_EQ(scan_error(config_for({dir / "none.h5"})), "input: " + (dir / "none.h5") + ": no such file");
  EXPECT_EQ(scan_error(config_for({dir.path().string()})),
            "input: " + dir.path().string() + ": is a directory, not an HDF5 file");
  write_text(dir / "text.h5", "just some text, not HDF5\n");
  EXPECT_EQ(scan_error(config_for({dir / "text.h5"})),
            "input: " + (dir / "text.h5") + ": not an HDF5 file (no HDF5 signature)");
  write_text(dir / "empty.h5", "");
  EXPECT_EQ(scan_error(config_for({dir / "empty.h5"})),
            "input: " + (dir / "empty.h5") + ": not an HDF5 file (no HDF5 signature)");
  // A bad file after good ones is still reported, by its own name.
  {
    h5::File file = create_file(dir / "good.h5");
    write_dataset(file, "/data", {2, 2}, DType::int8, false, make_values(DType::int8, 4, 1));
  }
  EXPECT_EQ(scan_error(config_for({dir / "good.h5", dir / "text.h5"})),
            "input: " + (dir / "text.h5") + ": not an HDF5 file (no HDF5 signature)");
}

TEST(InputRejectTest, TruncatedFile) {
  TempDir dir;
  const std::string path = dir / "cut.h5";
  {
    h5::File file = create_file(path);
    write_dataset(file, "/data", {8, 64, 64}, DType::float64, false, make_values(DType::float64, 8 * 64 * 64, 1));
  }
  const auto size = fs::file_size(path);
  fs::resize_file(path, size / 2);
  EXPECT_EQ(scan_error(config_for({path})), "input: " + path + ": truncated HDF5 file: " + std::to_string(size / 2) +
                                                " of its " + std::to_string(size) + " bytes are present");
  // Cut one byte short: HDF5 1.10 still notices at open.
  fs::resize_file(path, size - 1);
  EXPECT_CONTAINS(scan_error(config_for({path})), "truncated HDF5 file");
  // Cut inside the superblock: no size to compare, but still one line naming the file.
  fs::resize_file(path, 40);
  EXPECT_CONTAINS(scan_error(config_for({path})),
                  "input: " + path + ": corrupt or truncated HDF5 file (HDF5: H5Fopen: ");
}

TEST(InputRejectTest, CorruptObjectHeader) {
  TempDir dir;
  const std::string path = dir / "bad.h5";
  haddr_t header = 0;
  {
    h5::File file = create_file(path);
    write_dataset(file, "/data", {2, 3, 3}, DType::int32, false, make_values(DType::int32, 18, 1));
    H5O_info_t info{};
    h5::check(H5Oget_info_by_name2(file, "/data", &info, H5O_INFO_BASIC, H5P_DEFAULT), "info");
    header = info.addr;
  }
  scribble(path, header, 64);
  EXPECT_CONTAINS(scan_error(config_for({path})), "input: " + path + ":/data: unreadable metadata: HDF5: ");
}

TEST(InputRejectTest, MissingObjectsAndNonData) {
  TempDir dir;
  const std::string path = dir / "f.h5";
  {
    h5::File file = create_file(path);
    write_dataset(file, "/data", {2, 3, 3}, DType::int32, false, make_values(DType::int32, 18, 1));
    h5::Datatype type(H5Tcopy(H5T_NATIVE_INT), "H5Tcopy");
    h5::check(H5Tcommit2(file, "/mytype", type, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "commit");
    h5::check(H5Lcreate_soft("/gone", file, "/broken", H5P_DEFAULT, H5P_DEFAULT), "soft");
  }
  EXPECT_EQ(scan_error(config_for({path}, "/frames")), "input: " + path + ":/frames: no such dataset or group");
  EXPECT_EQ(scan_error(config_for({path}, "/a/b/frames")),
            "input: " + path + ":/a/b/frames: no such dataset or group (/a does not exist)");
  EXPECT_EQ(scan_error(config_for({path}, "/data/x")),
            "input: " + path + ":/data/x: no such dataset or group (/data is not a group)");
  EXPECT_EQ(scan_error(config_for({path}, "/mytype")),
            "input: " + path + ":/mytype: is a named datatype, not a dataset or group");
  EXPECT_EQ(scan_error(config_for({path}, "/broken")),
            "input: " + path + ":/broken: no such dataset or group (/broken is a dangling link)");
}

TEST(InputRejectTest, UnsupportedTypes) {
  TempDir dir;
  const std::string path = dir / "types.h5";
  {
    h5::File file = create_file(path);
    h5::Datatype compound(H5Tcreate(H5T_COMPOUND, 8), "compound");
    h5::check(H5Tinsert(compound, "x", 0, H5T_NATIVE_INT32), "insert");
    h5::check(H5Tinsert(compound, "y", 4, H5T_NATIVE_FLOAT), "insert");
    create_typed(file, "/compound", compound);
    h5::Datatype fixed(H5Tcopy(H5T_C_S1), "string");
    h5::check(H5Tset_size(fixed, 10), "size");
    create_typed(file, "/string", fixed);
    h5::Datatype vstring(H5Tcopy(H5T_C_S1), "vstring");
    h5::check(H5Tset_size(vstring, H5T_VARIABLE), "size");
    create_typed(file, "/vstring", vstring);
    h5::Datatype vlen(H5Tvlen_create(H5T_NATIVE_INT), "vlen");
    create_typed(file, "/vlen", vlen);
    h5::Datatype enumeration(H5Tenum_create(H5T_NATIVE_INT), "enum");
    int value = 0;
    h5::check(H5Tenum_insert(enumeration, "zero", &value), "enum insert");
    create_typed(file, "/enum", enumeration);
    create_typed(file, "/reference", H5T_STD_REF_OBJ);
    create_typed(file, "/bitfield", H5T_STD_B16LE);
    h5::Datatype opaque(H5Tcreate(H5T_OPAQUE, 4), "opaque");
    create_typed(file, "/opaque", opaque);
    const hsize_t three = 3;
    h5::Datatype array(H5Tarray_create2(H5T_NATIVE_INT, 1, &three), "array");
    create_typed(file, "/array", array);
    // bfloat16: 16 bits, but float32's exponent (not IEEE binary16).
    h5::Datatype bfloat(H5Tcopy(H5T_IEEE_F32LE), "bfloat16");
    h5::check(H5Tset_fields(bfloat, 15, 7, 8, 0, 7), "fields");
    h5::check(H5Tset_size(bfloat, 2), "size");
    h5::check(H5Tset_ebias(bfloat, 127), "ebias");
    create_typed(file, "/bfloat16", bfloat);
    h5::Datatype int12(H5Tcopy(H5T_STD_I16LE), "int12");
    h5::check(H5Tset_precision(int12, 12), "precision");
    create_typed(file, "/int12", int12);
    h5::Datatype int24(H5Tcopy(H5T_STD_I32LE), "int24");
    h5::check(H5Tset_size(int24, 3), "size");
    create_typed(file, "/int24", int24);
    create_typed(file, "/ldouble", H5T_NATIVE_LDOUBLE);
  }
  const std::vector<std::pair<std::string, std::string>> cases{
      {"/compound", "compound"},
      {"/string", "fixed-length string"},
      {"/vstring", "variable-length string"},
      {"/vlen", "variable-length sequence"},
      {"/enum", "enum"},
      {"/reference", "reference"},
      {"/bitfield", "bitfield"},
      {"/opaque", "opaque"},
      {"/array", "array"},
      {"/bfloat16", "16-bit float that is not IEEE 754"},
      {"/int12", "integer with 12 significant bits in 16-bit"},
      {"/int24", "24-bit integer"},
      {"/ldouble", "128-bit float"},
  };
  for (const auto& [object, problem] : cases)
    EXPECT_EQ(scan_error(config_for({path}, object)),
              "input: " + path + ":" + object + ": unsupported element type: " + problem +
                  " (shmjob reads 8/16/32/64-bit integers, float16, float32 and float64)");
}

TEST(InputRejectTest, RanksAndEmptyDatasets) {
  TempDir dir;
  const std::string path = dir / "ranks.h5";
  {
    h5::File file = create_file(path);
    write_dataset(file, "/one", {10}, DType::int32, false, make_values(DType::int32, 10, 1));
    write_dataset(file, "/four", {2, 2, 2, 2}, DType::int32, false, make_values(DType::int32, 16, 1));
    write_dataset(file, "/no_slices", {0, 4, 4}, DType::int32, false, {});
    write_dataset(file, "/no_cols", {3, 4, 0}, DType::int32, false, {});
    write_dataset(file, "/no_rows_2d", {0, 4}, DType::int32, false, {});
    h5::Dataspace scalar(H5Screate(H5S_SCALAR), "scalar");
    h5::Dataset s(H5Dcreate2(file, "/scalar", H5T_STD_I32LE, scalar, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                  "scalar dataset");
    h5::Dataspace null_space(H5Screate(H5S_NULL), "null");
    h5::Dataset n(H5Dcreate2(file, "/null", H5T_STD_I32LE, null_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                  "null dataset");
  }
  const std::string where = "input: " + path + ":";
  EXPECT_EQ(scan_error(config_for({path}, "/one")),
            where + "/one: rank 1 (shape [10]): expected 3-D [N, rows, cols] or 2-D [rows, cols]");
  EXPECT_EQ(scan_error(config_for({path}, "/four")),
            where +
                "/four: rank 4 (shape [2, 2, 2, 2]): expected 3-D [N, rows, cols] or 2-D [rows, "
                "cols]");
  EXPECT_EQ(scan_error(config_for({path}, "/scalar")),
            where + "/scalar: rank 0 (shape []): expected 3-D [N, rows, cols] or 2-D [rows, cols]");
  EXPECT_EQ(scan_error(config_for({path}, "/null")), where + "/null: is empty (null dataspace)");
  EXPECT_EQ(scan_error(config_for({path}, "/no_slices")), where + "/no_slices: is empty (shape [0, 4, 4])");
  EXPECT_EQ(scan_error(config_for({path}, "/no_cols")), where + "/no_cols: is empty (shape [3, 4, 0])");
  EXPECT_EQ(scan_error(config_for({path}, "/no_rows_2d")), where + "/no_rows_2d: is empty (shape [0, 4])");
}

// A stand-in for blosc (32001): registered only while the file is written, with a mandatory flag
// so the pipeline really applies it; afterwards no filter 32001 exists in this process.
std::size_t identity_filter(unsigned, std::size_t, const unsigned[], std::size_t nbytes, std::size_t*, void**) {
  return nbytes;
}

TEST(InputRejectTest, FilterNobodyHas) {
  TempDir dir;
  const std::string path = dir / "blosc.h5";
  constexpr H5Z_filter_t kBlosc = 32001;
  const H5Z_class2_t fake{H5Z_CLASS_T_VERS, kBlosc, 1, 1, "blosc", nullptr, nullptr, identity_filter};
  ASSERT_GE(H5Zregister(&fake), 0);
  {
    h5::File file = create_file(path);
    h5::PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "dcpl");
    const std::array<hsize_t, 3> chunk{1, 4, 4};
    h5::check(H5Pset_chunk(dcpl, 3, chunk.data()), "chunk");
    h5::check(H5Pset_filter(dcpl, kBlosc, H5Z_FLAG_MANDATORY, 0, nullptr), "set filter");
    const std::array<hsize_t, 3> dims{2, 4, 4};
    h5::Dataspace space(H5Screate_simple(3, dims.data(), nullptr), "space");
    h5::Dataset d(H5Dcreate2(file, "/frames", H5T_STD_I32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "create");
    const Bytes values = make_values(DType::int32, 32, 1);
    h5::check(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "w");
  }
  ASSERT_GE(H5Zunregister(kBlosc), 0);
  EXPECT_EQ(scan_error(config_for({path}, "/frames")),
            "input: " + path + ":/frames: filter 32001 (blosc) is not available");
}

TEST(InputRejectTest, VirtualAndExternalStorage) {
  TempDir dir;
  const std::string path = dir / "vds.h5";
  {
    h5::File file = create_file(path);
    write_dataset(file, "/src", {2, 3, 3}, DType::int32, false, make_values(DType::int32, 18, 1));
    h5::PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "dcpl");
    const std::array<hsize_t, 3> dims{2, 3, 3};
    h5::Dataspace space(H5Screate_simple(3, dims.data(), nullptr), "space");
    h5::check(H5Pset_virtual(dcpl, space, ".", "/src", space), "H5Pset_virtual");
    h5::Dataset d(H5Dcreate2(file, "/vds", H5T_STD_I32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "create");
    h5::PropList external(H5Pcreate(H5P_DATASET_CREATE), "dcpl");
    h5::check(H5Pset_external(external, (dir / "raw.bin").c_str(), 0, 2 * 3 * 3 * 4), "H5Pset_external");
    h5::Dataset e(H5Dcreate2(file, "/ext", H5T_STD_I32LE, space, H5P_DEFAULT, external, H5P_DEFAULT), "create");
  }
  EXPECT_EQ(scan_error(config_for({path}, "/vds")),
            "input: " + path + ":/vds: virtual datasets are not supported (list their source files instead)");
  EXPECT_EQ(scan_error(config_for({path}, "/ext")),
            "input: " + path + ":/ext: data in external raw files are not supported");
}

// ---- reading failures -------------------------------------------------------------------------

std::string read_error(Hdf5MatrixReader& reader, const InputMatrix& m, void* to, std::size_t n) {
  return input_error([&] { reader.read(m, to, n); }, kExitIo);
}

TEST(InputReadTest, DestinationTooSmall) {
  TempDir dir;
  const std::string path = dir / "f.h5";
  {
    h5::File file = create_file(path);
    write_dataset(file, "/data", {2, 3, 4}, DType::float32, false, make_values(DType::float32, 24, 1));
  }
  const InputCatalog catalog = InputCatalog::scan(config_for({path}));
  Hdf5MatrixReader reader(catalog);
  Bytes slot(48, 0xEE);
  EXPECT_EQ(read_error(reader, catalog.matrix(1), slot.data(), 47),
            "input: " + path + ":/data[1]: needs 48 bytes (3 x 4 float32), the destination holds 47");
  EXPECT_TRUE(std::all_of(slot.begin(), slot.end(), [](unsigned char c) { return c == 0xEE; }));
  EXPECT_CONTAINS(read_error(reader, catalog.matrix(1), nullptr, 48), "the destination holds 0");
  EXPECT_THROW(reader.read({0, 5, 0}, slot.data(), slot.size()), std::out_of_range);
  EXPECT_THROW(reader.read({0, 0, 2}, slot.data(), slot.size()), std::out_of_range);
  EXPECT_NO_THROW(reader.read(catalog.matrix(1), slot.data(), 48));
}

// Byte offset of chunk `index` in the file.
haddr_t chunk_address(const std::string& path, const char* dataset_path, hsize_t index) {
  h5::File file = open_file(path, H5F_ACC_RDONLY);
  h5::Dataset dataset(H5Dopen2(file, dataset_path, H5P_DEFAULT), "H5Dopen2");
  h5::Dataspace space(H5Dget_space(dataset), "H5Dget_space");
  std::array<hsize_t, 3> offset{};
  unsigned mask = 0;
  haddr_t address = 0;
  hsize_t size = 0;
  h5::check(H5Dget_chunk_info(dataset, space, index, offset.data(), &mask, &address, &size), "H5Dget_chunk_info");
  return address;
}

TEST(InputReadTest, CorruptChunksFailTheirMatrixOnly) {
  TempDir dir;
  const std::string path = dir / "f.h5";
  const Bytes values = make_values(DType::int64, 4 * 32 * 32, 9);
  {
    h5::File file = create_file(path);
    Storage checksummed = chunked({1, 32, 32});
    checksummed.fletcher32 = true;
    write_dataset(file, "/sum", {4, 32, 32}, DType::int64, false, values, checksummed);
    Storage deflated = chunked({1, 32, 32});
    deflated.deflate = true;
    Bytes compressible(values.size());
    for (std::size_t i = 0; i < compressible.size(); ++i) compressible[i] = static_cast<unsigned char>((i / 64) % 7);
    write_dataset(file, "/zip", {4, 32, 32}, DType::int64, false, compressible, deflated);
  }
  scribble(path, chunk_address(path, "/sum", 2) + 100, 4);
  scribble(path, chunk_address(path, "/zip", 1) + 10, 4);

  const InputCatalog sum = InputCatalog::scan(config_for({path}, "/sum"));  // metadata is fine
  Hdf5MatrixReader reader(sum);
  Bytes slot(32 * 32 * 8);
  EXPECT_CONTAINS(read_error(reader, sum.matrix(2), slot.data(), slot.size()),
                  "input: " + path + ":/sum[2]: cannot read: HDF5: H5Dread");
  // Other chunks still read (the reader recovers after a failure).
  reader.read(sum.matrix(3), slot.data(), slot.size());
  EXPECT_TRUE(std::equal(slot.begin(), slot.end(), values.begin() + 3 * 32 * 32 * 8));

  const InputCatalog zip = InputCatalog::scan(config_for({path}, "/zip"));
  Hdf5MatrixReader zip_reader(zip);
  EXPECT_NO_THROW(zip_reader.read(zip.matrix(0), slot.data(), slot.size()));
  EXPECT_CONTAINS(read_error(zip_reader, zip.matrix(1), slot.data(), slot.size()),
                  "input: " + path + ":/zip[1]: cannot read: HDF5: H5Dread");
}

TEST(InputReadTest, FileTruncatedOrReplacedAfterScan) {
  TempDir dir;
  const std::string path = dir / "f.h5";
  const auto write = [&](const Dims& dims) {
    h5::File file = create_file(path);
    write_dataset(file, "/data", dims, DType::uint16, false, make_values(DType::uint16, elements(dims), 3));
  };
  write({6, 50, 50});
  const InputCatalog catalog = InputCatalog::scan(config_for({path}));
  fs::resize_file(path, fs::file_size(path) - 3000);
  Hdf5MatrixReader reader(catalog);
  Bytes slot(50 * 50 * 2);
  const std::string truncated = read_error(reader, catalog.matrix(5), slot.data(), slot.size());
  EXPECT_CONTAINS(truncated, "input: " + path + ":/data[5]: cannot open the file: HDF5: H5Fopen");
  EXPECT_CONTAINS(truncated, "truncated file");

  write({6, 50, 49});
  EXPECT_EQ(read_error(reader, catalog.matrix(0), slot.data(), slot.size()),
            "input: " + path +
                ":/data[0]: changed since the input was scanned (shape now [6, 50, 49], expected "
                "[6, 50, 50] of uint16)");
}

TEST(InputReadTest, KeepsAtMostEightFilesOpen) {
  TempDir dir;
  std::vector<std::string> files;
  for (int i = 0; i < 11; ++i) {
    files.push_back(dir / ("f" + std::to_string(i + 10) + ".h5"));
    h5::File file = create_file(files.back());
    write_dataset(file, "/data", {2, 2, 2}, DType::int8, false, Bytes(8, static_cast<unsigned char>(i)));
  }
  const InputCatalog catalog = InputCatalog::scan(config_for({dir / "*.h5"}));
  ASSERT_EQ(catalog.size(), 22u);
  Hdf5MatrixReader reader(catalog);
  std::array<unsigned char, 4> slot{};
  for (int pass = 0; pass < 2; ++pass)
    for (std::uint64_t id = 0; id < catalog.size(); ++id) {
      reader.read(catalog.matrix(id), slot.data(), slot.size());
      EXPECT_EQ(slot[0], id / 2);
      EXPECT_LE(reader.open_files(), Hdf5MatrixReader::kOpenFiles);
    }
  EXPECT_EQ(reader.open_files(), Hdf5MatrixReader::kOpenFiles);
}

// ---- serialisation ----------------------------------------------------------------------------

TEST(InputSerializeTest, RoundTrip) {
  TempDir dir;
  write_group_file(dir / "g.h5");
  write_group_file(dir / "h.h5");
  const InputCatalog original = InputCatalog::scan(config_for({dir / "g.h5", dir / "h.h5"}, "/g", true));
  const std::vector<std::byte> bytes = original.serialize();
  const InputCatalog copy = InputCatalog::deserialize(bytes);
  EXPECT_EQ(copy, original);
  EXPECT_EQ(copy.files(), original.files());
  EXPECT_EQ(copy.datasets(), original.datasets());
  EXPECT_EQ(copy.matrices(), original.matrices());
  EXPECT_EQ(copy.shapes(), original.shapes());
  EXPECT_EQ(read_all(copy), read_all(original));
  EXPECT_EQ(InputCatalog::deserialize(InputCatalog().serialize()), InputCatalog());

  // Malformed bytes are rejected, never half-read.
  const auto rejects = [](std::span<const std::byte> b) { EXPECT_THROW(InputCatalog::deserialize(b), Error); };
  rejects(std::span(bytes).first(bytes.size() - 1));
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});
  rejects(longer);
  std::vector<std::byte> magic = bytes;
  magic[0] = std::byte{'X'};
  rejects(magic);
  rejects({});
  for (std::size_t cut = 0; cut < bytes.size(); cut += 7) rejects(std::span(bytes).first(cut));
}

}  // namespace
}  // namespace shmjob

namespace shmjob {
namespace {
// Compressed chunks are size-checked before a read (input/chunk_size_check); chunks never
// written have no stored bytes and read as the fill value, as HDF5 reads them.
TEST(InputChunkCheckTest, UnwrittenCompressedChunksReadAsFill) {
  TempDir dir;
  const std::string path = dir / "partial.h5";
  {
    h5::File file = create_file(path);
    h5::PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
    const std::array<hsize_t, 3> chunk{1, 4, 4}, dims{3, 4, 4};
    h5::check(H5Pset_chunk(dcpl, 3, chunk.data()), "H5Pset_chunk");
    h5::check(H5Pset_deflate(dcpl, 6), "H5Pset_deflate");
    h5::Dataspace space(H5Screate_simple(3, dims.data(), nullptr), "H5Screate_simple");
    h5::Dataset data(H5Dcreate2(file, "/data", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "H5Dcreate2");
    const std::array<hsize_t, 3> start{1, 0, 0}, count{1, 4, 4};
    h5::check(H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), "select");
    h5::Dataspace memory(H5Screate_simple(3, count.data(), nullptr), "H5Screate_simple");
    const std::vector<double> ones(16, 1.0);
    h5::check(H5Dwrite(data, H5T_NATIVE_DOUBLE, memory, space, H5P_DEFAULT, ones.data()), "H5Dwrite");
  }
  const InputCatalog catalog = InputCatalog::scan(config_for({path}));
  Hdf5MatrixReader reader(catalog);
  for (std::uint64_t k = 0; k < 3; ++k) {
    std::vector<double> matrix(16, -7.0);
    reader.read(catalog.matrix(k), matrix.data(), matrix.size() * sizeof(double));
    for (const double v : matrix) ASSERT_EQ(v, k == 1 ? 1.0 : 0.0) << "matrix " << k;
  }
}

// A chunk's layout may declare up to 4 GiB (chunk dims are not bounded by the dataset's) while
// its stream holds a few bytes. The check decodes with memory that follows the stream: found by
// fuzzing, it used to allocate (and zero) the declared size plus an eighth before decoding a byte.
std::uint64_t peak_rss_kb() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss);
}

TEST(InputChunkCheckTest, ForgedChunkSizeIsRefusedWithoutAllocatingIt) {
  TempDir dir;
  const hsize_t side = 20000;  // [1, 20000, 20000] float64: a 3.2 GB chunk for a 10 x 10 matrix
  const std::vector<unsigned char> zeros(800, 0);
  std::vector<unsigned char> deflated(compressBound(zeros.size()));
  uLongf deflated_size = deflated.size();
  ASSERT_EQ(compress(deflated.data(), &deflated_size, zeros.data(), zeros.size()), Z_OK);
  deflated.resize(deflated_size);
  std::vector<unsigned char> zstd_frame(ZSTD_compressBound(zeros.size()));
  zstd_frame.resize(ZSTD_compress(zstd_frame.data(), zstd_frame.size(), zeros.data(), zeros.size(), 3));
  struct Case {
    const char* name;
    bool zstd_over_deflate;  // zstd decodes into bytes a deflate stage below must read
  };
  for (const Case c : {Case{"deflate", false}, Case{"zstd_deflate", true}}) {
    SCOPED_TRACE(c.name);
    const std::string path = dir / (std::string(c.name) + ".h5");
    {
      h5::File file = create_file(path);
      h5::PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
      const std::array<hsize_t, 3> chunk{1, side, side}, dims{1, 10, 10}, max{H5S_UNLIMITED, side, side};
      h5::check(H5Pset_chunk(dcpl, 3, chunk.data()), "H5Pset_chunk");
      h5::check(H5Pset_deflate(dcpl, 6), "H5Pset_deflate");
      const unsigned level = 3;
      if (c.zstd_over_deflate) h5::check(H5Pset_filter(dcpl, h5::kZstdFilterId, H5Z_FLAG_MANDATORY, 1, &level), "zstd");
      h5::Dataspace space(H5Screate_simple(3, dims.data(), max.data()), "H5Screate_simple");
      h5::Dataset data(H5Dcreate2(file, "/data", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "H5Dcreate2");
      // zstd over deflate: a zstd frame whose content is the deflate stream.
      std::vector<unsigned char> stored = deflated;
      if (c.zstd_over_deflate) {
        stored.resize(ZSTD_compressBound(deflated.size()));
        stored.resize(ZSTD_compress(stored.data(), stored.size(), deflated.data(), deflated.size(), 3));
      }
      const std::array<hsize_t, 3> origin{0, 0, 0};
      h5::check(H5Dwrite_chunk(data, H5P_DEFAULT, 0, origin.data(), stored.size(), stored.data()), "H5Dwrite_chunk");
    }
    const InputCatalog catalog = InputCatalog::scan(config_for({path}));
    Hdf5MatrixReader reader(catalog);
    std::vector<double> matrix(100);
    const std::uint64_t before = peak_rss_kb();
    EXPECT_CONTAINS(read_error(reader, catalog.matrix(0), matrix.data(), matrix.size() * sizeof(double)),
                    "a filtered chunk decodes to 800 bytes, not the chunk's 3200000000");
    // Allocating the declared size would add 3.6 GB; the stream yields 800 bytes.
    EXPECT_LT(peak_rss_kb() - before, std::uint64_t{256} << 10) << "KB more at peak";
  }
}
}  // namespace
}  // namespace shmjob
