#pragma once
// Reading and writing one element of a dtype through a byte pointer. memcpy, not a cast of the
// pointer: operands and in-place buffers are reinterpreted as other types (strict aliasing), and
// operands need not be aligned; compilers turn these into plain loads and stores.
#include <cstddef>
#include <cstring>

#include "shmjob/dtype.hpp"

// The elementwise kernels' entry points are compiled for several vector widths, picked at load
// time (GCC's target_clones). The same IEEE operation per element on every width, so the results
// are the same bits; -ffp-contract=off keeps FMA out of the AVX2/AVX-512 versions as well.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SHMJOB_VECTOR_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SHMJOB_VECTOR_KERNEL
#endif

namespace shmjob::transform::detail {

template <class T>
inline T load_element(const std::byte* base, std::size_t i) noexcept {
  T value;
  std::memcpy(&value, base + i * sizeof(T), sizeof(T));
  return value;
}

template <class T>
inline double load_as_double(const std::byte* base, std::size_t i) noexcept {
  return static_cast<double>(load_element<T>(base, i));
}

template <class T>
inline void store_element(std::byte* base, std::size_t i, T value) noexcept {
  std::memcpy(base + i * sizeof(T), &value, sizeof(T));
}

}  // namespace shmjob::transform::detail
