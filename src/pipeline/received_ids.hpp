#pragma once
// The ids a writer has stored, one bit per row of its shard's datasets: it catches a matrix that
// arrives twice without keeping the matrices' index rows (136 bytes each) in memory, and gives
// each stored id its position in the shard's index sorted by id (ShardWriter::finish). A
// 200,000-matrix shard takes 25 KB of bits and as much of rank counts.
#include <cstdint>
#include <vector>

#include "pipeline/work_order.hpp"

namespace shmjob::stages {

class ReceivedIds {
 public:
  // Parts are the ranges of the shard's datasets, in increasing id order.
  explicit ReceivedIds(const std::vector<IdRange>& parts);

  // Records `id` of `part`; false if it was recorded before (the id must be in the part).
  bool insert(std::size_t part, std::uint64_t id);
  bool contains(std::size_t part, std::uint64_t id) const;
  std::uint64_t size() const noexcept { return size_; }

  // Position of recorded `id` among all recorded ids in increasing order (parts in order).
  // Counts are built on the first call after the last insert.
  std::uint64_t position(std::size_t part, std::uint64_t id);

 private:
  struct Bits {
    IdRange range;
    std::vector<std::uint64_t> words;
    std::vector<std::uint64_t> before;  // recorded ids of earlier words and parts (rank counts)
  };
  void count_ranks();

  std::vector<Bits> parts_;
  std::uint64_t size_ = 0;
  bool ranks_current_ = false;
};

}  // namespace shmjob::stages
