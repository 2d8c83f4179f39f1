#pragma once
// The compound HDF5 type of IndexRow and writing a table of rows.
#include <span>

#include "h5/h5_handle.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::h5 {

Datatype index_row_type();
// Writes `rows` as dataset `name` in `location` (1-D, chunked and deflated: it compresses well).
void write_index(hid_t location, const char* name, std::span<const IndexRow> rows);

}  // namespace shmjob::h5
