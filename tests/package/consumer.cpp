// consumer OUTPUT ID RAW_FILE: writes matrix ID of a shmjob output, as the installed
// shmjob::reader reads it, to RAW_FILE (row-major, native order) and prints
// "<rows> <cols> <dtype> <verify problems>". consumer --missing PATH: prints the exit code of the
// ReaderError thrown for a path without an output (so the error types cross the library).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <shmjob/error.hpp>
#include <shmjob/reader.hpp>
#include <shmjob/verify.hpp>
#include <shmjob/version.hpp>

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--missing") {
    try {
      shmjob::Reader reader(argv[2]);
    } catch (const shmjob::ReaderError& e) {
      std::printf("ReaderError %d\n", e.exit_code());
      return 0;
    } catch (const shmjob::Error& e) {
      std::printf("Error %d: %s\n", e.exit_code(), e.what());
      return 1;
    }
    return 1;
  }
  if (argc != 4) {
    std::fprintf(stderr, "usage: consumer OUTPUT ID RAW_FILE | consumer --missing PATH\n");
    return 2;
  }
  try {
    const shmjob::Reader reader(argv[1]);
    const shmjob::Matrix m = reader.read(std::strtoull(argv[2], nullptr, 10));
    std::ofstream(argv[3], std::ios::binary)
        .write(reinterpret_cast<const char*>(m.bytes.data()), static_cast<std::streamsize>(m.bytes.size()));
    const shmjob::VerifyReport report = shmjob::verify_output(argv[1]);
    std::printf("%llu %llu %s %zu %s\n", static_cast<unsigned long long>(m.rows),
                static_cast<unsigned long long>(m.cols), std::string(shmjob::dtype_name(m.dtype)).c_str(),
                report.problems.size(), shmjob::version().c_str());
  } catch (const shmjob::Error& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
