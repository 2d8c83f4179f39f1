#pragma once
// The `auto` stage rule, shared by the node-level checks (config.cpp: resolve_stages) and the
// per-lane plan (role_plan_compute.cpp: split_stages, over min(ranks, cores) of each lane).
// Compressors are the bottleneck (zstd costs ~25 ms per 8 MB matrix at level 3, generating it
// ~5 ms, reading it from HDF5 less), so producers and writers get a fraction of the ranks and
// the compressors what they leave. Producers that read HDF5 need half as many ranks as
// generating ones.
#include <algorithm>

namespace shmjob {

inline int auto_producers(int ranks, bool reads_input) { return std::max(1, ranks / (reads_input ? 8 : 4)); }
inline int auto_writers(int ranks) { return std::max(1, ranks / 8); }

}  // namespace shmjob
