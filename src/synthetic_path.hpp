#pragma once
// The code paths of the synthetic generator (shmjob/synthetic.hpp). generate_matrix(spec, id, out)
// takes the fastest one this CPU runs; every path gives the same bytes, and the tests and
// benchmarks name a path to check that and to compare them.
#include <cstdint>

#include "shmjob/config.hpp"

namespace shmjob {

enum class GeneratorPath {
  portable,  // plain C++ (the float64 smooth rows still use the widest vector unit there is)
  avx512,    // poisson 8 elements at a time with AVX-512F/DQ
};

bool generator_path_available(GeneratorPath path) noexcept;
void generate_matrix(const MatrixSpec& spec, std::uint64_t id, void* out, GeneratorPath path) noexcept;

}  // namespace shmjob
