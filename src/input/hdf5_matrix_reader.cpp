// Hdf5MatrixReader: one matrix = one hyperslab H5Dread into the caller's memory, with the native
// memory type so HDF5 converts the byte order on the way. Recently used files and datasets stay
// open (LRU), because a producer reads many slices of the same dataset.
#include <hdf5.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <iterator>
#include <list>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "h5/h5_handle.hpp"
#include "h5/zstd_filter.hpp"
#include "input/chunk_size_check.hpp"
#include "input/input.hpp"
#include "shmjob/error.hpp"

namespace shmjob {
namespace {

// Chunk cache for filtered datasets whose chunks span several slices: big enough to hold every
// chunk one slice touches, so the next slice of the same chunks does not decompress them again
// (measured: gzip chunks of 4 slices read 7x faster). Unfiltered chunks keep HDF5's default,
// which lets HDF5 read a slice straight from the file into the slot (2.5x faster than through
// the cache).
constexpr std::size_t kMinChunkCache = std::size_t{1} << 20;   // HDF5's default
constexpr std::size_t kMaxChunkCache = std::size_t{64} << 20;  // per open dataset
constexpr std::size_t kChunkCacheSlots = 12421;                // prime, as HDF5 recommends
constexpr double kChunkCachePolicy = 0.75;                     // HDF5's default w0

struct OpenDataset {
  std::uint32_t index = 0;
  std::optional<ChunkSizeCheck> chunk_sizes;  // filtered chunks: each must decode to a whole chunk
  h5::Dataset dataset;
  h5::Dataspace file_space;    // selection reset on every read
  h5::Dataspace memory_space;  // [rows, cols], all selected
  h5::Datatype memory_type;    // the dtype in native order (built once: float16 has no predefined type)
};

struct OpenFile {
  std::uint32_t index = 0;
  h5::File file;                    // declared first, so destroyed after its datasets
  std::list<OpenDataset> datasets;  // most recently used first
};

// The dataset access properties for `d`: a larger chunk cache where chunks span slices.
h5::PropList access_properties(hid_t file, const InputDataset& d) {
  h5::PropList dapl(H5Pcreate(H5P_DATASET_ACCESS), "H5Pcreate");
  if (!d.sliced) return dapl;
  // Open once without the property to learn the chunk shape (cheap: object header only).
  h5::Dataset probe(H5Dopen2(file, d.path.c_str(), H5P_DEFAULT), "H5Dopen2");
  h5::PropList dcpl(H5Dget_create_plist(probe), "H5Dget_create_plist");
  if (H5Pget_layout(dcpl) != H5D_CHUNKED || h5::check(H5Pget_nfilters(dcpl), "H5Pget_nfilters") == 0) return dapl;
  std::array<hsize_t, 3> chunk{};
  if (h5::check(H5Pget_chunk(dcpl, 3, chunk.data()), "H5Pget_chunk") != 3 || chunk[0] <= 1) return dapl;
  const std::size_t element = dtype_size(d.shape.dtype);
  const hsize_t per_slice = ((d.shape.rows + chunk[1] - 1) / chunk[1]) * ((d.shape.cols + chunk[2] - 1) / chunk[2]);
  const hsize_t wanted = per_slice * chunk[0] * chunk[1] * chunk[2] * element;
  const auto bytes = static_cast<std::size_t>(std::clamp<hsize_t>(wanted, kMinChunkCache, kMaxChunkCache));
  h5::check(H5Pset_chunk_cache(dapl, kChunkCacheSlots, bytes, kChunkCachePolicy), "H5Pset_chunk_cache");
  return dapl;
}

std::string dims_text(const std::vector<hsize_t>& dims) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

}  // namespace

struct Hdf5MatrixReader::State {
  const InputCatalog* catalog = nullptr;
  h5::FilterPlugins plugins;  // declared before the files, whose chunk checks use it
  std::list<OpenFile> files;  // most recently used first

  [[noreturn]] void fail(const std::string& where, const std::string& problem) const {
    throw InputError(where + ": " + problem, kExitIo);
  }

  OpenFile& file(std::uint32_t index, const std::string& where) {
    const auto hit = std::find_if(files.begin(), files.end(), [&](const OpenFile& f) { return f.index == index; });
    if (hit != files.end()) {
      files.splice(files.begin(), files, hit);
      return files.front();
    }
    const std::string& name = catalog->files()[index];
    OpenFile opened;
    opened.index = index;
    try {
      opened.file = h5::File(H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "H5Fopen");
    } catch (const H5Error& e) {
      fail(where, std::string("cannot open the file: ") + e.what());
    }
    if (files.size() >= kOpenFiles) files.pop_back();
    files.push_front(std::move(opened));
    return files.front();
  }

