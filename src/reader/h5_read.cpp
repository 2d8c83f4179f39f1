#include "reader/h5_read.hpp"

#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "shmjob/error.hpp"

namespace shmjob::reader {

std::optional<std::string> string_attribute(hid_t object, const char* name) {
  if (h5::check(H5Aexists(object, name), std::string("look for attribute ") + name) <= 0) return std::nullopt;
  const h5::Attribute attr(H5Aopen(object, name, H5P_DEFAULT), std::string("open attribute ") + name);
  const h5::Datatype type(H5Aget_type(attr), "H5Aget_type");
  if (H5Tget_class(type) != H5T_STRING) return std::nullopt;
  if (h5::check(H5Tis_variable_str(type), "H5Tis_variable_str") > 0) {
    char* text = nullptr;
    h5::check(H5Aread(attr, type, &text), std::string("read attribute ") + name);
    std::string value = text != nullptr ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type), '\0');
  h5::check(H5Aread(attr, type, value.data()), std::string("read attribute ") + name);
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

std::optional<std::uint64_t> u64_attribute(hid_t object, const char* name) {
  if (h5::check(H5Aexists(object, name), std::string("look for attribute ") + name) <= 0) return std::nullopt;
  const h5::Attribute attr(H5Aopen(object, name, H5P_DEFAULT), std::string("open attribute ") + name);
  std::uint64_t value = 0;
  h5::check(H5Aread(attr, H5T_NATIVE_UINT64, &value), std::string("read attribute ") + name);
  return value;
}

std::vector<IndexRow> read_index_table(hid_t location, const std::string& name) {
  const h5::Dataset d(H5Dopen2(location, name.c_str(), H5P_DEFAULT), "open index table " + name);
  const h5::Dataspace space(H5Dget_space(d), "H5Dget_space");
  hsize_t n = 0;
  if (H5Sget_simple_extent_ndims(space) != 1) throw H5Error("HDF5: index table " + name + " is not 1-D");
  h5::check(H5Sget_simple_extent_dims(space, &n, nullptr), "H5Sget_simple_extent_dims");
  std::vector<IndexRow> rows(n);
  if (n > 0)
    h5::check(H5Dread(d, h5::index_row_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), "read index table " + name);
  return rows;
}

std::vector<H5Z_filter_t> filter_ids(hid_t dataset) {
  const h5::PropList dcpl(H5Dget_create_plist(dataset), "H5Dget_create_plist");
  const int n = h5::check(H5Pget_nfilters(dcpl), "H5Pget_nfilters");
  std::vector<H5Z_filter_t> ids;
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t cd_n = 0;
    ids.push_back(h5::check(H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &cd_n, nullptr, 0, nullptr, &config),
                            "H5Pget_filter2"));
  }
  return ids;
}

}  // namespace shmjob::reader
