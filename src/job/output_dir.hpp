#pragma once
// Preparing the output directory (global rank 0 only, after the config was accepted).
#include <filesystem>
#include <optional>
#include <span>

#include "config/config.hpp"
#include "util/job_lock.hpp"

namespace shmjob {

// Creates output_dir if needed and checks it is writable (else OutputPathError, exit 3), then
// takes the job's lock (fs::JobLock) and returns it: hold it until the job has ended.
// Refuses (exit 2, naming both paths) an output name that is one of `protected_files` (the
// inputs and the config file) or another of the job's own names; a symbolic link, FIFO or other
// non-regular file where the job's master, shards, metrics log or lock belong; a directory that
// already holds this job's master or shards unless config.resume (everything is kept) or
// config.overwrite (exactly this job's files are removed: the master, the shards it lists,
// shards whose stored config names this job, its own metrics log); a metrics log of someone
// else at metrics.path.
std::optional<fs::JobLock> prepare_output_dir(const Config& config,
                                              std::span<const std::filesystem::path> protected_files);

}  // namespace shmjob
