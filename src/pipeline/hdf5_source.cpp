// Ingest: a producer's matrices read from the input files straight into its slots.
#include <algorithm>

#include "input/input.hpp"
#include "pipeline/matrix_source.hpp"

namespace shmjob::stages {
namespace {
class Hdf5Source final : public MatrixSource {
 public:
  Hdf5Source(const InputCatalog& catalog, const std::vector<MatrixSet>& sets)
      : catalog_(catalog), sets_(sets), reader_(catalog) {}

  void fill(std::uint64_t id, const MatrixSet&, void* destination, std::size_t capacity) override {
    reader_.read(locate(id), destination, capacity);
  }

  Provenance provenance(std::uint64_t id) const override {
    const InputMatrix m = locate(id);
    return {m.file, m.dataset, m.index};
  }

 private:
  // Set s holds the matrices of one shape in input order: id first_id + k is its k-th.
  InputMatrix locate(std::uint64_t id) const {
    const auto set = std::upper_bound(sets_.begin(), sets_.end(), id,
                                      [](std::uint64_t v, const MatrixSet& s) { return v < s.first_id; }) -
                     1;
    return catalog_.matrix(set->source, id - set->first_id);
  }

  const InputCatalog& catalog_;
  const std::vector<MatrixSet>& sets_;
  Hdf5MatrixReader reader_;
};
}  // namespace

std::unique_ptr<MatrixSource> make_hdf5_source(const InputCatalog& catalog, const std::vector<MatrixSet>& sets) {
  return std::make_unique<Hdf5Source>(catalog, sets);
}

std::vector<MatrixSet> ingest_matrix_sets(const InputCatalog& catalog) {
  std::vector<MatrixSet> sets;
  for (const MatrixShape& shape : catalog.shapes()) sets.push_back(matrix_set(shape, catalog.count(shape)));
  return make_matrix_sets(std::move(sets));
}

}  // namespace shmjob::stages
