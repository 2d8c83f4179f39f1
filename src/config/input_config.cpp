// The "input" section of a config and the expansion of its file list. Messages follow
// config.cpp: "config: input.<key>: must be ..., got <value as written>".
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
#include "shmjob/error.hpp"
#include "util/utf8.hpp"

namespace shmjob {
namespace {

using nlohmann::json;

constexpr std::string_view kSection = "input";
constexpr std::array<std::string_view, 3> kKnownKeys{"files", "dataset", "recursive"};

// A value as the user wrote it, kept to one short line (as config.cpp shows values).
std::string show(const json& value) {
  constexpr std::size_t kMaxShown = 60;
  std::string text = value.dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

[[noreturn]] void fail_got(const std::string& path, std::string_view expectation, const json& got) {
  throw ConfigError(path + ": must be " + std::string(expectation) + ", got " + show(got));
}

std::string key_path(std::string_view key) {
  return std::string(kSection) + "." + std::string(key);
}

bool usable_string(const json& value) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  // A NUL would silently cut the path short at the C API.
  return !text.empty() && text.find('\0') == std::string::npos;
}

// Names are recorded as UTF-8 text (master file, metrics log); a document built in code
// (shmjob ingest's arguments) can hold any bytes.
void require_utf8(const std::string& path, const json& value) {
  if (!is_valid_utf8(value.get_ref<const std::string&>()))
    fail_got(path, "valid UTF-8 text", value);
}

std::vector<std::string> parse_files(const json& value) {
  const std::string path = key_path("files");
  constexpr std::string_view kExpected =
      "a non-empty string or a non-empty list of non-empty strings";
  if (value.is_string()) {
    if (!usable_string(value)) fail_got(path, kExpected, value);
    require_utf8(path, value);
    return {value.get<std::string>()};
  }
  if (!value.is_array() || value.empty()) fail_got(path, kExpected, value);
  std::vector<std::string> files;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!usable_string(value[i]))
      fail_got(path + "[" + std::to_string(i) + "]", "a non-empty string", value[i]);
    require_utf8(path + "[" + std::to_string(i) + "]", value[i]);
    files.push_back(value[i].get<std::string>());
  }
  return files;
}

// "/frames", "frames" and "/frames/" all name /frames; "/" is the root group.
std::string parse_dataset(const json& value) {
  if (!usable_string(value))
    fail_got(key_path("dataset"), "an HDF5 object path such as \"/frames\"", value);
  require_utf8(key_path("dataset"), value);
  std::string path = value.get<std::string>();
  if (path.front() != '/') path.insert(path.begin(), '/');
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool has_glob_magic(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

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
  if (!section.is_object()) fail_got(std::string(kSection), "an object", section);
  for (const auto& item : section.items())
    if (std::find(kKnownKeys.begin(), kKnownKeys.end(), item.key()) == kKnownKeys.end())
      throw ConfigError("unknown key \"" + key_path(item.key()) +
                        "\" (known keys: files, dataset, recursive)");

  InputConfig config;
  const auto files = section.find("files");
  if (files == section.end())
    throw ConfigError(std::string(kSection) + ": required key \"files\" is missing");
  config.files = parse_files(*files);

  if (const auto dataset = section.find("dataset"); dataset != section.end())
    config.dataset = parse_dataset(*dataset);

  if (const auto recursive = section.find("recursive"); recursive != section.end()) {
    if (!recursive->is_boolean()) fail_got(key_path("recursive"), "true or false", *recursive);
    config.recursive = recursive->get<bool>();
  }
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
