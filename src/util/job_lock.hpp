#pragma once
// One run per job and output directory at a time: a second run, --resume or overwrite of a job
// that is running would interleave shards, replace a master in use or duplicate work. Global
// rank 0 holds an flock(2) on "<output_dir>/<job>.lock" from before it looks at the directory
// until the job has ended. The kernel drops the lock when its holder dies, so a lock left by a
// killed job is simply taken over; the file names the holder (pid, host) for the refusal.
#include <filesystem>
#include <string>

#include "util/safe_file.hpp"

namespace shmjob::fs {

class JobLock {
 public:
  // Takes the lock, or throws OutputPathError (exit 2) "job X is running (pid N, host H)".
  // On a file system without flock support it warns on stderr and goes on unlocked.
  JobLock(const std::filesystem::path& dir, const std::string& job);
  ~JobLock();
  JobLock(JobLock&&) noexcept = default;
  JobLock& operator=(JobLock&&) noexcept = default;
  JobLock(const JobLock&) = delete;
  JobLock& operator=(const JobLock&) = delete;

  // The holder named in the file when a dead job's lock was taken over, else empty.
  const std::string& taken_over_from() const noexcept { return previous_; }
  static std::filesystem::path path_for(const std::filesystem::path& dir, const std::string& job) {
    return dir / (job + ".lock");
  }

 private:
  UniqueFd fd_;
  std::filesystem::path path_;
  std::string previous_;
};

}  // namespace shmjob::fs
