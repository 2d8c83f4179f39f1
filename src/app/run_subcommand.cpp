#include <cstdio>
#include <exception>

#include "app/commands.hpp"
#include "h5/h5_handle.hpp"
#include "shmjob/error.hpp"
#include "util/printable.hpp"

namespace shmjob::app {

int run_subcommand(const Subcommand& command) {
  // HDF5's error stacks never reach the terminal: a damaged file is one line of ours.
  h5::silence_hdf5_errors();
  try {
    return command.run();
  } catch (const Error& e) {
    std::fprintf(stderr, "shmjob: error: %s\n", printable(e.what()).c_str());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmjob: error: %s\n", printable(e.what()).c_str());
    return kExitInternal;
  }
}

}  // namespace shmjob::app
