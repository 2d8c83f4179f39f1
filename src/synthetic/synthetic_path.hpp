#pragma once
// generate_matrix (synthetic/synthetic.hpp) on a named code path: every level gives the same bytes;
// the tests compare them. The public overload takes widest_simd_level().
#include <cstdint>

#include "config/config.hpp"
#include "util/simd_level.hpp"

namespace shmjob {

void generate_matrix(const MatrixSpec& spec, std::uint64_t id, void* out, SimdLevel level) noexcept;

}  // namespace shmjob
