// The "input" section of a config and the expansion of its file list. Messages have the form of
// every section's (json_fields.hpp): "config: input.<key>: must be ..., got <value as written>".
#include <glob.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "config/input_config.hpp"
#include "config/json_fields.hpp"
#include "shmjob/error.hpp"

namespace shmjob {
namespace {

using nlohmann::json;
using namespace json_fields;

constexpr std::string_view kSection = "input";

// "/frames", "frames" and "/frames/" all name /frames; "/" is the root group.
std::string parse_dataset(const json& value, const std::string& path) {
  std::string dataset = read_text(value, path, "an HDF5 object path such as \"/frames\"");
  if (dataset.front() != '/') dataset.insert(dataset.begin(), '/');
  while (dataset.size() > 1 && dataset.back() == '/') dataset.pop_back();
  return dataset;
}

std::vector<std::string> parse_files(const json& value, const std::string& path) {
  if (value.is_array() && !value.empty()) {
    std::vector<std::string> files;
    for (std::size_t i = 0; i < value.size(); ++i) files.push_back(read_text(value[i], item_path(path, i)));
    return files;
  }
  return {read_text(value, path, "a non-empty string or a non-empty list of non-empty strings")};
}

bool has_glob_magic(std::string_view pattern) { return pattern.find_first_of("*?[") != std::string_view::npos; }

// The identity of a file for duplicate removal: its canonical path if it exists, else the
// lexically normal absolute path.
std::string identity(const std::string& path) {
  std::error_code error;
  auto canonical = std::filesystem::weakly_canonical(path, error);
  if (error) canonical = std::filesystem::absolute(path, error).lexically_normal();
  return canonical.string();
}

struct GlobFree {
  void operator()(glob_t* g) const noexcept { globfree(g); }
};

std::vector<std::string> glob_pattern(const std::string& pattern) {
  glob_t result{};
  const std::unique_ptr<glob_t, GlobFree> owner(&result);
  // GLOB_NOSORT: we sort bytewise ourselves, so the order does not depend on the locale.
  const int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &result);
  if (rc == GLOB_NOMATCH) throw InputError(pattern + ": no file matches this pattern");
  if (rc == GLOB_NOSPACE) throw InputError(pattern + ": out of memory while expanding");
  if (rc != 0) throw InputError(pattern + ": cannot expand (a directory could not be read)");
  std::vector<std::string> matches(result.gl_pathv, result.gl_pathv + result.gl_pathc);
  std::sort(matches.begin(), matches.end());
  return matches;
}

}  // namespace

InputConfig parse_input_config(const json& section) {
  const Section s(&section, std::string(kSection), {"files", "dataset", "recursive"});
  InputConfig config;
  config.files = parse_files(s.require("files"), s.path("files"));
  if (const json* dataset = s.find("dataset")) config.dataset = parse_dataset(*dataset, s.path("dataset"));
  read_bool_into(s, "recursive", config.recursive);
  return config;
}

json to_json(const InputConfig& config) {
  json document = {{"files", config.files}, {"recursive", config.recursive}};
  if (config.dataset) document["dataset"] = *config.dataset;  // unset: found in each file
  return document;
}

std::vector<std::string> expand_input_files(const std::vector<std::string>& patterns) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (const std::string& pattern : patterns) {
    const std::vector<std::string> matches =
        has_glob_magic(pattern) ? glob_pattern(pattern) : std::vector<std::string>{pattern};
    for (const std::string& file : matches)
      if (seen.insert(identity(file)).second) files.push_back(file);
  }
  return files;
}

}  // namespace shmjob
