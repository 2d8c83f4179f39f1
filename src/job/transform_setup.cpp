#include "job/transform_setup.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "job/share_catalog.hpp"
#include "pipeline/node_operands.hpp"
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
bool JobTransform::as_float64(const std::string& name) const {
  for (const transform::ChainPlan& chain : plans)
    for (const std::string& wide : chain.float64_operands())
      if (wide == name) return true;
  return false;
}

std::vector<OperandFootprint> operand_footprint(const JobTransform& job, const transform::TransformConfig& config,
                                                const RolePlan& plan) {
  std::vector<OperandFootprint> out;
  for (std::size_t i = 0; i < job.operand_names.size(); ++i) {
    const std::string& name = job.operand_names[i];
    const MatrixShape shape = job.operand_shape(i);
    const bool wide = job.as_float64(name);
    out.push_back({name, shape, wide ? DType::float64 : shape.dtype, stages::operand_copy_bytes(shape, wide),
                   stages::operand_copies(plan, config.operands.at(name).replicate)});
  }
  return out;
}

std::uint64_t operand_bytes(const std::vector<OperandFootprint>& footprint) {
  std::uint64_t total = 0;
  for (const OperandFootprint& o : footprint) total += o.bytes();
  return total;
}

nlohmann::json operands_json(const std::vector<OperandFootprint>& footprint, const transform::TransformConfig& config) {
  nlohmann::json list = nlohmann::json::array();
  for (const OperandFootprint& o : footprint) {
    const transform::OperandConfig& c = config.operands.at(o.name);
    list.push_back({{"name", o.name},
                    {"file", c.file},
                    {"dataset", c.dataset},
                    {"rows", o.shape.rows},
                    {"cols", o.shape.cols},
                    {"dtype", dtype_name(o.shape.dtype)},
                    {"stored_dtype", dtype_name(o.stored)},
                    {"replicate", transform::replicate_name(c.replicate)},
                    {"bytes_per_copy", o.bytes_per_copy},
                    {"copies", o.copies}});
  }
  return list;
}

std::string operands_text(const std::vector<OperandFootprint>& footprint) {
  if (footprint.empty()) return "";
  const auto size = [](std::uint64_t bytes) {
    char text[32];
    if (bytes >= 1000000000)
      std::snprintf(text, sizeof text, "%.1f GB", static_cast<double>(bytes) / 1e9);
    else if (bytes >= 1000000)
      std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
    else if (bytes >= 1000)
      std::snprintf(text, sizeof text, "%.1f KB", static_cast<double>(bytes) / 1e3);
    else
      std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
    return std::string(text);
  };
  std::string text;
  for (const OperandFootprint& o : footprint)
    text += (text.empty() ? "" : ", ") + o.name + " " + size(o.bytes_per_copy) + " (" +
            std::string(dtype_name(o.stored)) + ") x " + std::to_string(o.copies) +
            (o.copies == 1 ? " copy" : " copies");
  return text + "; " + size(operand_bytes(footprint)) + " in all (" + std::to_string(operand_bytes(footprint)) +
         " bytes of shared memory)";
}

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
