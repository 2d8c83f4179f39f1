#include "config/json_fields.hpp"

#include <algorithm>
#include <cmath>

#include "shmjob/error.hpp"
#include "util/utf8.hpp"

namespace shmjob::json_fields {

using nlohmann::json;

std::string show(const json& value) {
  constexpr std::size_t kMaxShown = 60;
  // ensure_ascii keeps the text printable and makes byte truncation safe.
  std::string text = value.dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

std::string join_path(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

std::string item_path(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

void fail(std::string_view path, const std::string& problem) { throw ConfigError(std::string(path) + ": " + problem); }

void fail_got(std::string_view path, std::string_view expectation, const json& got) {
  fail(path, "must be " + std::string(expectation) + ", got " + show(got));
}

Section::Section(const json* object, std::string path, std::span<const std::string_view> known)
    : object_(object), path_(std::move(path)) {
  if (object_ == nullptr) return;
  if (!object_->is_object()) {
    if (path_.empty()) throw ConfigError("the top level must be a JSON object, got " + show(*object_));
    fail_got(path_, "an object", *object_);
  }
  for (const auto& item : object_->items())
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      std::string list;
      for (auto key : known) list += (list.empty() ? "" : ", ") + std::string(key);
      throw ConfigError("unknown key \"" + join_path(path_, item.key()) + "\" (known keys: " + list + ")");
    }
}

const json* Section::find(std::string_view key) const {
  if (object_ == nullptr) return nullptr;
  auto it = object_->find(key);
  return it == object_->end() ? nullptr : &*it;
}

const json& Section::require(std::string_view key) const {
  if (const json* value = find(key)) return *value;
  const std::string problem = "required key \"" + std::string(key) + "\" is missing";
  if (path_.empty()) throw ConfigError(problem);
  fail(path_, problem);
}

std::uint64_t read_integer(const json& value, std::string_view path, IntRange range, std::string_view alternative) {
  const std::string alt = alternative.empty() ? "" : " (or " + std::string(alternative) + ")";
  const std::string between = "an integer between " + std::to_string(range.min) + " and " + std::to_string(range.max);
  const std::string expectation = (range.max_is_limit ? "an integer >= " + std::to_string(range.min) : between) + alt;

  // nlohmann's is_number_integer() is false for bools and floats.
  if (!value.is_number_integer()) fail_got(path, expectation, value);
  const bool negative = !value.is_number_unsigned() && value.get<std::int64_t>() < 0;
  const std::uint64_t number = negative ? 0 : value.get<std::uint64_t>();
  if (negative || number < range.min) {
    if (!range.max_is_limit) fail_got(path, between + alt, value);
    fail_got(path, "at least " + std::to_string(range.min) + alt, value);
  }
  if (number > range.max) {
    if (!range.max_is_limit) fail_got(path, between + alt, value);
    fail_got(path, "at most " + std::to_string(range.max), value);
  }
  return number;
}

void read_bool_into(const Section& section, std::string_view key, bool& out) {
  const json* value = section.find(key);
  if (value == nullptr) return;
  if (!value->is_boolean()) fail_got(section.path(key), "true or false", *value);
  out = value->get<bool>();
}

double read_finite(const json& value, std::string_view path) {
  if (!value.is_number() || !std::isfinite(value.get<double>())) fail_got(path, "a finite number", value);
  return value.get<double>();
}

const std::string& read_text(const json& value, std::string_view path, std::string_view expectation) {
  if (!value.is_string() || value.get_ref<const std::string&>().empty()) fail_got(path, expectation, value);
  const std::string& text = value.get_ref<const std::string&>();
  if (text.find('\0') != std::string::npos) fail_got(path, std::string(expectation) + " without NUL characters", value);
  if (!is_valid_utf8(text)) fail_got(path, "valid UTF-8 text", value);
  return text;
}

const std::string* read_string(const Section& section, std::string_view key, std::string_view expectation) {
  const json* value = section.find(key);
  if (value == nullptr) return nullptr;
  return &read_text(*value, section.path(key), expectation);
}

DType read_dtype(const json& value, std::string_view path) {
  std::optional<DType> parsed;
  if (value.is_string()) parsed = parse_dtype(value.get_ref<const std::string&>());
  if (!parsed) {
    // DType's enumerators are contiguous from 0 to kLastDType (see dtype.cpp's table).
    std::string expectation = "one of";
    for (int i = 0; i <= static_cast<int>(kLastDType); ++i)
      expectation += " " + std::string(dtype_name(static_cast<DType>(i))) + ",";
    expectation.pop_back();
    fail_got(path, expectation, value);
  }
  return *parsed;
}

void read_dtype_into(const Section& section, std::string_view key, DType& out) {
  if (const json* value = section.find(key)) out = read_dtype(*value, section.path(key));
}

}  // namespace shmjob::json_fields
