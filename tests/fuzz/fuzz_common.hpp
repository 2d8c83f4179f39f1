#pragma once
// Helpers shared by the fuzz targets (tests/fuzz/*_fuzz.cpp), which are built two ways: with
// libFuzzer (-DSHMJOB_FUZZ=ON, clang) and, in the normal test suite, with replay_main.cpp, which
// feeds them every file of the committed corpus and regression directories.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace shmjob::fuzz {

// A bug found: print it and abort, so libFuzzer saves the input (and the replay test fails).
[[noreturn]] inline void bug(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "fuzz: BUG: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// The input as a file with a path (/proc/self/fd/N of a memfd): the code under test opens files
// by name, as it does in a job. Nothing is written to any file system.
class MemFile {
 public:
  MemFile(const std::uint8_t* data, std::size_t size) : fd_(::memfd_create("shmjob-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) bug("memfd_create failed", "");
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) bug("write to memfd failed", "");
      done += static_cast<std::size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace shmjob::fuzz
