#include "h5/master_writer.hpp"

#include <algorithm>
#include <array>
#include <system_error>

#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "shmjob/error.hpp"

namespace shmjob::h5 {
namespace {
void write_virtual_dataset(hid_t file, const MatrixSet& set, std::size_t set_index,
                           std::span<const ShardInfo> shards) {
  const std::array<hsize_t, 3> dims{set.count, set.rows, set.cols};
  Dataspace space(H5Screate_simple(3, dims.data(), nullptr), "H5Screate_simple");
  PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  for (const ShardInfo& s : shards) {
    const std::uint64_t count = s.count.at(set_index);
    if (count == 0) continue;
    const std::array<hsize_t, 3> block{count, set.rows, set.cols};
    const std::array<hsize_t, 3> start{s.first_id.at(set_index) - set.first_id, 0, 0};
    check(H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr),
          "select shard block");
    Dataspace source(H5Screate_simple(3, block.data(), nullptr), "H5Screate_simple");
    const std::string source_path = "/" + set.name;
    check(H5Pset_virtual(dcpl, space, s.file_name.c_str(), source_path.c_str(), source),
          "map " + s.file_name + " into the virtual dataset " + set.name);
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
      write_virtual_dataset(file, set, s, shards);
      const auto begin = std::lower_bound(rows.begin(), rows.end(), set.first_id,
                                          [](const IndexRow& r, std::uint64_t id) { return r.id < id; });
      const auto end = std::lower_bound(begin, rows.end(), set.first_id + set.count,
                                        [](const IndexRow& r, std::uint64_t id) { return r.id < id; });
      write_index(file, set.index_name.c_str(), std::span<const IndexRow>(begin, end));
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
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw H5Error("cannot rename " + where + " to " + path.string() + ": " + ec.message());
}

}  // namespace shmjob::h5
