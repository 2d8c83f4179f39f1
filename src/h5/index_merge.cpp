#include "h5/index_merge.hpp"

#include <algorithm>

#include "h5/index_table.hpp"
#include "shmjob/error.hpp"

namespace shmjob::h5 {

void IndexMerge::add_rows(std::span<const IndexRow> sorted) {
  Input& input = inputs_.emplace_back();
  input.rows = sorted;
  input.where = "rows in memory";
  if (!sorted.empty()) heads_.push({sorted.front().id, inputs_.size() - 1});
}

void IndexMerge::add_shard(const std::filesystem::path& shard) {
  if (memory_type_ < 0) memory_type_ = index_row_type();
  Input& input = inputs_.emplace_back();
  input.where = shard.string();
  input.file = File(H5Fopen(input.where.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + input.where);
  input.table = Dataset(H5Dopen2(input.file, "index", H5P_DEFAULT), "open the index of " + input.where);
  const Dataspace space(H5Dget_space(input.table), "the index of " + input.where);
  if (H5Sget_simple_extent_ndims(space) != 1) throw H5Error("HDF5: the index of " + input.where + " is not a table");
  hsize_t rows = 0;
  check(H5Sget_simple_extent_dims(space, &rows, nullptr), "the index of " + input.where);
  input.total = rows;
  if (refill(input)) heads_.push({input.rows.front().id, inputs_.size() - 1});
}

bool IndexMerge::refill(Input& input) {
  if (input.next_row >= input.total) return false;
  const std::uint64_t count = std::min<std::uint64_t>(kBlockRows, input.total - input.next_row);
  input.block.resize(count);
  read_rows(input.table, memory_type_, input.next_row, input.block, "read the index of " + input.where);
  input.rows = input.block;
  input.at = 0;
  input.next_row += count;
  return true;
}

bool IndexMerge::next(IndexRow& row, std::size_t& input_number) {
  if (heads_.empty()) return false;
  const Head head = heads_.top();
  heads_.pop();
  Input& input = inputs_[head.input];
  row = input.rows[input.at++];
  input_number = head.input;
  if (input.at == input.rows.size() && !refill(input)) return true;
  const IndexRow& following = input.rows[input.at];
  if (following.id < row.id)
    throw H5Error("HDF5: the index of " + input.where + " is not sorted by id (" + std::to_string(following.id) +
                  " after " + std::to_string(row.id) + ")");
  heads_.push({following.id, head.input});
  return true;
}

}  // namespace shmjob::h5
