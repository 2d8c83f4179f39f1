#pragma once
// Preparing the output directory (global rank 0 only, after the config was accepted).
#include "shmjob/config.hpp"

namespace shmjob {

// Creates output_dir if needed and checks it is writable. Refuses a directory that already
// holds this job's master file unless config.overwrite, in which case the old job's files
// (master, shards, metrics log) are removed first. Throws OutputPathError.
void prepare_output_dir(const Config& config);

}  // namespace shmjob