  OpenDataset& dataset(OpenFile& file, std::uint32_t index, const std::string& where) {
    auto& list = file.datasets;
    const auto hit = std::find_if(list.begin(), list.end(), [&](const OpenDataset& d) { return d.index == index; });
    if (hit != list.end()) {
      list.splice(list.begin(), list, hit);
      return list.front();
    }
    const InputDataset& d = catalog->datasets()[index];
    OpenDataset opened;
    opened.index = index;
    try {
      const h5::PropList dapl = access_properties(file.file, d);
      opened.dataset = h5::Dataset(H5Dopen2(file.file, d.path.c_str(), dapl), "H5Dopen2");
      opened.file_space = h5::Dataspace(H5Dget_space(opened.dataset), "H5Dget_space");
      opened.memory_type = h5::native_type(d.shape.dtype);
      opened.chunk_sizes = ChunkSizeCheck::for_dataset(opened.dataset, plugins, opened.memory_type);
      const std::array<hsize_t, 2> matrix{d.shape.rows, d.shape.cols};
      opened.memory_space = h5::Dataspace(H5Screate_simple(2, matrix.data(), nullptr), "H5Screate_simple");
    } catch (const H5Error& e) {
      fail(where, std::string("cannot open the dataset: ") + e.what());
    }
    check_unchanged(where, d, opened);
    if (list.size() >= kOpenDatasetsPerFile) list.pop_back();
    list.push_front(std::move(opened));
    return list.front();
  }

  // The file may have been replaced since rank 0 scanned it.
  void check_unchanged(const std::string& where, const InputDataset& d, const OpenDataset& opened) const {
    const int rank = H5Sget_simple_extent_ndims(opened.file_space);
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(opened.file_space, dims.data(), nullptr);
    std::vector<hsize_t> expected{d.shape.rows, d.shape.cols};
    if (d.sliced) expected.insert(expected.begin(), d.matrices);
    bool same_type = false;
    if (const hid_t type = H5Dget_type(opened.dataset); type >= 0) {
      same_type = H5Tget_size(type) == dtype_size(d.shape.dtype) &&
                  H5Tget_class(type) == (dtype_is_float(d.shape.dtype) ? H5T_FLOAT : H5T_INTEGER);
      H5Tclose(type);
    }
    H5Eclear2(H5E_DEFAULT);
    if (dims != expected || !same_type)
      fail(where, "changed since the input was scanned (shape now " + dims_text(dims) + ", expected " +
                      dims_text(expected) + " of " + std::string(dtype_name(d.shape.dtype)) + ")");
  }

  // The file as it was scanned: same size, same modification time (fstat of the descriptor
  // HDF5 reads through, so a file replaced under its name counts as changed too).
  void check_stamp(std::uint32_t file_index, const std::string& where) {
    const auto open =
        std::find_if(files.begin(), files.end(), [&](const OpenFile& f) { return f.index == file_index; });
    if (open == files.end() || file_index >= catalog->stamps().size()) return;
    void* handle = nullptr;
    struct stat st {};
    if (H5Fget_vfd_handle(open->file, H5P_DEFAULT, &handle) < 0 || handle == nullptr ||
        ::fstat(*static_cast<int*>(handle), &st) != 0) {
      H5Eclear2(H5E_DEFAULT);
      fail(where, "cannot check the file's size");
    }
    const FileStamp& scanned = catalog->stamps()[file_index];
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::int64_t mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (size != scanned.size)
      fail(where, "the file changed since the input was scanned (" + std::to_string(scanned.size) + " bytes then, " +
                      std::to_string(size) + " now); its matrices cannot be trusted");
    if (mtime != scanned.mtime_ns)
      fail(where,
           "the file was modified since the input was scanned (same size, new modification time); its "
           "matrices cannot be trusted");
  }

