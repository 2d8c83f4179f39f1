#include "transform/convert.hpp"

#include <algorithm>
#include <cstring>

#include "transform/element.hpp"

namespace shmjob::transform {
namespace {

// Blocks of elements, last block first: a block's source bytes are copied to the stack before its
// doubles are written, so the inner loop reads and writes distinct memory (and vectorises). The
// doubles of block [k, k + B) cover bytes [8k, 8k + 8B), which hold source elements >= k only:
// this block (copied) and the later ones (done).
constexpr std::size_t kBlock = 512;

template <class T>
SHMJOB_VECTOR_KERNEL void widen(std::byte* buffer, std::size_t n) noexcept {
  alignas(64) std::byte staged[kBlock * sizeof(T)];
  std::size_t end = n;
  while (end > 0) {
    const std::size_t begin = end - std::min(end, kBlock);
    const std::size_t count = end - begin;
    std::memcpy(staged, buffer + begin * sizeof(T), count * sizeof(T));
    std::byte* out = buffer + begin * sizeof(double);
    for (std::size_t i = 0; i < count; ++i) detail::store_element(out, i, detail::load_as_double<T>(staged, i));
    end = begin;
  }
}

template <class T>
SHMJOB_VECTOR_KERNEL void convert(const std::byte* source, std::size_t n, double* out) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = detail::load_as_double<T>(source, i);
}

}  // namespace

void widen_to_float64(std::byte* buffer, std::size_t n, DType from) noexcept {
  if (from == DType::float64) return;
  visit_dtype(from, [&](auto zero) { widen<decltype(zero)>(buffer, n); });
}

void to_float64(const void* source, DType from, std::size_t n, double* out) noexcept {
  if (from == DType::float64) {
    if (n > 0) std::memcpy(out, source, n * sizeof(double));
    return;
  }
  visit_dtype(from, [&](auto zero) { convert<decltype(zero)>(static_cast<const std::byte*>(source), n, out); });
}

}  // namespace shmjob::transform
