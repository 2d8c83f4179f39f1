#include "util/safe_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>

#include "shmjob/error.hpp"
#include "util/printable.hpp"

namespace shmjob::fs {
namespace {
std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

std::string kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void refuse(const std::filesystem::path& path, std::string_view what, mode_t mode) {
  throw OutputPathError(std::string(what) + ": " + printable(path.string()) + " is " + kind_of(mode) +
                            "; shmjob writes only regular files it creates itself (remove it or choose another "
                            "output_dir)",
                        kExitBadInput);
}
}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void require_regular_or_absent(const std::filesystem::path& path, std::string_view what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw OutputPathError(std::string(what) + ": cannot examine " + printable(path.string()) + ": " +
                          errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) refuse(path, what, st.st_mode);
}

UniqueFd create_new_file(const std::filesystem::path& path, std::string_view what) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd.get() >= 0) return fd;
  const int error = errno;
  struct stat st {};
  if (error == EEXIST && ::lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) refuse(path, what, st.st_mode);
    throw OutputPathError(std::string(what) + ": " + printable(path.string()) +
                              " already exists; shmjob does not write over a file it did not create",
                          kExitBadInput);
  }
  throw OutputPathError(std::string(what) + ": cannot create " + printable(path.string()) + ": " + errno_text(error));
}

UniqueFd open_for_append(const std::filesystem::path& path, std::string_view what) {
  // O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    if (error == ENOENT) return create_new_file(path, what);
    struct stat st {};
    if ((error == ELOOP || error == ENXIO) && ::lstat(path.c_str(), &st) == 0) refuse(path, what, st.st_mode);
    throw OutputPathError(std::string(what) + ": cannot open " + printable(path.string()) + ": " + errno_text(error));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw OutputPathError(std::string(what) + ": cannot examine " + printable(path.string()) + ": " +
                          errno_text(errno));
  if (!S_ISREG(st.st_mode)) refuse(path, what, st.st_mode);
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
    throw OutputPathError(std::string(what) + ": cannot set up " + printable(path.string()) + ": " + errno_text(errno));
  return fd;
}

namespace {
std::string private_dir_prefix(const std::string& file) { return "." + file + ".shmjob-"; }
constexpr std::size_t kMkdtempSuffix = 6;  // the XXXXXX
}  // namespace

PrivateDir::PrivateDir(const std::filesystem::path& parent, const std::string& file) {
  std::string pattern = (parent / (private_dir_prefix(file) + std::string(kMkdtempSuffix, 'X'))).string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw OutputPathError("cannot create a private directory in " + printable(parent.string()) + ": " +
                          errno_text(errno));
  path_ = pattern;
}

PrivateDir::~PrivateDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int remove_stale_private_dirs(const std::filesystem::path& parent, const std::string& file) {
  const std::string prefix = private_dir_prefix(file);
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != prefix.size() + kMkdtempSuffix || name.compare(0, prefix.size(), prefix) != 0) continue;
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) continue;
    std::error_code ignored;
    if (std::filesystem::remove_all(entry.path(), ignored) > 0) ++removed;
  }
  return removed;
}

void publish(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw OutputPathError("cannot rename " + printable(from.string()) + " to " + printable(to.string()) + ": " +
                          errno_text(errno));
  const std::filesystem::path dir = to.has_parent_path() ? to.parent_path() : std::filesystem::path(".");
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0)
    throw OutputPathError("cannot sync directory " + printable(dir.string()) + ": " + errno_text(errno));
}

}  // namespace shmjob::fs
