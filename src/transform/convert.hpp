#pragma once
// Loading a matrix into the float64 working form. Every dtype converts exactly, except int64 and
// uint64 beyond 2^53, which round to nearest (ties to even), as numpy's astype(np.float64) does.
#include <cstddef>

#include "shmjob/dtype.hpp"

namespace shmjob::transform {

// `buffer` starts with n elements of `from` and holds at least 8 * n bytes (8-byte aligned);
// afterwards it holds the n doubles. Elements grow (or keep their size), so the walk goes from the
// end: element i is read before double i is written over it, and double i covers only source
// bytes of elements >= i, all read already. No scratch memory.
void widen_to_float64(std::byte* buffer, std::size_t n, DType from) noexcept;

// The same conversion out of place: n elements of `from` at `source` (any alignment) into `out`.
void to_float64(const void* source, DType from, std::size_t n, double* out) noexcept;

}  // namespace shmjob::transform
