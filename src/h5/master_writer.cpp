#include "h5/master_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <array>
#include <system_error>

#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "shmjob/error.hpp"

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
  throw H5Error("master: index row names shard " + std::to_string(number) + ", which is not in the job",
                kExitInternal);
}

// `rows`: the set's index rows, sorted by id.
void write_virtual_dataset(hid_t file, const MatrixSet& set, std::size_t set_index,
                           std::span<const ShardInfo> shards, std::span<const IndexRow> rows) {
  const std::array<hsize_t, 3> dims{set.count, set.rows, set.cols};
  Dataspace space(H5Screate_simple(3, dims.data(), nullptr), "H5Screate_simple");
  PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check(H5Pset_layout(dcpl, H5D_VIRTUAL), "H5Pset_layout");  // virtual even with no block mapped
  const std::string source_path = "/" + set.name;
  for (std::size_t begin = 0; begin < rows.size();) {
    std::size_t end = begin + 1;
    while (end < rows.size() && rows[end].shard == rows[begin].shard &&
           rows[end].id - rows[begin].id == end - begin && rows[end].row - rows[begin].row == end - begin)
      ++end;
    const IndexRow& first = rows[begin];
    const ShardInfo& shard = shard_numbered(shards, first.shard);
    const std::array<hsize_t, 3> block{end - begin, set.rows, set.cols};
    const std::array<hsize_t, 3> start{first.id - set.first_id, 0, 0};
    check(H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr),
          "select a block of the virtual dataset");
    const std::array<hsize_t, 3> source_dims{shard.count.at(set_index), set.rows, set.cols};
    const std::array<hsize_t, 3> source_start{first.row, 0, 0};
    Dataspace source(H5Screate_simple(3, source_dims.data(), nullptr), "H5Screate_simple");
    check(H5Sselect_hyperslab(source, H5S_SELECT_SET, source_start.data(), nullptr, block.data(), nullptr),
          "select a block of " + shard.file_name);
    check(H5Pset_virtual(dcpl, space, shard.file_name.c_str(), source_path.c_str(), source),
          "map " + shard.file_name + " into the virtual dataset " + set.name);
    begin = end;
  }
  check(H5Sselect_all(space), "H5Sselect_all");
  Dataset data(H5Dcreate2(file, set.name.c_str(), native_type(set.dtype), space, H5P_DEFAULT, dcpl,
                          H5P_DEFAULT),
               "create the virtual dataset " + set.name);
  data.close("close the virtual dataset " + set.name);
}
}  // namespace

void write_master(const std::filesystem::path& path, const std::vector<MatrixSet>& sets,
                  std::span<const ShardInfo> shards, std::span<const IndexRow> rows,
                  const InputList& inputs, const std::map<std::string, std::string>& attributes) {
  const std::filesystem::path partial = path.string() + ".partial";
  const std::string where = partial.string();
  {
    PropList fapl(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
    check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
    File file(H5Fcreate(where.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "create " + where);
    for (std::size_t s = 0; s < sets.size(); ++s) {
      const MatrixSet& set = sets[s];
      const auto begin = std::lower_bound(rows.begin(), rows.end(), set.first_id,
                                          [](const IndexRow& r, std::uint64_t id) { return r.id < id; });
      const auto end = std::lower_bound(begin, rows.end(), set.first_id + set.count,
                                        [](const IndexRow& r, std::uint64_t id) { return r.id < id; });
      const std::span<const IndexRow> set_rows(begin, end);
      write_virtual_dataset(file, set, s, shards, set_rows);
      write_index(file, set.index_name.c_str(), set_rows);
    }
    if (!inputs.files.empty()) {
      Handle<H5Gclose> group(H5Gcreate2(file, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                             "create group inputs");
      write_string_list(group, "files", inputs.files);
      write_string_list(group, "datasets", inputs.datasets);
    }
    for (const auto& [name, value] : attributes) write_string_attribute(file, name.c_str(), value);
    file.close("close " + where);
  }
  // Durable before it is visible under its name, and the new name durable too: after a crash
  // the master is either the old one (or none) or the complete new one.
  sync_to_disk(partial);
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw H5Error("cannot rename " + where + " to " + path.string() + ": " + ec.message());
  sync_to_disk(path.has_parent_path() ? path.parent_path() : std::filesystem::path("."));
}

}  // namespace shmjob::h5
