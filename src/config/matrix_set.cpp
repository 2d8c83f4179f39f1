#include "config/matrix_set.hpp"

namespace shmjob {

std::vector<MatrixSet> make_matrix_sets(std::vector<MatrixSet> sets) {
  std::uint64_t next = 0;
  for (MatrixSet& s : sets) {
    s.source = s.shape;  // a transform (applied later) changes the stored shape only
    const std::string suffix = std::to_string(s.shape.rows) + "x" + std::to_string(s.shape.cols) + "_" +
                               std::string(dtype_name(s.shape.dtype));
    s.name = sets.size() == 1 ? "data" : "data_" + suffix;
    s.index_name = sets.size() == 1 ? "index" : "index_" + suffix;
    s.first_id = next;
    next += s.count;
  }
  return sets;
}

std::vector<MatrixSet> synthetic_matrix_sets(const MatrixSpec& spec) {
  return make_matrix_sets({matrix_set(spec.shape, spec.count)});
}

}  // namespace shmjob
