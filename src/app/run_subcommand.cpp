#include <cstdio>
#include <exception>

#include "app/commands.hpp"
#include "shmjob/error.hpp"

namespace shmjob::app {

int run_subcommand(const Subcommand& command) {
  try {
    return command.run();
  } catch (const Error& e) {
    std::fprintf(stderr, "shmjob: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmjob: error: %s\n", e.what());
    return kExitInternal;
  }
}

}  // namespace shmjob::app
