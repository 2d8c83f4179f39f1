#include "pipeline/node_operands.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "codec/matrix_stats.hpp"
#include "shmjob/error.hpp"
#include "transform/convert.hpp"

namespace shmjob::stages {
namespace {

constexpr std::size_t kAlign = 64;

std::size_t aligned(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

const InputDataset& dataset_of(const OperandSource& s) { return s.catalog->datasets().front(); }

std::size_t copy_bytes(const OperandSource& s) {
  return static_cast<std::size_t>(operand_copy_bytes(dataset_of(s).shape, s.as_float64));
}

}  // namespace

int operand_copies(const RolePlan& plan, transform::Replicate replicate) {
  if (replicate == transform::Replicate::node) return 1;
  std::vector<int> domains;
  for (const RankPlan& r : plan.ranks)
    if (std::find(domains.begin(), domains.end(), r.numa) == domains.end()) domains.push_back(r.numa);
  return std::max<int>(1, static_cast<int>(domains.size()));
}

std::uint64_t operand_copy_bytes(const MatrixShape& shape, bool as_float64) {
  return as_float64 ? shape.elements() * sizeof(double) : shape.bytes();
}

NodeOperands::NodeOperands(MPI_Comm node, const RolePlan& plan, int node_rank, std::vector<OperandSource> sources)
    : sources_(std::move(sources)), node_rank_(node_rank) {
  // The domains of the node's ranks, in node-rank order; each domain's first rank holds its copies.
  std::vector<int> domains, holders;
  for (const RankPlan& r : plan.ranks) {
    numa_of_rank_.push_back(r.numa);
    bool known = false;
    for (int d : domains) known = known || d == r.numa;
    if (!known) domains.push_back(r.numa), holders.push_back(r.node_rank);
  }
  std::vector<std::size_t> segment(plan.ranks.size(), 0);
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    const auto copies = static_cast<std::size_t>(operand_copies(plan, sources_[i].replicate));
    for (std::size_t d = 0; d < copies; ++d) {
      const int holder = holders[d];
      copies_.push_back({i, holder, segment[static_cast<std::size_t>(holder)], domains[d]});
      segment[static_cast<std::size_t>(holder)] += aligned(copy_bytes(sources_[i]));
      bytes_on_node_ += copy_bytes(sources_[i]);
    }
  }
  window_ = std::make_unique<mpi::NodeWindow>(node, segment.at(static_cast<std::size_t>(node_rank)));
  crc32_.assign(sources_.size(), 0);
}

void NodeOperands::load() {
  const auto start = std::chrono::steady_clock::now();
  std::vector<bool> summed(sources_.size(), false);
  for (const Copy& copy : copies_) {
    if (copy.holder != node_rank_) continue;
    const OperandSource& s = sources_[copy.source];
    const InputDataset& d = dataset_of(s);
    std::byte* destination = window_->segment(node_rank_) + copy.offset;
    try {
      Hdf5MatrixReader reader(*s.catalog);
      reader.read(s.catalog->matrix(0), destination, copy_bytes(s));
    } catch (const Error& e) {
      std::string message = e.what();
      if (message.starts_with("input: ")) message.erase(0, 7);
      throw InputError("operand \"" + s.name + "\": " + message, e.exit_code());
    }
    // The values as stored, before a float64 conversion: what the file holds.
    if (node_rank_ == 0 && !summed[copy.source]) {
      crc32_[copy.source] = codec::crc32_of(destination, static_cast<std::size_t>(d.shape.bytes()));
      summed[copy.source] = true;
    }
    if (s.as_float64) transform::widen_to_float64(destination, d.shape.elements(), d.shape.dtype);
    bytes_loaded_ += copy_bytes(s);
  }
  load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

transform::OperandView NodeOperands::view(std::string_view name) const {
  const int my_numa = numa_of_rank_.at(static_cast<std::size_t>(node_rank_));
  const Copy* found = nullptr;
  for (const Copy& copy : copies_) {
    if (sources_[copy.source].name != name) continue;
    if (found == nullptr || copy.numa == my_numa) found = &copy;  // the first copy is the node's
    if (copy.numa == my_numa) break;
  }
  if (found == nullptr) throw std::logic_error("no operand \"" + std::string(name) + "\" on this node");
  const OperandSource& s = sources_[found->source];
  const MatrixShape& shape = dataset_of(s).shape;
  return {window_->segment(found->holder) + found->offset, s.as_float64 ? DType::float64 : shape.dtype, shape.rows,
          shape.cols};
}

}  // namespace shmjob::stages
