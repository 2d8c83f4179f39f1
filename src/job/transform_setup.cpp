#include "job/transform_setup.hpp"

#include <algorithm>
#include <cstdio>

#include "job/share_catalog.hpp"
#include "shmjob/error.hpp"
#include "util/printable.hpp"

namespace shmjob {
namespace {

// "input: calib.h5: ..." -> "operands.dark: calib.h5: ...", keeping the exit code.
[[noreturn]] void rethrow_for_operand(const std::string& name, const Error& e) {
  std::string message = e.what();
  if (message.starts_with("input: ")) message.erase(0, 7);
  throw TransformError("operands." + name + ": " + message, e.exit_code());
}

InputCatalog scan_operand(const std::string& name, const transform::OperandConfig& operand) {
  InputConfig input;
  input.files = {operand.file};
  input.dataset = operand.dataset;
  try {
    InputCatalog catalog = InputCatalog::scan(input);
    if (catalog.datasets().size() != 1 || catalog.datasets().front().sliced)
      throw InputError(operand.file + ":" + operand.dataset + " is not one 2-D dataset (an operand is a matrix)");
    return catalog;
  } catch (const Error& e) {
    rethrow_for_operand(name, e);
  }
}

std::string shape_text(const MatrixShape& s) {
  return std::to_string(s.rows) + "x" + std::to_string(s.cols) + " " + std::string(dtype_name(s.dtype));
}

}  // namespace

transform::OperandShapes JobTransform::operand_shapes() const {
  transform::OperandShapes shapes;
  for (std::size_t i = 0; i < operand_names.size(); ++i) shapes.emplace(operand_names[i], operand_shape(i));
  return shapes;
}

namespace {
// Whether a step reads the operand: the others are neither checked nor loaded.
bool used(const transform::TransformConfig& config, const std::string& name) {
  return std::any_of(config.steps.begin(), config.steps.end(),
                     [&](const transform::Step& step) { return step.operand == name; });
}
}  // namespace

JobTransform scan_operands(const transform::TransformConfig& config) {
  JobTransform out;
  for (const auto& [name, operand] : config.operands) {
    if (!used(config, name)) continue;
    out.operand_names.push_back(name);
    out.operand_catalogs.push_back(scan_operand(name, operand));
  }
  return out;
}

int share_operands(const transform::TransformConfig& config, MPI_Comm world, JobTransform& out) {
  int rank = 0;
  MPI_Comm_rank(world, &rank);
  for (const auto& [name, operand] : config.operands) {
    if (!used(config, name)) {
      if (rank == 0)
        std::fprintf(stderr, "shmjob: note: operands.%s: no step uses it; it is not read\n", printable(name).c_str());
      continue;
    }
    InputCatalog catalog;
    if (const int code = share_catalog([&] { return scan_operand(name, operand); }, world, catalog)) return code;
    out.operand_names.push_back(name);
    out.operand_catalogs.push_back(std::move(catalog));
  }
  return kExitOk;
}

void plan_transforms(const transform::TransformConfig& config, JobTransform& job, std::vector<MatrixSet>& sets) {
  if (config.steps.empty()) return;
  const transform::OperandShapes shapes = job.operand_shapes();
  for (MatrixSet& set : sets) {
    try {
      job.plans.push_back(
          transform::plan_chain(config.steps, set.source.rows, set.source.cols, set.source.dtype, shapes));
    } catch (const TransformError& e) {
      if (sets.size() == 1) throw;
      throw TransformError(std::string(e.what()) + " (for the " + shape_text(set.source) + " matrices of the input)",
                           e.exit_code());
    }
    const transform::ChainPlan& plan = job.plans.back();
    set.shape = MatrixShape{plan.rows(), plan.cols(), plan.dtype()};
    set.work_bytes = plan.work_bytes();
    if (set.shape.bytes() > kMaxChunkBytes)
      throw TransformError("transform: the transformed matrix (" + shape_text(set.shape) + ") is " +
                           std::to_string(set.shape.bytes()) + " bytes, more than HDF5's chunk limit of " +
                           std::to_string(kMaxChunkBytes));
  }
}

}  // namespace shmjob
