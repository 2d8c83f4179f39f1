#pragma once
// A job's transform, set up before it runs: the operands' files checked (rank 0 scans them as an
// ingest scans its inputs; every rank gets the catalogs) and each matrix set's chain planned,
// which gives the set its stored shape and what its raw slots must hold.
#include <mpi.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/matrix_set.hpp"
#include "input/input.hpp"
#include "transform/chain.hpp"

namespace shmjob {

struct JobTransform {
  std::vector<std::string> operand_names;      // the config's order (by name)
  std::vector<InputCatalog> operand_catalogs;  // one 2-D matrix each
  std::vector<transform::ChainPlan> plans;     // one per set; empty: the job has no transform

  bool active() const noexcept { return !plans.empty(); }
  MatrixShape operand_shape(std::size_t i) const { return operand_catalogs.at(i).datasets().front().shape; }
  transform::OperandShapes operand_shapes() const;
};

// The same without MPI (shmjob --plan with a rank count): this process scans every operand.
JobTransform scan_operands(const transform::TransformConfig& config);

// Collective over `world`. Each operand must be one 2-D dataset of a supported type; failures
// name it ("operands.dark: calib.h5: no dataset /dark ..."). Returns the agreed exit code.
int share_operands(const transform::TransformConfig& config, MPI_Comm world, JobTransform& out);

// Plans the chain for every set (no-op without steps). Sets get their stored shape and work
// bytes. Throws TransformError (exit code 2) naming the step, and the set when there are several.
void plan_transforms(const transform::TransformConfig& config, JobTransform& job, std::vector<MatrixSet>& sets);

}  // namespace shmjob
