#include "h5/master_writer.hpp"

#include <array>
#include <system_error>

#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "shmjob/error.hpp"

namespace shmjob::h5 {
namespace {
void map_shards(hid_t dcpl, hid_t virtual_space, const MatrixSpec& spec,
                std::span<const ShardInfo> shards) {
  for (const ShardInfo& s : shards) {
    if (s.count == 0) continue;
    const std::array<hsize_t, 3> block{s.count, spec.rows, spec.cols};
    const std::array<hsize_t, 3> start{s.first_id, 0, 0};
    check(H5Sselect_hyperslab(virtual_space, H5S_SELECT_SET, start.data(), nullptr, block.data(),
                              nullptr),
          "select shard block");
    Dataspace source(H5Screate_simple(3, block.data(), nullptr), "H5Screate_simple");
    check(H5Pset_virtual(dcpl, virtual_space, s.file_name.c_str(), "/data", source),
          "map " + s.file_name + " into the virtual dataset");
  }
}
}  // namespace

void write_master(const std::filesystem::path& path, const MatrixSpec& spec,
                  std::span<const ShardInfo> shards, std::span<const IndexRow> rows,
                  const std::map<std::string, std::string>& attributes) {
  const std::filesystem::path partial = path.string() + ".partial";
  const std::string where = partial.string();
  {
    PropList fapl(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
    check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
    File file(H5Fcreate(where.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "create " + where);

    const std::array<hsize_t, 3> dims{spec.count, spec.rows, spec.cols};
    Dataspace space(H5Screate_simple(3, dims.data(), nullptr), "H5Screate_simple");
    PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
    map_shards(dcpl, space, spec, shards);
    check(H5Sselect_all(space), "H5Sselect_all");
    Dataset data(H5Dcreate2(file, "data", native_type(spec.dtype), space, H5P_DEFAULT, dcpl,
                            H5P_DEFAULT),
                 "create the virtual dataset in " + where);
    write_index(file, "index", rows);
    for (const auto& [name, value] : attributes) write_string_attribute(file, name.c_str(), value);
    data.close("close the virtual dataset");
    file.close("close " + where);
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw H5Error("cannot rename " + where + " to " + path.string() + ": " + ec.message());
}

}  // namespace shmjob::h5
