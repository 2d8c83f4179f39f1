#pragma once
// CPU time and resident memory of a process on this node, from /proc/<pid>/stat and statm: the
// node's sampler reads them for every rank of its node (no MPI, no help from the rank).
#include <sys/types.h>
#include <optional>

namespace shmjob::metrics {

struct ProcStats {
  double cpu_s = 0;                  // user + system time
  unsigned long long rss_bytes = 0;  // resident set (includes the window pages it touched)
};

// nullopt if the process is gone or /proc is not readable.
std::optional<ProcStats> read_proc_stats(pid_t pid);

}  // namespace shmjob::metrics
