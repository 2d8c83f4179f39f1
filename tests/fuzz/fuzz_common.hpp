#pragma once
// Helpers shared by the fuzz targets (tests/fuzz/*_fuzz.cpp), which are built two ways: with
// libFuzzer (-DSHMJOB_FUZZ=ON, clang) and, in the normal test suite, with replay_main.cpp, which
// feeds them every file of the committed corpus and regression directories.
#include <fcntl.h>
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

// The input as a regular file with a path: the code under test opens files by name, as it does
// in a job. A memfd's /proc/self/fd/N does not do: HDF5 resolves a file's real path after reading
// its superblock, and the target of that link ("/memfd:... (deleted)") does not exist, so every
// H5Fopen failed and nothing past the superblock was fuzzed. The file lives in a private
// directory under $TMPDIR (or /tmp) and is removed with it.
class InputFile {
 public:
  InputFile(const std::uint8_t* data, std::size_t size) {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/shmjob-fuzz-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) bug("mkdtemp failed", dir);
    dir_ = dir;
    path_ = dir_ + "/input";
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) bug("cannot create the input file", path_);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd, data + done, size - done);
      if (n <= 0) bug("write to the input file failed", path_);
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
  ~InputFile() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string dir_, path_;
};

}  // namespace shmjob::fuzz
