#pragma once
// A run of consecutive matrix ids. The pipeline's work order (pipeline/work_order.hpp) cuts the
// ids to write into these; resume (resume/) reports the ids an earlier run did not leave intact
// as these. Kept in namespace stages, where it was declared before it moved down here.
#include <cstdint>

namespace shmjob::stages {

struct IdRange {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
  bool contains(std::uint64_t id) const noexcept { return id >= first && id - first < count; }
  std::uint64_t end() const noexcept { return first + count; }
  friend bool operator==(const IdRange&, const IdRange&) = default;
};

}  // namespace shmjob::stages
