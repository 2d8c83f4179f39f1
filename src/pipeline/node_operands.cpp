#include "pipeline/node_operands.hpp"

#include <zlib.h>

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
    : sources_(std::move(sources)), node_rank_(node_rank), node_size_(static_cast<int>(plan.ranks.size())) {
  // The domains of the node's ranks, in node-rank order; each domain's first rank holds its
  // copies, and every rank of the domain reads a part of them.
  std::vector<int> domains;
  std::vector<std::vector<int>> members;
  for (const RankPlan& r : plan.ranks) {
    numa_of_rank_.push_back(r.numa);
    const auto known = std::find(domains.begin(), domains.end(), r.numa);
    if (known == domains.end()) {
      domains.push_back(r.numa);
      members.push_back({r.node_rank});
    } else {
      members[static_cast<std::size_t>(known - domains.begin())].push_back(r.node_rank);
    }
  }
  std::vector<std::size_t> segment(plan.ranks.size(), 0);
  // Node rank 0's segment starts with the slices' CRC table: sources x node ranks.
  segment[0] = aligned(sources_.size() * plan.ranks.size() * sizeof(std::uint32_t));
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    const auto copies = static_cast<std::size_t>(operand_copies(plan, sources_[i].replicate));
    for (std::size_t d = 0; d < copies; ++d) {
      const int holder = members[d].front();
      copies_.push_back({i, holder, segment[static_cast<std::size_t>(holder)], domains[d], members[d]});
      segment[static_cast<std::size_t>(holder)] += aligned(copy_bytes(sources_[i]));
      bytes_on_node_ += copy_bytes(sources_[i]);
    }
  }
  window_ = std::make_unique<mpi::NodeWindow>(node, segment.at(static_cast<std::size_t>(node_rank)));
  crc32_.assign(sources_.size(), 0);
}

std::uint32_t* NodeOperands::crc_table() const { return reinterpret_cast<std::uint32_t*>(window_->segment(0)); }

void NodeOperands::load() {
  const auto start = std::chrono::steady_clock::now();
  std::vector<bool> first_copy(sources_.size(), true);
  for (const Copy& copy : copies_) {
    const bool summed = first_copy[copy.source];  // the CRC comes from each operand's first copy
    first_copy[copy.source] = false;
    const auto me = std::find(copy.readers.begin(), copy.readers.end(), node_rank_);
    if (me == copy.readers.end()) continue;
    const auto part = static_cast<std::uint32_t>(me - copy.readers.begin());
    const OperandSource& s = sources_[copy.source];
    const InputDataset& d = dataset_of(s);
    // This rank's rows: an even split, so that no rank maps (and so holds privately) more than
    // its part of the copy until the others read it.
    const auto parts = static_cast<std::uint64_t>(copy.readers.size());
    const auto first_row = static_cast<std::uint32_t>(d.shape.rows * std::uint64_t{part} / parts);
    const auto end_row = static_cast<std::uint32_t>(d.shape.rows * (std::uint64_t{part} + 1) / parts);
    const std::uint64_t elements = std::uint64_t{end_row - first_row} * d.shape.cols;
    const std::size_t row_bytes =
        s.as_float64 ? d.shape.cols * sizeof(double) : d.shape.cols * dtype_size(d.shape.dtype);
    std::byte* destination = window_->segment(copy.holder) + copy.offset + std::size_t{first_row} * row_bytes;
    const std::size_t capacity = std::size_t{end_row - first_row} * row_bytes;
    try {
      Hdf5MatrixReader reader(*s.catalog);
      reader.read_rows(s.catalog->matrix(0), first_row, end_row - first_row, destination, capacity);
    } catch (const Error& e) {
      std::string message = e.what();
      if (message.starts_with("input: ")) message.erase(0, 7);
      throw InputError("operand \"" + s.name + "\": " + message, e.exit_code());
    }
    // The values as stored, before a float64 conversion: what the file holds.
    if (summed)
      crc_table()[copy.source * static_cast<std::size_t>(node_size_) + part] =
          codec::crc32_of(destination, static_cast<std::size_t>(elements * dtype_size(d.shape.dtype)));
    if (s.as_float64) transform::widen_to_float64(destination, elements, d.shape.dtype);
    bytes_loaded_ += capacity;
  }
  load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void NodeOperands::sync() {
  window_->sync_barrier();
  // Each operand's CRC-32 from its parts' (zlib's crc32_combine), on every rank.
  std::vector<bool> first_copy(sources_.size(), true);
  for (const Copy& copy : copies_) {
    if (!first_copy[copy.source]) continue;
    first_copy[copy.source] = false;
    const InputDataset& d = dataset_of(sources_[copy.source]);
    const auto parts = static_cast<std::uint64_t>(copy.readers.size());
    uLong crc = 0;
    for (std::uint64_t part = 0; part < parts; ++part) {
      const std::uint64_t rows = d.shape.rows * (part + 1) / parts - d.shape.rows * part / parts;
      const auto bytes = static_cast<z_off_t>(rows * d.shape.cols * dtype_size(d.shape.dtype));
      const uLong slice = crc_table()[copy.source * static_cast<std::size_t>(node_size_) + part];
      crc = part == 0 ? slice : crc32_combine(crc, slice, bytes);
    }
    crc32_[copy.source] = static_cast<std::uint32_t>(crc);
  }
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
