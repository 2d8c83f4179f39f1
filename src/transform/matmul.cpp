#include "transform/matmul.hpp"

#include <algorithm>
#include <cstddef>

#include <cblas.h>

namespace shmjob::transform {
namespace {

// One BLAS thread per process: a node runs one rank per core, so threads inside dgemm would only
// compete with the other ranks. The serial build has no threads anyway; the call keeps it so if a
// threaded OpenBLAS is linked. Once per process (a constant after its first use).
void single_threaded_blas() noexcept {
#ifdef SHMJOB_HAVE_OPENBLAS_SET_NUM_THREADS
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
#endif
}

// out[m x n] = A[m x k] * B[k x n], all row-major and contiguous.
void gemm(const double* a, const double* b, std::uint32_t m, std::uint32_t k, std::uint32_t n, double* out) noexcept {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum; BLAS would also give 0, but rejects a leading dimension of 0
    std::fill(out, out + std::size_t{m} * n, 0.0);
    return;
  }
  single_threaded_blas();
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0, a, static_cast<blasint>(k), b, static_cast<blasint>(n), 0.0, out,
              static_cast<blasint>(n));
}

}  // namespace

void matmul_right(const double* x, std::uint32_t r, std::uint32_t c, const double* p, std::uint32_t n,
                  double* out) noexcept {
  gemm(x, p, r, c, n, out);
}

void matmul_left(const double* p, std::uint32_t m, const double* x, std::uint32_t r, std::uint32_t c,
                 double* out) noexcept {
  gemm(p, x, m, r, c, out);
}

}  // namespace shmjob::transform