  void drop_dataset(std::uint32_t file_index, std::uint32_t dataset_index) {
    for (OpenFile& f : files)
      if (f.index == file_index) f.datasets.remove_if([&](const OpenDataset& d) { return d.index == dataset_index; });
  }
};

Hdf5MatrixReader::Hdf5MatrixReader(const InputCatalog& catalog) : state_(std::make_unique<State>()) {
  state_->catalog = &catalog;
  // Ranks that received the catalog rather than scanning need the zstd filter too.
  h5::register_zstd_filter();
}

Hdf5MatrixReader::~Hdf5MatrixReader() = default;
Hdf5MatrixReader::Hdf5MatrixReader(Hdf5MatrixReader&&) noexcept = default;
Hdf5MatrixReader& Hdf5MatrixReader::operator=(Hdf5MatrixReader&&) noexcept = default;

std::size_t Hdf5MatrixReader::open_files() const noexcept { return state_->files.size(); }

void Hdf5MatrixReader::read(const InputMatrix& m, void* destination, std::size_t capacity) {
  const InputCatalog& catalog = *state_->catalog;
  const std::uint32_t rows = m.dataset < catalog.datasets().size() ? catalog.datasets()[m.dataset].shape.rows : 0;
  read_rows(m, 0, rows, destination, capacity);
}

void Hdf5MatrixReader::read_rows(const InputMatrix& m, std::uint32_t first_row, std::uint32_t rows, void* destination,
                                 std::size_t capacity) {
  const InputCatalog& catalog = *state_->catalog;
  if (m.dataset >= catalog.datasets().size() || catalog.datasets()[m.dataset].file != m.file ||
      m.index >= catalog.datasets()[m.dataset].matrices)
    throw std::out_of_range("input: matrix (file " + std::to_string(m.file) + ", dataset " + std::to_string(m.dataset) +
                            ", index " + std::to_string(m.index) + ") is not in the catalog");
  const InputDataset& d = catalog.datasets()[m.dataset];
  const std::string where = catalog.describe(m);
  if (std::uint64_t{first_row} + rows > d.shape.rows)
    throw std::out_of_range(where + ": rows " + std::to_string(first_row) + " + " + std::to_string(rows) +
                            " of a matrix of " + std::to_string(d.shape.rows));
  const bool whole = first_row == 0 && rows == d.shape.rows;
  const std::uint64_t bytes = std::uint64_t{rows} * d.shape.cols * dtype_size(d.shape.dtype);
  if (destination == nullptr || capacity < bytes)
    state_->fail(where, "needs " + std::to_string(bytes) + " bytes (" + std::to_string(rows) + " x " +
                            std::to_string(d.shape.cols) + " " + std::string(dtype_name(d.shape.dtype)) +
                            "), the destination holds " + std::to_string(destination == nullptr ? 0 : capacity));
  if (rows == 0) return;

  OpenDataset& open = state_->dataset(state_->file(m.file, where), m.dataset, where);
  // HDF5 does not check that a chunk decoded to its full size: H5Dread would copy past the end
  // of a short decode (heap bytes into the matrix; measured under ASan). So the chunks this read
  // will use are checked first, each once, from their raw bytes.
  if (open.chunk_sizes) {
    try {
      // One chunk per matrix: decoded once, straight into the slot, and checked as it is.
      if (const std::optional<std::string> read =
              whole ? open.chunk_sizes->read_whole_chunk(open.dataset, d.sliced, m.index, destination) : std::nullopt) {
        if (!read->empty()) state_->fail(where, *read);
        state_->check_stamp(m.file, where);  // as after any read: the file must not have changed
        return;
      }
      if (const std::string problem =
              open.chunk_sizes->check(open.dataset, d.sliced, m.index, d.shape.rows, d.shape.cols);
          !problem.empty())
        state_->fail(where, problem);
    } catch (const H5Error& e) {
      state_->check_stamp(m.file, where);  // a truncated file is the better explanation
      state_->fail(where, std::string("cannot check its chunks: ") + e.what());
    }
  }
  try {
    if (d.sliced) {
      const std::array<hsize_t, 3> start{m.index, first_row, 0};
      const std::array<hsize_t, 3> count{1, rows, d.shape.cols};
      h5::check(H5Sselect_hyperslab(open.file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                "H5Sselect_hyperslab");
    } else if (whole) {
      h5::check(H5Sselect_all(open.file_space), "H5Sselect_all");
    } else {
      const std::array<hsize_t, 2> start{first_row, 0};
      const std::array<hsize_t, 2> count{rows, d.shape.cols};
      h5::check(H5Sselect_hyperslab(open.file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                "H5Sselect_hyperslab");
    }
    std::optional<h5::Dataspace> part;  // the rows read, when not the whole matrix
    if (!whole) {
      const std::array<hsize_t, 2> dims{rows, d.shape.cols};
      part.emplace(H5Screate_simple(2, dims.data(), nullptr), "H5Screate_simple");
    }
    h5::check(H5Dread(open.dataset, open.memory_type, part ? hid_t(*part) : hid_t(open.memory_space), open.file_space,
                      H5P_DEFAULT, destination),
              "H5Dread");
  } catch (const H5Error& e) {
    state_->check_stamp(m.file, where);  // a truncated file is the better explanation
    // HDF5 may have left the dataset's chunk cache half-filled: start afresh next time.
    state_->drop_dataset(m.file, m.dataset);
    state_->fail(where, std::string("cannot read: ") + e.what());
  }
  // After the read: HDF5 reads past the end of a truncated contiguous dataset as zeros, with no
  // error, so a file cut (or rewritten) while the job runs is only seen here.
  state_->check_stamp(m.file, where);
}

}  // namespace shmjob
