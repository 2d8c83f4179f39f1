#pragma once
// Small HDF5 reading helpers of the reader (callers hold hdf5_mutex()).
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shmjob/index_row.hpp"

namespace shmjob::reader {

// A string attribute (fixed-size or variable-length), or nullopt if there is none.
std::optional<std::string> string_attribute(hid_t object, const char* name);
// A uint64 attribute, or nullopt.
std::optional<std::uint64_t> u64_attribute(hid_t object, const char* name);
// All rows of an index table (the file stores it packed; HDF5 converts).
std::vector<IndexRow> read_index_table(hid_t location, const std::string& name);
// Filter ids of a dataset's pipeline, in order.
std::vector<H5Z_filter_t> filter_ids(hid_t dataset);

}  // namespace shmjob::reader
