// shmjob read OUT --id N [--rows A:B] [--cols C:D] [--out file.npy|file.csv]
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "app/commands.hpp"
#include "shmjob/reader.hpp"

namespace shmjob::app {
namespace {

struct ReadArgs {
  std::string out_dir;
  std::uint64_t id = 0;
  std::string rows, cols, out;
};

// "A:B", "A:", ":B", ":" (Python's slice without a step) or "A" (one row/column).
Range parse_range(const std::string& text, std::uint64_t size, const char* what) {
  const auto bad = [&] {
    return ReaderError(std::string("--") + what + " " + text + ": expected A:B, A:, :B or A (non-negative integers)",
                       kExitBadInput);
  };
  const auto number = [&](const std::string& s, std::uint64_t fallback) -> std::uint64_t {
    if (s.empty()) return fallback;
    if (s.find_first_not_of("0123456789") != std::string::npos || s.size() > 18) throw bad();
    return std::stoull(s);
  };
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    const std::uint64_t a = number(text, 0);
    if (text.empty()) throw bad();
    return {a, a + 1};
  }
  if (text.find(':', colon + 1) != std::string::npos) throw bad();
  return {number(text.substr(0, colon), 0), number(text.substr(colon + 1), size)};
}

// The fewest significant digits that read back to the same float16 (what numpy prints): at
// most 5 are needed, and every float16 is a float, so the float parse is exact.
std::string format_float16(Float16 v) {
  char text[32];
  const auto value = static_cast<float>(static_cast<double>(v));
  for (int digits = 1;; ++digits) {
    const auto end = std::to_chars(text, text + sizeof text, value, std::chars_format::general, digits).ptr;
    float back = 0;
    std::from_chars(text, end, back);
    if (digits >= 5 || Float16(static_cast<double>(back)).bits == v.bits || value != value)
      return std::string(text, end);
  }
}

// Shortest text that reads back to the same value (what numpy prints), integers as integers.
std::string format_value(const Matrix& m, std::size_t i) {
  char text[64];
  const std::byte* p = m.bytes.data() + i * dtype_size(m.dtype);
  return visit_dtype(m.dtype, [&](auto v) {
    std::memcpy(&v, p, sizeof v);
    if constexpr (std::is_same_v<decltype(v), Float16>) {
      return format_float16(v);
    } else {
      const auto end = std::to_chars(text, text + sizeof text, v).ptr;
      return std::string(text, end);
    }
  });
}

void write_text(std::FILE* out, const Matrix& m, char separator) {
  for (std::uint64_t r = 0; r < m.rows; ++r) {
    std::string line;
    for (std::uint64_t c = 0; c < m.cols; ++c) {
      if (c > 0) line += separator;
      line += format_value(m, static_cast<std::size_t>(r * m.cols + c));
    }
    line += '\n';
    std::fputs(line.c_str(), out);
  }
}

// NumPy's .npy format, version 1.0: magic, header length, a dict padded to 64 bytes, the data.
void write_npy(std::FILE* out, const Matrix& m) {
  const std::size_t size = dtype_size(m.dtype);
  const char kind = dtype_is_float(m.dtype) ? 'f' : dtype_is_signed(m.dtype) ? 'i' : 'u';
  const std::string descr = std::string(size == 1 ? "|" : "<") + kind + std::to_string(size);
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + std::to_string(m.rows) + ", " +
                       std::to_string(m.cols) + "), }";
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  const auto length = static_cast<std::uint16_t>(header.size());
  const unsigned char preamble[10] = {0x93,
                                      'N',
                                      'U',
                                      'M',
                                      'P',
                                      'Y',
                                      1,
                                      0,
                                      static_cast<unsigned char>(length & 0xFF),
                                      static_cast<unsigned char>(length >> 8)};
  std::fwrite(preamble, 1, sizeof preamble, out);
  std::fwrite(header.data(), 1, header.size(), out);
  // An empty slice (rows 3:3) has no data, and fwrite must not see its null pointer.
  if (!m.bytes.empty()) std::fwrite(m.bytes.data(), 1, m.bytes.size(), out);
}

int run_read(const ReadArgs& a) {
  const Reader reader(a.out_dir, ReaderOptions{0, true});
  const MatrixSetInfo& set = reader.set_of(a.id);
  const Range rows = a.rows.empty() ? Range{0, set.shape.rows} : parse_range(a.rows, set.shape.rows, "rows");
  const Range cols = a.cols.empty() ? Range{0, set.shape.cols} : parse_range(a.cols, set.shape.cols, "cols");
  const bool whole = rows.begin == 0 && rows.end == set.shape.rows && cols.begin == 0 && cols.end == set.shape.cols;
  const Matrix m = whole ? reader.read(a.id) : reader.read_slice(a.id, rows, cols);
  if (a.out.empty()) {
    std::printf("# matrix %llu: rows %llu:%llu, cols %llu:%llu of %u x %u %s\n", static_cast<unsigned long long>(a.id),
                static_cast<unsigned long long>(rows.begin), static_cast<unsigned long long>(rows.end),
                static_cast<unsigned long long>(cols.begin), static_cast<unsigned long long>(cols.end), set.shape.rows,
                set.shape.cols, std::string(dtype_name(set.shape.dtype)).c_str());
    write_text(stdout, m, ' ');
    return std::fflush(stdout) == 0 ? kExitOk : kExitIo;
  }
  const bool npy = a.out.size() >= 4 && a.out.compare(a.out.size() - 4, 4, ".npy") == 0;
  const bool csv = a.out.size() >= 4 && a.out.compare(a.out.size() - 4, 4, ".csv") == 0;
  if (!npy && !csv) throw ReaderError("--out " + a.out + ": the file name must end in .npy or .csv", kExitBadInput);
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(a.out.c_str(), "wb"), &std::fclose);
  if (!file) throw ReaderError("--out " + a.out + ": cannot create: " + std::strerror(errno), kExitBadInput);
  if (npy)
    write_npy(file.get(), m);
  else
    write_text(file.get(), m, ',');
  if (std::ferror(file.get()) != 0 || std::fflush(file.get()) != 0)
    throw ReaderError("--out " + a.out + ": write failed: " + std::strerror(errno));
  return kExitOk;
}

}  // namespace

Subcommand add_read_command(CLI::App& app) {
  auto args = std::make_shared<ReadArgs>();
  CLI::App* cmd = app.add_subcommand("read", "print or save one matrix (or a slice of it) by id");
  cmd->add_option("output", args->out_dir, "output directory or master file (<job>.h5)")->required();
  cmd->add_option("--id", args->id, "matrix id")->required();
  cmd->add_option("--rows", args->rows, "rows A:B (half-open, like Python; A: and :B too)");
  cmd->add_option("--cols", args->cols, "columns C:D");
  cmd->add_option("--out", args->out, "save to a .npy or .csv file instead of printing");
  return {cmd, [args] { return run_read(*args); }};
}

}  // namespace shmjob::app
