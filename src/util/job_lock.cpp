#include "util/job_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>

#include "shmjob/error.hpp"
#include "util/printable.hpp"

namespace shmjob::fs {
namespace {
std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

std::string read_holder(int fd) {
  char buffer[256];
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  std::string text(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string this_holder() {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  return "pid " + std::to_string(::getpid()) + ", host " + host;
}
}  // namespace

JobLock::JobLock(const std::filesystem::path& dir, const std::string& job) : path_(path_for(dir, job)) {
  // A holder may remove the file as it ends: a lock on a file no longer under the name is no
  // lock, so check the name still leads to the locked file, and try again if not.
  for (int attempt = 0; attempt < 16; ++attempt) {
    require_regular_or_absent(path_, "job lock");
    UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      const int error = errno;
      require_regular_or_absent(path_, "job lock");  // a link or FIFO planted meanwhile
      throw OutputPathError("cannot create the job lock " + printable(path_.string()) + ": " + errno_text(error));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) require_regular_or_absent(path_, "job lock");
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      if (error == EWOULDBLOCK) {
        const std::string holder = read_holder(fd.get());
        throw OutputPathError("job \"" + job + "\" is running (" + (holder.empty() ? "holder unknown" : holder) +
                                  "; lock " + printable(path_.string()) +
                                  "): wait until it ends before running, resuming or overwriting it",
                              kExitBadInput);
      }
      std::fprintf(stderr, "shmjob: warning: cannot lock %s (%s): nothing stops a second run of job \"%s\" here\n",
                   printable(path_.string()).c_str(), errno_text(error).c_str(), job.c_str());
      fd_ = std::move(fd);
      return;
    }
    struct stat named {};
    if (::stat(path_.c_str(), &named) != 0 || named.st_ino != st.st_ino || named.st_dev != st.st_dev) continue;
    previous_ = read_holder(fd.get());
    const std::string me = this_holder() + "\n";
    if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
      throw OutputPathError("cannot write the job lock " + printable(path_.string()) + ": " + errno_text(errno));
    fd_ = std::move(fd);
    return;
  }
  throw OutputPathError("cannot take the job lock " + printable(path_.string()) + ": it keeps being replaced",
                        kExitBadInput);
}

JobLock::~JobLock() {
  // Removed while still held, so no other run can lock the old file after this one let go.
  if (fd_.get() >= 0) ::unlink(path_.c_str());
}

}  // namespace shmjob::fs
