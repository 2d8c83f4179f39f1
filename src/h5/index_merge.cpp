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
  Input& input = inputs_.emplace_back();
  input.where = shard.string();
  input.file = File(H5Fopen(input.where.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + input.where);
  input.table = open_table(input.file, "index", "the index of " + input.where);
  if (refill(input)) heads_.push({input.rows.front().id, inputs_.size() - 1});
}

bool IndexMerge::refill(Input& input) {
  if (input.next_row >= input.table.rows) return false;
  const std::uint64_t count = std::min<std::uint64_t>(kBlockRows, input.table.rows - input.next_row);
  input.block.resize(count);
  read_rows(input.table.data, memory_type_, input.next_row, input.block, "read the index of " + input.where);
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
