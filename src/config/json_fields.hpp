#pragma once
// Reading the fields of a JSON config document, for every section's parser (config.cpp,
// input_config.cpp, transform_config.cpp), so that every message has one form:
//   "<key path>: must be <expectation>, got <value as written>"
//   "unknown key \"<key path>\" (known keys: ...)"
// thrown as ConfigError (which adds the "config: " prefix).
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "shmjob/dtype.hpp"

namespace shmjob::json_fields {

inline constexpr std::string_view kAuto = "auto";

// A value as the user wrote it, kept to one short line so the error stays readable.
std::string show(const nlohmann::json& value);
// "parent.key", or "key" at the top level.
std::string join_path(std::string_view parent, std::string_view key);
// "path[i]".
std::string item_path(std::string_view path, std::size_t index);

[[noreturn]] void fail(std::string_view path, const std::string& problem);
[[noreturn]] void fail_got(std::string_view path, std::string_view expectation, const nlohmann::json& got);

// A JSON object at a key path whose keys have been checked against the known ones. An absent
// section reads as empty, so every key in it takes its default.
class Section {
 public:
  Section(const nlohmann::json* object, std::string path, std::span<const std::string_view> known);
  Section(const nlohmann::json* object, std::string path, std::initializer_list<std::string_view> known)
      : Section(object, std::move(path), std::span<const std::string_view>(known.begin(), known.size())) {}

  // nullptr when the key is absent.
  const nlohmann::json* find(std::string_view key) const;
  // The value at `key`; a ConfigError naming it when absent.
  const nlohmann::json& require(std::string_view key) const;
  Section section(std::string_view key, std::initializer_list<std::string_view> known) const {
    return Section(find(key), path(key), known);
  }
  std::string path(std::string_view key) const { return join_path(path_, key); }
  const std::string& path() const noexcept { return path_; }

 private:
  const nlohmann::json* object_;
  std::string path_;
};

struct IntRange {
  std::uint64_t min;
  std::uint64_t max;
  // true: `max` is a sanity limit, so the message leads with the lower bound ("an integer >=
  // 1"); false: the range itself is the rule ("an integer between 1 and 22").
  bool max_is_limit;
};

// The one integer reader: rejects floats (2.5 and 2.0 alike), bools, strings, negatives and
// out-of-range values, naming the key. `alternative` is another value accepted at this key,
// as JSON text (e.g. "\"auto\""); the caller handles it, this only mentions it in messages.
std::uint64_t read_integer(const nlohmann::json& value, std::string_view path, IntRange range,
                           std::string_view alternative = {});

// Sets `out` from `key` when present; the range must fit in T.
template <class T>
void read_integer_into(const Section& section, std::string_view key, IntRange range, T& out) {
  if (const nlohmann::json* value = section.find(key))
    out = static_cast<T>(read_integer(*value, section.path(key), range));
}

// An integer, or the string "auto" (-> nullopt).
template <class T>
void read_auto_integer_into(const Section& section, std::string_view key, IntRange range, std::optional<T>& out) {
  const nlohmann::json* value = section.find(key);
  if (value == nullptr) return;
  if (value->is_string() && value->get_ref<const std::string&>() == kAuto) {
    out.reset();
    return;
  }
  out = static_cast<T>(read_integer(*value, section.path(key), range, "\"auto\""));
}

void read_bool_into(const Section& section, std::string_view key, bool& out);

// A finite number (NaN and infinities cannot be written in JSON, but a document built in code
// can hold them).
double read_finite(const nlohmann::json& value, std::string_view path);

// A string checked for what every recorded string needs: non-empty, no NUL (it would cut a path
// short at the C API), valid UTF-8 (it is recorded in the master file and the JSON metrics log).
// `expectation` describes any further rule for the message.
const std::string& read_text(const nlohmann::json& value, std::string_view path,
                             std::string_view expectation = "a non-empty string");
// The same at `key` of a section; nullptr when absent.
const std::string* read_string(const Section& section, std::string_view key,
                               std::string_view expectation = "a non-empty string");

// {value, name} tables for enumerations written as names in the config.
template <class T, std::size_t N>
using NameTable = std::array<std::pair<T, std::string_view>, N>;

template <class T, std::size_t N>
std::string_view name_in(const NameTable<T, N>& table, T value, std::string_view fallback) noexcept {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return fallback;
}

template <class T, std::size_t N>
std::optional<T> value_in(const NameTable<T, N>& table, std::string_view name) {
  for (const auto& [v, v_name] : table)
    if (v_name == name) return v;
  return std::nullopt;
}

// "one of a, b, c".
template <class T, std::size_t N>
std::string one_of(const NameTable<T, N>& table) {
  std::string text = "one of";
  for (const auto& entry : table) text += " " + std::string(entry.second) + ",";
  text.pop_back();
  return text;
}

// One of the table's names at `key`, when present.
template <class T, std::size_t N>
void read_choice_into(const Section& section, std::string_view key, const NameTable<T, N>& table, T& out) {
  const nlohmann::json* value = section.find(key);
  if (value == nullptr) return;
  std::optional<T> parsed;
  if (value->is_string()) parsed = value_in(table, value->get_ref<const std::string&>());
  if (!parsed) fail_got(section.path(key), one_of(table), *value);
  out = *parsed;
}

// A dtype name ("float64", ...) at `key`, when present.
void read_dtype_into(const Section& section, std::string_view key, DType& out);
// A dtype name; the message lists every name.
DType read_dtype(const nlohmann::json& value, std::string_view path);

}  // namespace shmjob::json_fields
