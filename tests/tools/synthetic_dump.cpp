// synthetic_dump KIND DTYPE ROWS COLS SEED ID
//
// Writes the raw bytes (native byte order, row-major) of synthetic matrix ID to stdout, exactly as
// shmjob::generate_matrix produces it. Used by tests/python/synthetic_twin_test.py to check that
// analysis/shmjob_synthetic.py (the numpy twin) stays bit-identical to src/synthetic/synthetic.cpp.
//
// Exit status: 0 on success, 2 on bad arguments (with a usage line on stderr), 1 on I/O failure.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <new>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "config/config.hpp"
#include "shmjob/dtype.hpp"
#include "synthetic/synthetic.hpp"

namespace {

constexpr const char* kUsage =
    "usage: synthetic_dump KIND DTYPE ROWS COLS SEED ID\n"
    "  KIND   random | smooth | poisson\n"
    "  DTYPE  int8 int16 int32 int64 uint8 uint16 uint32 uint64 float32 float64\n"
    "  ROWS, COLS  0 .. 4294967295;  SEED, ID  0 .. 18446744073709551615\n"
    "writes the matrix's raw bytes (native byte order, row-major) to stdout\n";

int usage(const char* problem, std::string_view value) {
  std::fprintf(stderr, "synthetic_dump: %s '%.*s'\n%s", problem, static_cast<int>(value.size()), value.data(), kUsage);
  return 2;
}

// Deliberately not shmjob::data_kind_name's inverse: that lives in src/config/config.cpp.
std::optional<shmjob::DataKind> parse_kind(std::string_view name) noexcept {
  if (name == "random") return shmjob::DataKind::random;
  if (name == "smooth") return shmjob::DataKind::smooth;
  if (name == "poisson") return shmjob::DataKind::poisson;
  return std::nullopt;
}

// Plain decimal digits only (no sign, no spaces, no trailing garbage), within T's range.
template <class T>
std::optional<T> parse_unsigned(std::string_view text) noexcept {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string_view kind_arg = argv[1], dtype_arg = argv[2], rows_arg = argv[3], cols_arg = argv[4],
                         seed_arg = argv[5], id_arg = argv[6];

  const auto kind = parse_kind(kind_arg);
  if (!kind) return usage("unknown KIND", kind_arg);
  const auto dtype = shmjob::parse_dtype(dtype_arg);
  if (!dtype) return usage("unknown DTYPE", dtype_arg);
  const auto rows = parse_unsigned<std::uint32_t>(rows_arg);
  if (!rows) return usage("bad ROWS", rows_arg);
  const auto cols = parse_unsigned<std::uint32_t>(cols_arg);
  if (!cols) return usage("bad COLS", cols_arg);
  const auto seed = parse_unsigned<std::uint64_t>(seed_arg);
  if (!seed) return usage("bad SEED", seed_arg);
  const auto id = parse_unsigned<std::uint64_t>(id_arg);
  if (!id) return usage("bad ID", id_arg);

  shmjob::MatrixSpec spec;
  spec.count = *id + 1;  // informational only; generate_matrix does not read it
  spec.shape.rows = *rows;
  spec.shape.cols = *cols;
  spec.shape.dtype = *dtype;
  spec.kind = *kind;
  spec.seed = *seed;

  const std::uint64_t bytes = spec.shape.bytes();
  // uint64_t storage keeps the buffer aligned for every element type.
  std::vector<std::uint64_t> buffer;
  try {
    buffer.resize(static_cast<std::size_t>((bytes + 7) / 8));
  } catch (const std::exception&) {
    std::fprintf(stderr, "synthetic_dump: cannot allocate %llu bytes\n", static_cast<unsigned long long>(bytes));
    return 1;
  }
  shmjob::generate_matrix(spec, *id, buffer.data());

  if (bytes != 0 && std::fwrite(buffer.data(), 1, static_cast<std::size_t>(bytes), stdout) != bytes) {
    std::perror("synthetic_dump: write to stdout");
    return 1;
  }
  if (std::fflush(stdout) != 0) {
    std::perror("synthetic_dump: write to stdout");
    return 1;
  }
  return 0;
}
