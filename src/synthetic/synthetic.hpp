#pragma once
// Synthetic matrices, a pure function of (kind, dtype, shape, seed, matrix id): any reader can
// regenerate matrix i and compare (analysis/shmjob_synthetic.py is the numpy twin and must stay
// bit-identical). Only +, -, *, / and rint are used on doubles, compiled without FMA contraction,
// so numpy's element-wise arithmetic gives the same bits.
//
//   h(x)       = splitmix64 finaliser of x (wrapping uint64 arithmetic)
//   key        = h(seed ^ h(id))
//   u53(k)     = (h(key + k * 0x9E3779B97F4A7C15) >> 11) * 2^-53      (uniform in [0, 1))
//
//   random:  float64 -> u53(e); float32 -> (float)((bits >> 40) * 2^-24); integers -> the top
//            bits of h(key + e*G) reinterpreted as the type (uniform over the type's range)
//   smooth:  x = r / rows, y = c / cols, a_k = 2*u53(k) - 1 for k = 0..5 (per matrix),
//            v = (a0*x + a1*y + a2*x*y + a3*x*x + a4*y*y + a5) / 6          (in [-1, 1])
//            float64: rint(v * 100000) / 1000; float32: (float) of that;
//            signed ints: rint(v * 0.25 * max); unsigned: rint((v + 1) * 0.25 * max)
//   poisson: lambda 4, by inversion: p_0 = exp(-4) (the literal 0.018315638888734179),
//            p_k = p_(k-1) * 4.0 / k, cdf[k] = cdf[k-1] + p_k for k = 0..62 (double, in order);
//            value = the number of k with cdf[k] <= u53(e) (0..63), in the dtype. (Earlier
//            builds used Knuth's product of uniforms: the same law, other values.)
#include <cstdint>

#include "config/config.hpp"

namespace shmjob {

// Writes matrix `id` into `out`, which holds spec.bytes() bytes.
void generate_matrix(const MatrixSpec& spec, std::uint64_t id, void* out) noexcept;

}  // namespace shmjob
