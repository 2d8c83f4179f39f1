#pragma once
// Matrix products of the float64 working matrix X with a float64 operand P, by CBLAS dgemm from
// Debian's single-threaded OpenBLAS (libopenblas-serial-dev; CMakeLists.txt links it explicitly,
// never a reference BLAS). Unlike the elementwise steps this is not bit-reproducible against numpy
// or across CPUs: OpenBLAS picks its kernel (and so the summation order) for the CPU at run time.
// The twin compares with a tolerance (tests/python/transform_kernels_test.py).
#include <cstdint>

namespace shmjob::transform {

// side right: out[r x n] = X[r x c] * P[c x n]
void matmul_right(const double* x, std::uint32_t r, std::uint32_t c, const double* p, std::uint32_t n,
                  double* out) noexcept;
// side left:  out[m x c] = P[m x r] * X[r x c]
void matmul_left(const double* p, std::uint32_t m, const double* x, std::uint32_t r, std::uint32_t c,
                 double* out) noexcept;

}  // namespace shmjob::transform
