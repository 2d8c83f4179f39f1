#pragma once
// Preparing the output directory (global rank 0 only, after the config was accepted).
#include "shmjob/config.hpp"

namespace shmjob {

// Creates output_dir if needed and checks it is writable (else OutputPathError, exit 3). Refuses
// (exit 2) a directory that already holds this job's master or shards unless config.resume
// (everything is kept) or config.overwrite (the old job's master, shards and metrics log are
// removed first).
void prepare_output_dir(const Config& config);

}  // namespace shmjob
