#pragma once
// Error types, one per domain. Every message is one line a user can act on; the exit code is part
// of the command-line interface (README and docs/reliability.md, "Exit codes"):
//   0 done, 2 bad config or input (nothing written), 3 runtime I/O error (disk full, output
//   directory missing or not writable, an input that cannot be read mid-run), 4 interrupted by a
//   signal (drained; resumable), 1 internal error (a bug or an MPI failure).
// A second signal aborts at once with 128 + the signal number (kExitAbortedBySignal).
#include <stdexcept>
#include <string>

namespace shmjob {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;     // a bug, an MPI or codec failure
inline constexpr int kExitBadInput = 2;     // config, input files, resume onto another job
inline constexpr int kExitIo = 3;           // runtime I/O: disk full, directory missing/unwritable
inline constexpr int kExitInterrupted = 4;  // SIGTERM/SIGINT/SIGUSR1: drained, master "interrupted"
// A second signal: the process leaves at once with 128 + signo (130 SIGINT, 138 SIGUSR1, 143 SIGTERM).
inline constexpr int kExitAbortedBySignal = 128;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = kExitInternal)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

// A config file that cannot be read, parsed or that asks for something impossible.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error("config: " + message, kExitBadInput) {}
};

// The output directory cannot be used: missing or not writable (kExitIo), or it already holds
// another job or one that cannot be resumed (kExitBadInput).
class OutputPathError : public Error {
 public:
  explicit OutputPathError(const std::string& message, int exit_code = kExitIo) : Error(message, exit_code) {}
};

class MpiError : public Error {
 public:
  using Error::Error;
};

// HDF5 I/O failed (a full disk, a vanished directory, ...): a runtime I/O error.
class H5Error : public Error {
 public:
  explicit H5Error(const std::string& message, int exit_code = kExitIo) : Error(message, exit_code) {}
};

class CodecError : public Error {
 public:
  using Error::Error;
};

// hwloc could not load or describe the machine's topology (or a synthetic/XML one).
class TopologyError : public Error {
 public:
  explicit TopologyError(const std::string& message) : Error("topology: " + message) {}
};

// An input file (HDF5 ingest) that cannot be used: missing, unreadable, or holding something
// shmjob cannot turn into matrices. The message names the file and the object. Found while
// scanning (before any output): exit code 2; a read that fails mid-run passes kExitIo.
class InputError : public Error {
 public:
  explicit InputError(const std::string& message, int exit_code = kExitBadInput)
      : Error("input: " + message, exit_code) {}
};

// A transform chain (src/transform/) that cannot run: a step that does not fit the matrix or its
// operands, found by plan_chain before any data moves (exit code 2, the message names the step as
// "transform[i] (op): ..."), or a broken contract when applying a plan (kExitInternal: a bug).
class TransformError : public Error {
 public:
  explicit TransformError(const std::string& message, int exit_code = kExitBadInput) : Error(message, exit_code) {}
};

// A request or an output the reader (shmjob/reader.hpp, shmjob/verify.hpp) cannot serve; the
// message names the id, range or file. Bad requests (id or slice out of range, no master file)
// carry exit code 2, broken output 3 (a runtime I/O error: what is on disk is not what was
// written).
class ReaderError : public Error {
 public:
  explicit ReaderError(const std::string& message, int exit_code = kExitIo) : Error(message, exit_code) {}
};

}  // namespace shmjob
