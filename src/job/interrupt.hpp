#pragma once
// Turns SIGTERM, SIGINT and SIGUSR1 (Slurm's time limit and scancel reach srun-launched ranks
// directly; mpirun forwards SIGUSR1) into a request to stop producing: the flag lives in the
// node's window, so one signalled rank stops the whole node. Producers stop taking ids, the
// pipeline drains, and the master file is written with status "interrupted".
// A second signal to the same process aborts it at once: _exit(128 + signo) (130 for SIGINT,
// 138 for SIGUSR1, 143 for SIGTERM). mpirun then tears the job down; whatever the writers
// flushed is kept for --resume.
//
// Two scopes nest. main holds one without a flag from MPI_Init to after MPI_Finalize, so that a
// signal while the ranks start up or finish (free the windows, finalize MPI) neither kills a
// job whose work is done nor is lost: it counts as the first signal. The job holds one with the
// node's flag while the pipeline exists; a first signal that came before it was bound makes the
// pipeline drain at once.
#include <atomic>
#include <csignal>
#include <cstdint>

#include "metrics/rank_counters.hpp"

namespace shmjob {

class InterruptHandler {
 public:
  // Process scope: installs the handlers; a first signal is only counted (and remembered for a
  // job that binds later).
  InterruptHandler();
  // Job scope: installs the handlers; while this object lives a first signal stores 1 into
  // `flag` and, if given, notes its number and time in `note` (the metrics log reports it).
  explicit InterruptHandler(std::atomic<std::uint32_t>& flag, metrics::SignalNote* note = nullptr);
  // Restores the previous handlers and flag, except that SIGUSR1 (drain) is ignored from then on
  // if it had its default action: a late drain request must not kill a finished job.
  ~InterruptHandler();
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

 private:
  struct sigaction previous_[3];
  std::atomic<std::uint32_t>* previous_flag_ = nullptr;
  metrics::SignalNote* previous_note_ = nullptr;
};

}  // namespace shmjob
