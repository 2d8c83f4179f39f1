#include "pipeline/matrix_source.hpp"

#include <stdexcept>

#include "synthetic/synthetic.hpp"

namespace shmjob::stages {
namespace {
class SyntheticSource final : public MatrixSource {
 public:
  explicit SyntheticSource(const MatrixSpec& spec) : spec_(spec) {}
  void fill(std::uint64_t id, const MatrixSet& set, void* destination, std::size_t capacity) override {
    if (set.source.bytes() > capacity) throw std::logic_error("slot smaller than a matrix");
    generate_matrix(spec_, id, destination);
  }
  Provenance provenance(std::uint64_t id) const override { return {kNoSource, kNoSource, id}; }

 private:
  MatrixSpec spec_;
};
}  // namespace

std::unique_ptr<MatrixSource> make_synthetic_source(const MatrixSpec& spec) {
  return std::make_unique<SyntheticSource>(spec);
}

}  // namespace shmjob::stages
