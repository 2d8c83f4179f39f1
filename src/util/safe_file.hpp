#pragma once
// Files shmjob creates in directories other people may write to (it often runs as root on shared
// file systems): never through a symbolic link someone planted, never onto a file it did not
// create, and never blocked by a FIFO where a file belongs. Every refusal is an
// OutputPathError naming the path (exit code 2: the directory holds something it must not).
#include <filesystem>
#include <string_view>
#include <utility>

namespace shmjob::fs {

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// Throws unless `path` is absent or a regular file (not a symbolic link, FIFO, device,
// directory). `what` says what shmjob wanted there ("metrics log", "shard").
void require_regular_or_absent(const std::filesystem::path& path, std::string_view what);

// Creates `path` exclusively (O_CREAT | O_EXCL | O_NOFOLLOW), mode 0644: a link or any file
// already there is refused, naming it.
UniqueFd create_new_file(const std::filesystem::path& path, std::string_view what);

// Opens an existing regular file to append, or creates it as create_new_file() does; never
// through a link, never blocking on a FIFO.
UniqueFd open_for_append(const std::filesystem::path& path, std::string_view what);

// A directory only this process uses (mkdtemp, mode 0700) inside `parent`, for a file that
// appears under its real name by rename(2) (which replaces a link at the target, never follows
// it). Named ".<file>.shmjob-XXXXXX" after the file it is for, so that a run of the same job
// can remove one a killed run left (remove_stale_private_dirs). Removed with what is left in it
// when destroyed.
class PrivateDir {
 public:
  PrivateDir(const std::filesystem::path& parent, const std::string& file);
  ~PrivateDir();
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// Removes the private directories PrivateDir(parent, file) made that are still there (a run
// killed while it wrote `file`): only real directories of this user with exactly that name
// pattern. The caller must hold the job's lock. Returns how many were removed.
int remove_stale_private_dirs(const std::filesystem::path& parent, const std::string& file);

// rename(2) of `from` onto `to`, then the directory of `to` synced, so the new name is durable.
// Throws OutputPathError (exit 3) on failure.
void publish(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace shmjob::fs
