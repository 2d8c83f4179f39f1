#pragma once
// Error types, one per domain. Every message is one line a user can act on; the exit code is part
// of the command-line interface (2: bad input detected before any output was written, 1: failure
// while running, 3: interrupted by a signal).
#include <stdexcept>
#include <string>

namespace shmjob {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInterrupted = 3;  // SIGTERM/SIGINT/SIGUSR1: drained, master "interrupted"

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = kExitRuntime)
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

// The output directory cannot be used (not writable, already holds a job, ...).
class OutputPathError : public Error {
 public:
  explicit OutputPathError(const std::string& message) : Error(message, kExitBadInput) {}
};

class MpiError : public Error {
 public:
  using Error::Error;
};

class H5Error : public Error {
 public:
  using Error::Error;
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
// scanning (before any output): exit code 2; a read that fails mid-run passes kExitRuntime.
class InputError : public Error {
 public:
  explicit InputError(const std::string& message, int exit_code = kExitBadInput)
      : Error("input: " + message, exit_code) {}
};

}  // namespace shmjob
