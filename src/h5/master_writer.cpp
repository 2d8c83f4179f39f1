#include "h5/master_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "shmjob/error.hpp"
#include "util/safe_file.hpp"

namespace shmjob::h5 {
namespace {
void sync_to_disk(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    throw H5Error("fsync " + path.string() + ": " + std::strerror(error));
  }
  ::close(fd);
}

const ShardInfo& shard_numbered(std::span<const ShardInfo> shards, std::uint32_t number) {
  for (const ShardInfo& s : shards)
    if (s.number == number) return s;
  throw H5Error("master: index row names shard " + std::to_string(number) + ", which is not in the job", kExitInternal);
}

// A set's virtual dataset: its mapping grows by one block for each run of consecutive ids at
// consecutive rows of one shard, as the set's rows come in id order.
class VirtualDatasetBuilder {
 public:
  VirtualDatasetBuilder(const MatrixSet& set, std::size_t set_index, std::span<const ShardInfo> shards)
      : set_(set), set_index_(set_index), shards_(shards), source_path_("/" + set.name) {
    const std::array<hsize_t, 3> dims{set.count, set.shape.rows, set.shape.cols};
    space_ = Dataspace(H5Screate_simple(3, dims.data(), nullptr), "H5Screate_simple");
    dcpl_ = PropList(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
    check(H5Pset_layout(dcpl_, H5D_VIRTUAL), "H5Pset_layout");  // virtual even with no block mapped
  }

  void add(const IndexRow& r) {
    if (length_ > 0 && r.shard == first_.shard && r.id - first_.id == length_ && r.row - first_.row == length_) {
      ++length_;
      return;
    }
    map_run();
    first_ = r;
    length_ = 1;
  }

  void create(hid_t file) {
    map_run();
    check(H5Sselect_all(space_), "H5Sselect_all");
    Dataset data(
        H5Dcreate2(file, set_.name.c_str(), native_type(set_.shape.dtype), space_, H5P_DEFAULT, dcpl_, H5P_DEFAULT),
        "create the virtual dataset " + set_.name);
    data.close("close the virtual dataset " + set_.name);
  }

 private:
  void map_run() {
    if (length_ == 0) return;
    const ShardInfo& shard = shard_numbered(shards_, first_.shard);
    const std::array<hsize_t, 3> block{length_, set_.shape.rows, set_.shape.cols};
    const std::array<hsize_t, 3> start{first_.id - set_.first_id, 0, 0};
    check(H5Sselect_hyperslab(space_, H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr),
          "select a block of the virtual dataset");
    const std::array<hsize_t, 3> source_dims{shard.count.at(set_index_), set_.shape.rows, set_.shape.cols};
    const std::array<hsize_t, 3> source_start{first_.row, 0, 0};
    Dataspace source(H5Screate_simple(3, source_dims.data(), nullptr), "H5Screate_simple");
    check(H5Sselect_hyperslab(source, H5S_SELECT_SET, source_start.data(), nullptr, block.data(), nullptr),
          "select a block of " + shard.file_name);
    check(H5Pset_virtual(dcpl_, space_, shard.file_name.c_str(), source_path_.c_str(), source),
          "map " + shard.file_name + " into the virtual dataset " + set_.name);
    length_ = 0;
  }

  const MatrixSet& set_;
  std::size_t set_index_;
  std::span<const ShardInfo> shards_;
  std::string source_path_;
  Dataspace space_;
  PropList dcpl_;
  IndexRow first_{};
  std::uint64_t length_ = 0;  // rows in the run that starts at first_
};
void write_array(hid_t file, const MasterArray& array) {
  if (array.bytes.size() != std::uint64_t{array.rows} * array.cols * dtype_size(array.dtype))
    throw H5Error("master: " + array.path + " holds " + std::to_string(array.bytes.size()) + " bytes, not " +
                      std::to_string(array.rows) + " x " + std::to_string(array.cols) + " values",
                  kExitInternal);
  const std::array<hsize_t, 2> dims{array.rows, array.cols};
  Dataspace space(H5Screate_simple(2, dims.data(), nullptr), "H5Screate_simple");
  PropList links(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate");
  check(H5Pset_create_intermediate_group(links, 1), "H5Pset_create_intermediate_group");
  const Datatype type = native_type(array.dtype);
  Dataset data(H5Dcreate2(file, array.path.c_str(), type, space, links, H5P_DEFAULT, H5P_DEFAULT),
               "create " + array.path);
  check(H5Dwrite(data, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, array.bytes.data()), "write " + array.path);
  for (const auto& [name, value] : array.attributes) write_string_attribute(data, name.c_str(), value);
  data.close("close " + array.path);
}
}  // namespace

void write_master(const std::filesystem::path& path, const std::vector<MatrixSet>& sets,
                  std::span<const ShardInfo> shards, const RowSource& rows, const InputList& inputs,
                  const std::map<std::string, std::string>& attributes, const std::function<void()>& before_publish,
                  std::span<const MasterArray> arrays) {
  // Written in a directory of its own (mode 0700: nobody can plant a link there), then renamed
  // onto its name, which replaces whatever is there without following it.
  const fs::PrivateDir scratch(path.has_parent_path() ? path.parent_path() : std::filesystem::path("."),
                               path.filename().string());
  const std::filesystem::path partial = scratch.path() / path.filename();
  const std::string where = partial.string();
  {
    PropList fapl(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
    check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
    File file(H5Fcreate(where.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl), "create " + where);
    IndexRow row{};
    bool have = rows(row);
    const auto stray = [&] {
      return H5Error("master: index row of matrix " + std::to_string(row.id) + " is in no dataset or out of order",
                     kExitInternal);
    };
    for (std::size_t s = 0; s < sets.size(); ++s) {
      const MatrixSet& set = sets[s];
      if (have && row.id < set.first_id) throw stray();
      VirtualDatasetBuilder data(set, s, shards);
      IndexWriter index(file, set.index_name.c_str());
      for (; have && row.id - set.first_id < set.count; have = rows(row)) {
        data.add(row);
        index.add(row);
      }
      data.create(file);
      index.close();
    }
    if (have) throw stray();
    if (!inputs.files.empty()) {
      Handle<H5Gclose> group(H5Gcreate2(file, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create group inputs");
      write_string_list(group, "files", inputs.files);
      write_string_list(group, "datasets", inputs.datasets);
    }
    for (const MasterArray& array : arrays) write_array(file, array);
    for (const auto& [name, value] : attributes) write_string_attribute(file, name.c_str(), value);
    file.close("close " + where);
  }
  // Only a master that passed every check gets its name (a throw leaves none: the private
  // directory goes with what is in it).
  if (before_publish) before_publish();
  // Durable before it is visible under its name, and the new name durable too: after a crash
  // the master is either the old one (or none) or the complete new one.
  sync_to_disk(partial);
  fs::publish(partial, path);
}

void write_master(const std::filesystem::path& path, const std::vector<MatrixSet>& sets,
                  std::span<const ShardInfo> shards, std::span<const IndexRow> rows, const InputList& inputs,
                  const std::map<std::string, std::string>& attributes, const std::function<void()>& before_publish) {
  std::size_t next = 0;
  write_master(
      path, sets, shards,
      [&](IndexRow& row) {
        if (next == rows.size()) return false;
        row = rows[next++];
        return true;
      },
      inputs, attributes, before_publish);
}

}  // namespace shmjob::h5
