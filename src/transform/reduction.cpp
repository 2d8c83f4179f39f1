#include "transform/reduction.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "shmjob/error.hpp"
#include "transform/element.hpp"

namespace shmjob::transform {
namespace {

// The byte image: magic, rows, cols (u32), reduction bits (u8, 7 zero bytes), count (u64), then
// the kept arrays in this order: hi, lo, min, max (doubles), nonzero (u64); native byte order.
constexpr char kMagic[8] = {'S', 'H', 'M', 'J', 'A', 'C', 'C', '1'};
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

[[noreturn]] void internal(const std::string& problem) { throw TransformError("reduction: " + problem, kExitInternal); }

// TwoSum (Knuth): s + e == a + b exactly, s = fl(a + b). Six operations in this order; no
// reassociation (no -ffast-math) and nothing to contract. When s is not finite the error term is
// meaningless (inf - inf): it is dropped, and the sum is s (inf or NaN) from then on.
inline void add_two(double& hi, double& lo, double v) noexcept {
  const double s = hi + v;
  const double bv = s - hi;
  const double e = (hi - (s - bv)) + (v - bv);
  hi = s;
  lo += (s - s == 0) ? e : 0.0;  // s - s is 0 exactly when s is finite
}

inline double lesser(double m, double v) noexcept {
  return (v < m || v != v || (v == m && std::signbit(v))) ? v : m;  // NaN sticks; -0.0 beats 0.0
}
inline double greater(double m, double v) noexcept {
  return (v > m || v != v || (v == m && !std::signbit(v))) ? v : m;  // NaN sticks; 0.0 beats -0.0
}

template <class T>
SHMJOB_VECTOR_KERNEL void add_matrix(const std::byte* data, std::size_t n, double* hi, double* lo, double* mn,
                                     double* mx, std::uint64_t* nonzero) noexcept {
  // One pass per kept reduction: each loop stays simple enough to vectorise.
  if (hi)
    for (std::size_t i = 0; i < n; ++i) add_two(hi[i], lo[i], detail::load_as_double<T>(data, i));
  if (mn)
    for (std::size_t i = 0; i < n; ++i) mn[i] = lesser(mn[i], detail::load_as_double<T>(data, i));
  if (mx)
    for (std::size_t i = 0; i < n; ++i) mx[i] = greater(mx[i], detail::load_as_double<T>(data, i));
  if (nonzero)
    for (std::size_t i = 0; i < n; ++i) nonzero[i] += detail::load_as_double<T>(data, i) != 0 ? 1 : 0;
}

template <class V>
std::size_t bytes_of(const V& values) noexcept {
  return values.size() * sizeof(typename V::value_type);
}

template <class V>
void write_from(const V& values, std::byte*& p) {
  if (values.empty()) return;  // an array not kept: data() may be null
  std::memcpy(p, values.data(), bytes_of(values));
  p += bytes_of(values);
}

template <class V>
void read_into(V& values, const std::byte*& p) {
  if (values.empty()) return;  // memcpy's pointers must not be null, even for 0 bytes
  std::memcpy(values.data(), p, values.size() * sizeof(values[0]));
  p += values.size() * sizeof(values[0]);
}

}  // namespace

Accumulator::Accumulator(std::uint32_t rows, std::uint32_t cols, ReductionSet reductions)
    : rows_(rows), cols_(cols), reductions_(reductions) {
  const std::size_t n = std::size_t{rows} * cols;
  if (keeps_sum()) {
    hi_.assign(n, 0.0);
    lo_.assign(n, 0.0);
  }
  if (reductions.contains(Reduction::min)) min_.assign(n, std::numeric_limits<double>::infinity());
  if (reductions.contains(Reduction::max)) max_.assign(n, -std::numeric_limits<double>::infinity());
  if (reductions.contains(Reduction::count_nonzero)) nonzero_.assign(n, 0);
}

void Accumulator::add(const void* data, DType dtype) {
  const auto* bytes = static_cast<const std::byte*>(data);
  const auto or_null = [](auto& v) { return v.empty() ? nullptr : v.data(); };
  visit_dtype(dtype, [&](auto zero) {
    add_matrix<decltype(zero)>(bytes, std::size_t{rows_} * cols_, or_null(hi_), or_null(lo_), or_null(min_),
                               or_null(max_), or_null(nonzero_));
  });
  ++count_;
}

void Accumulator::merge(const Accumulator& other) {
  if (other.rows_ != rows_ || other.cols_ != cols_ || other.reductions_ != reductions_)
    internal("cannot merge accumulators of different shapes or reductions");
  const std::size_t n = hi_.size();
  for (std::size_t i = 0; i < n; ++i) {
    add_two(hi_[i], lo_[i], other.hi_[i]);
    lo_[i] += other.lo_[i];
  }
  for (std::size_t i = 0; i < min_.size(); ++i) min_[i] = lesser(min_[i], other.min_[i]);
  for (std::size_t i = 0; i < max_.size(); ++i) max_[i] = greater(max_[i], other.max_[i]);
  for (std::size_t i = 0; i < nonzero_.size(); ++i) nonzero_[i] += other.nonzero_[i];
  count_ += other.count_;
}

std::vector<std::byte> Accumulator::to_bytes() const {
  std::vector<std::byte> out(kHeaderBytes + bytes_of(hi_) + bytes_of(lo_) + bytes_of(min_) + bytes_of(max_) +
                             bytes_of(nonzero_));
  std::byte* p = out.data();
  std::memcpy(p, kMagic, 8);
  std::memcpy(p + 8, &rows_, 4);
  std::memcpy(p + 12, &cols_, 4);
  const std::uint8_t bits = reductions_.bits();
  std::memcpy(p + 16, &bits, 1);
  std::memcpy(p + 24, &count_, 8);
  p += kHeaderBytes;
  write_from(hi_, p);
  write_from(lo_, p);
  write_from(min_, p);
  write_from(max_, p);
  write_from(nonzero_, p);
  return out;
}

Accumulator Accumulator::from_bytes(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, 8) != 0)
    internal("not an accumulator image (" + std::to_string(bytes.size()) + " bytes, no header)");
  std::uint32_t rows = 0, cols = 0;
  std::uint8_t bits = 0;
  std::uint64_t count = 0;
  std::memcpy(&rows, bytes.data() + 8, 4);
  std::memcpy(&cols, bytes.data() + 12, 4);
  std::memcpy(&bits, bytes.data() + 16, 1);
  std::memcpy(&count, bytes.data() + 24, 8);
  const auto set = ReductionSet::from_bits(bits);
  if (!set) internal("accumulator image with unknown reductions");
  // The size its header implies, checked before anything is allocated.
  const std::size_t arrays = (set->contains(Reduction::sum) || set->contains(Reduction::mean) ? 2 : 0) +
                             (set->contains(Reduction::min) ? 1 : 0) + (set->contains(Reduction::max) ? 1 : 0) +
                             (set->contains(Reduction::count_nonzero) ? 1 : 0);
  const std::size_t n = std::size_t{rows} * cols;  // < 2^64
  // n <= bytes / 8 first, so that n * arrays * 8 cannot wrap around.
  if ((arrays != 0 && n > bytes.size() / 8) || bytes.size() != kHeaderBytes + n * arrays * 8)
    internal("accumulator image of " + std::to_string(bytes.size()) + " bytes does not match its header (" +
             std::to_string(rows) + "x" + std::to_string(cols) + ")");
  Accumulator acc(rows, cols, *set);
  const std::byte* p = bytes.data() + kHeaderBytes;
  read_into(acc.hi_, p);
  read_into(acc.lo_, p);
  read_into(acc.min_, p);
  read_into(acc.max_, p);
  read_into(acc.nonzero_, p);
  acc.count_ = count;
  return acc;
}

void Accumulator::require(Reduction r) const {
  if (!reductions_.contains(r)) internal(std::string(reduction_name(r)) + " was not asked for");
}

std::vector<double> Accumulator::sum() const {
  require(Reduction::sum);
  std::vector<double> out(hi_.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = hi_[i] + lo_[i];
  return out;
}

std::vector<double> Accumulator::mean() const {
  require(Reduction::mean);
  std::vector<double> out(hi_.size());
  const double n = static_cast<double>(count_);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = (hi_[i] + lo_[i]) / n;
  return out;
}

std::vector<double> Accumulator::min() const {
  require(Reduction::min);
  return min_;
}

std::vector<double> Accumulator::max() const {
  require(Reduction::max);
  return max_;
}

std::vector<std::uint64_t> Accumulator::count_nonzero() const {
  require(Reduction::count_nonzero);
  return nonzero_;
}

}  // namespace shmjob::transform
