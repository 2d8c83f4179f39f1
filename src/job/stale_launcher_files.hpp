#pragma once
// `shmjob cleanup`: what Open MPI leaves behind when mpirun itself is killed (SIGKILL, a node
// reboot of the launcher's shell, ...). A clean exit, a failure and a SIGKILLed rank leave
// nothing: mpirun removes them. Killed mpirun leaves
//   /dev/shm/vader_segment.<host>.<jobid>.<rank>   (shared-memory transport, 4 MiB each)
//   <tmp>/ompi.<host>.<uid>/pid.<mpirun pid>/      (session directory)
// A segment is stale when no process maps it (/proc/*/maps) and it is older than a few seconds;
// a session directory when its mpirun pid is gone. Only the caller's own files are touched, so
// the jobs of other users and the running jobs of this user are safe.
#include <filesystem>
#include <string>
#include <vector>

namespace shmjob::cleanup {

struct StaleFile {
  std::filesystem::path path;
  std::string why;
};

// Finds stale launcher files of the current user on this host. `shm_dir` and `tmp_dirs` are
// parameters for tests; by default /dev/shm and $TMPDIR (or /tmp).
std::vector<StaleFile> find_stale_launcher_files(const std::filesystem::path& shm_dir,
                                                 const std::vector<std::filesystem::path>& tmp_dirs);
std::vector<StaleFile> find_stale_launcher_files();

// The command: lists (dry_run) or removes them, one line each; returns the exit code.
int run_cleanup(bool dry_run);

}  // namespace shmjob::cleanup
