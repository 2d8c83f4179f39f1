#pragma once
// Subcommands that read a job's output (no MPI): shmjob read / inspect / verify. Each adds
// itself to the CLI and returns what to run when it was given.
#include <functional>

#include <CLI/CLI.hpp>

namespace shmjob::app {

struct Subcommand {
  CLI::App* command = nullptr;
  std::function<int()> run;  // returns the exit code; errors are printed by run_subcommand
};

Subcommand add_read_command(CLI::App& app);
Subcommand add_inspect_command(CLI::App& app);
Subcommand add_verify_command(CLI::App& app);

// Runs a parsed subcommand: an shmjob::Error prints "shmjob: error: <message>" and returns its
// exit code; any other exception returns 1.
int run_subcommand(const Subcommand& command);

}  // namespace shmjob::app
