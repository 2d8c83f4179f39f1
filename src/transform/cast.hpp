#pragma once
// Casting the float64 working matrix to a dtype, exactly as numpy would with the twin formulas
// below, and counting the values that did not fit.
//
// Integer targets: r = rint(x) (half to even, np.rint) or trunc(x) (toward zero, as astype
// truncates); then r outside [min, max] of the target saturates to that limit, NaN becomes 0,
// and each of these (NaN, +-inf, anything out of range) counts as saturated. Float targets ignore
// the rounding: float32 and float16 round to nearest (ties to even) and overflow to +-inf (not
// counted: that is the IEEE result, not a saturation); float64 is the identity.
//
// numpy twin (t the target, lo/hi = np.iinfo(t).min/max, r as above, errors ignored):
//   int8..uint32:  sat = isnan(r) | (r < lo) | (r > hi)
//                  out = np.where(isnan(r), 0, np.clip(r, lo, hi)).astype(t)
//   int64, uint64: hi is not a float64 (np.clip would clip to hi + 1 = 2^63 or 2^64, which
//                  astype then wraps), so compare with the exact power of two instead:
//                  top = 2.0**63 (int64) or 2.0**64 (uint64); lo = -2.0**63 or 0.0 (exact)
//                  over = r >= top; under = r < lo; sat = isnan(r) | over | under
//                  out = np.where(sat, 0, r).astype(t); out[over] = hi; out[under] = lo
//   float32, float16: x.astype(t); float64: x
// (The same comparison is used here for every integer width: r is integral, so r > hi is
// r >= hi + 1, and hi + 1 is a power of two, exact in float64.)
#include <cstddef>
#include <cstdint>

#include "config/transform_config.hpp"
#include "shmjob/dtype.hpp"

namespace shmjob::transform {

// Casts the n doubles at the start of `buffer` (8-byte aligned) to `to`, written to the front of
// the same buffer: elements shrink (or keep their size), so a forward walk writes element i only
// over doubles <= i, already read. Returns the number of saturated values.
std::uint64_t narrow_from_float64(std::byte* buffer, std::size_t n, DType to, Rounding rounding) noexcept;

// The same cast out of place: n doubles at `values` into `out` (any alignment; must not overlap).
std::uint64_t narrow_from_float64(const double* values, std::size_t n, DType to, Rounding rounding,
                                  std::byte* out) noexcept;

// A cast that the chain goes on from: out = double(cast(in)), the values a later step sees after a
// cast in the middle of a chain (numpy: cast(x).astype(np.float64)); in place (out == in) or into
// an `out` that does not overlap `in`. Returns the number of saturated values.
std::uint64_t quantize(const double* in, double* out, std::size_t n, DType to, Rounding rounding) noexcept;

}  // namespace shmjob::transform
