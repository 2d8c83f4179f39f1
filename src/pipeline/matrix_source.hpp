#pragma once
// Where a producer's matrices come from: generated, or read from input files. A source writes
// matrix `id` straight into slot memory (no intermediate buffer).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "config/config.hpp"
#include "config/matrix_set.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob {
class InputCatalog;
}

namespace shmjob::stages {

struct Provenance {
  std::uint32_t file = kNoSource;
  std::uint32_t dataset = kNoSource;
  std::uint64_t index = 0;
};

class MatrixSource {
 public:
  virtual ~MatrixSource() = default;
  // Writes matrix `id` of `set` (set.bytes() bytes) into `destination`.
  virtual void fill(std::uint64_t id, const MatrixSet& set, void* destination, std::size_t capacity) = 0;
  virtual Provenance provenance(std::uint64_t id) const = 0;
};

std::unique_ptr<MatrixSource> make_synthetic_source(const MatrixSpec& spec);
// Reads from the input files; `catalog` and `sets` must outlive the source.
std::unique_ptr<MatrixSource> make_hdf5_source(const InputCatalog& catalog, const std::vector<MatrixSet>& sets);
// One set per distinct shape/dtype of the input, in first-seen order.
std::vector<MatrixSet> ingest_matrix_sets(const InputCatalog& catalog);

}  // namespace shmjob::stages
