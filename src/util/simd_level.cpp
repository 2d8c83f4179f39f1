#include "util/simd_level.hpp"

#include <cstdlib>
#include <string_view>

namespace shmjob {

bool simd_level_available(SimdLevel level) noexcept {
  switch (level) {
    case SimdLevel::baseline:
      return true;
    case SimdLevel::avx512:
#if defined(__x86_64__) && defined(__GNUC__)
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
      return false;
#endif
  }
  return false;
}

SimdLevel widest_simd_level() noexcept {
  // SHMJOB_SIMD=baseline takes the portable paths on any CPU: how the tests check what a
  // machine without AVX-512 runs. Any other value leaves the choice to the CPU.
  static const SimdLevel widest = [] {
    const char* forced = std::getenv("SHMJOB_SIMD");
    if (forced != nullptr && std::string_view(forced) == "baseline") return SimdLevel::baseline;
    return simd_level_available(SimdLevel::avx512) ? SimdLevel::avx512 : SimdLevel::baseline;
  }();
  return widest;
}

}  // namespace shmjob
