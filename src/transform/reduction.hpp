#pragma once
// Elementwise reductions over many matrices of one shape (the stored, transformed matrices of a
// job): per element, the sum, mean, min, max and count of non-zero values across matrices. Each
// rank accumulates its own matrices, the accumulators travel as bytes and merge.
//
// The sum is kept as a double-double per element: hi collects the rounded running sum and lo the
// exact rounding error of every addition (TwoSum, Knuth), itself summed in float64 (Neumaier's
// scheme, "Sum2" of Ogita, Rump and Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput.
// 26(6), 2005). Merging adds two such pairs the same way. Error bound, for n values x_i added in
// any order and split across accumulators merged in any tree:
//     |sum() - S| <= u*|S| + g(n)^2 * sum_i |x_i|,   S the exact sum, u = 2^-53,
//                                                     g(n) = n*u / (1 - n*u)
// i.e. the correctly rounded sum up to a term of order (n*u)^2: unless the values cancel to far
// below their magnitude (by a factor near 2^53 / n^2), every order gives the same bits. mean() is
// sum() / count(), one more rounding. Non-finite values: once hi is +-inf or NaN the error terms
// are dropped, so inf + finite = inf, inf + -inf = NaN and NaN stays NaN, as numpy sums; a finite
// sum that overflows becomes inf (numpy's pairwise sum can overflow at other points).
//
// min and max propagate NaN like np.min / np.max along axis 0 (any NaN: NaN). Between -0.0 and
// 0.0, min gives -0.0 and max 0.0 whatever the order (numpy keeps the one it met first: equal in
// value). count_nonzero counts x != 0 (NaN counts, -0.0 does not), as np.count_nonzero.
//
// Memory: 16 bytes per element for sum or mean (shared), 8 each for min, max and count_nonzero;
// only the reductions asked for are kept.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "config/transform_config.hpp"
#include "shmjob/dtype.hpp"

namespace shmjob::transform {

class Accumulator {
 public:
  Accumulator(std::uint32_t rows, std::uint32_t cols, ReductionSet reductions);

  // One matrix (rows x cols elements of dtype, any alignment), values converted to double.
  void add(const void* data, DType dtype);
  // Adds what `other` accumulated. Throws TransformError (kExitInternal) on another shape or set.
  void merge(const Accumulator& other);

  // A self-describing little-endian image (shape, set, count, arrays) to send or store, and back.
  // from_bytes throws TransformError (kExitInternal) on bytes that are not such an image.
  std::vector<std::byte> to_bytes() const;
  static Accumulator from_bytes(std::span<const std::byte> bytes);

  std::uint32_t rows() const noexcept { return rows_; }
  std::uint32_t cols() const noexcept { return cols_; }
  ReductionSet reductions() const noexcept { return reductions_; }
  std::uint64_t count() const noexcept { return count_; }  // matrices added (merged ones included)

  // The results, rows * cols values each; throw TransformError (kExitInternal) for a reduction
  // that was not asked for. With no matrix: sum 0, mean NaN, min +inf, max -inf, count 0.
  std::vector<double> sum() const;
  std::vector<double> mean() const;
  std::vector<double> min() const;
  std::vector<double> max() const;
  std::vector<std::uint64_t> count_nonzero() const;

 private:
  bool keeps_sum() const noexcept {
    return reductions_.contains(Reduction::sum) || reductions_.contains(Reduction::mean);
  }
  void require(Reduction r) const;

  std::uint32_t rows_, cols_;
  ReductionSet reductions_;
  std::uint64_t count_ = 0;
  std::vector<double> hi_, lo_, min_, max_;  // empty unless kept
  std::vector<std::uint64_t> nonzero_;
};

}  // namespace shmjob::transform
