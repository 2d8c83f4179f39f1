#include "simd_level.hpp"

namespace shmjob {

bool simd_level_available(SimdLevel level) noexcept {
  switch (level) {
    case SimdLevel::baseline: return true;
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
  static const SimdLevel widest =
      simd_level_available(SimdLevel::avx512) ? SimdLevel::avx512 : SimdLevel::baseline;
  return widest;
}

}  // namespace shmjob
