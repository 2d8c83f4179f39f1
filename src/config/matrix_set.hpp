#pragma once
// A job's matrices come in sets, one per output dataset: a synthetic job has one set, an ingest
// one per distinct (rows, cols, dtype) of its inputs. Matrix ids are global and each set holds
// a contiguous range of them; matrix `id` is row `id - first_id` of the set's dataset.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "shmjob/matrix_shape.hpp"

namespace shmjob {

struct MatrixSet {
  std::string name;        // dataset in the master file and in each shard ("data" when alone)
  std::string index_name;  // index table in the master file ("index" when alone)
  MatrixShape shape;       // of the stored matrices (after the transform, if any)
  std::uint64_t first_id = 0, count = 0;
  MatrixShape source;            // of the matrices producers put in raw slots (generated or read)
  std::uint64_t work_bytes = 0;  // the transform's largest intermediate (0: no transform)

  // What a raw slot must hold for this set: the source matrix and the transform's work.
  std::uint64_t raw_slot_bytes() const noexcept { return std::max(source.bytes(), work_bytes); }
};

// `count` matrices of `shape`, not yet named or numbered (make_matrix_sets does).
inline MatrixSet matrix_set(const MatrixShape& shape, std::uint64_t count) {
  MatrixSet set;
  set.shape = set.source = shape;
  set.count = count;
  return set;
}

// Names sets "data"/"index" when there is one, else "data_<rows>x<cols>_<dtype>" and
// "index_<rows>x<cols>_<dtype>" after their source shape (`shape`, which becomes `source`), and
// assigns consecutive id ranges in the given order.
std::vector<MatrixSet> make_matrix_sets(std::vector<MatrixSet> sets);

// The single set of a synthetic job.
std::vector<MatrixSet> synthetic_matrix_sets(const MatrixSpec& spec);

}  // namespace shmjob
