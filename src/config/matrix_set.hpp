#pragma once
// A job's matrices come in sets, one per output dataset: a synthetic job has one set, an ingest
// one per distinct (rows, cols, dtype) of its inputs. Matrix ids are global and each set holds
// a contiguous range of them; matrix `id` is row `id - first_id` of the set's dataset.
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "shmjob/matrix_shape.hpp"

namespace shmjob {

struct MatrixSet {
  std::string name;        // dataset in the master file and in each shard ("data" when alone)
  std::string index_name;  // index table in the master file ("index" when alone)
  MatrixShape shape;
  std::uint64_t first_id = 0, count = 0;
};

// Names sets "data"/"index" when there is one, else "data_<rows>x<cols>_<dtype>" and
// "index_<rows>x<cols>_<dtype>", and assigns consecutive id ranges in the given order.
std::vector<MatrixSet> make_matrix_sets(std::vector<MatrixSet> sets);

// The single set of a synthetic job.
std::vector<MatrixSet> synthetic_matrix_sets(const MatrixSpec& spec);

}  // namespace shmjob
