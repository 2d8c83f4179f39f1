#pragma once
// Which vector code path to take. The hot loops that have an AVX-512 version (the statistics
// scan, poisson generation) give the same bits on every level; the one-argument entry points
// take widest_simd_level(), and tests and benchmarks name a level to compare them.
namespace shmjob {

enum class SimdLevel {
  baseline,  // x86-64's SSE2 (and GCC target_clones, which pick their own level)
  avx512,    // AVX-512F and DQ
};

bool simd_level_available(SimdLevel level) noexcept;
// Detected once; SHMJOB_SIMD=baseline in the environment forces the portable paths.
SimdLevel widest_simd_level() noexcept;

}  // namespace shmjob
