#pragma once
// The "input" section of a job config: which HDF5 files to ingest and which object in them
// (split from input/input.hpp, which reads them; the config layer needs only this part). See
// docs/ingest.md.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace shmjob {

struct InputConfig {
  // Paths and/or glob(3) patterns, expanded in order; each pattern's matches sorted (bytewise);
  // a file named twice (same canonical path) is kept at its first position only.
  std::vector<std::string> files;
  // Absolute HDF5 path ("/frames"; "frames" is normalised to "/frames") of a 3-D dataset
  // [N, rows, cols], a 2-D dataset (one matrix), or a group whose 2-D datasets are the matrices.
  // Unset: "/data" where the file has it, else the file's only 2-D or 3-D dataset of a supported
  // type (InputCatalog::scan refuses a file with none or several); every file must agree.
  std::optional<std::string> dataset;
  bool recursive = false;  // groups: also the datasets of subgroups (depth-first, name order)
  friend bool operator==(const InputConfig&, const InputConfig&) = default;
};

// Parses the "input" section: {"files": ["a.h5", "runs/*.h5"] or "a.h5", "dataset": "/frames",
// "recursive": false}. `files` is required. Throws ConfigError("config: input.<key>: ...").
InputConfig parse_input_config(const nlohmann::json& section);
// Every key written out; parse_input_config(to_json(c)) == c.
nlohmann::json to_json(const InputConfig& config);

// Expands config.files as described above (no HDF5 involved). Throws InputError for a pattern
// that matches nothing or a glob(3) failure; explicit paths are returned even if missing.
std::vector<std::string> expand_input_files(const std::vector<std::string>& patterns);

}  // namespace shmjob
