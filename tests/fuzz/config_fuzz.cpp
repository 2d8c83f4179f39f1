// libFuzzer target: config text -> load_config -> resolve_layout, as every rank does at start.
// A ConfigError (exit 2, one line) is the expected outcome for bad text; anything else that
// escapes (another exception type, a crash, a sanitizer report) is a bug. A config that parses
// must survive the round trip parse_config(to_json(c)) == c, which the master file relies on.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "fuzz_common.hpp"
#include "shmjob/error.hpp"

namespace {

void check_error_line(const shmjob::ConfigError& e) {
  const std::string what = e.what();
  // One line a user can read: the launcher prefixes "shmjob: error: " and a newline.
  if (what.empty() || what.find('\n') != std::string::npos || what.size() > 4096)
    shmjob::fuzz::bug("config error is not one short line", what);
  if (e.exit_code() != shmjob::kExitBadInput) shmjob::fuzz::bug("config error exit code != 2", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // load_config reads a file: the same path the shmjob binary takes (read, parse, validate).
  const shmjob::fuzz::InputFile file(data, size);
  shmjob::Config config;
  try {
    config = shmjob::load_config(file.path());
  } catch (const shmjob::ConfigError& e) {
    check_error_line(e);
    return 0;
  }
  // Round trip: what the master file records must parse back to the same config.
  try {
    if (shmjob::parse_config(shmjob::to_json(config)) != config)
      shmjob::fuzz::bug("parse_config(to_json(c)) != c", shmjob::to_json(config).dump());
  } catch (const shmjob::ConfigError& e) {
    shmjob::fuzz::bug("to_json output does not parse", e.what());
  }
  // The per-node layout for a few node sizes; rejections are ConfigErrors too.
  for (const int ranks : {1, 3, 16, 4096}) {
    try {
      const shmjob::NodeLayout layout = shmjob::resolve_layout(config, ranks);
      if (layout.producers + layout.compressors + layout.writers + layout.idle != ranks)
        shmjob::fuzz::bug("layout does not add up to the ranks", std::to_string(ranks));
    } catch (const shmjob::ConfigError& e) {
      check_error_line(e);
    }
  }
  return 0;
}
