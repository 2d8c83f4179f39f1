#include "resume/job_identity.hpp"

#include <algorithm>

namespace shmjob::resume {
namespace {
using nlohmann::json;

std::string shown(const json& value) {
  std::string text = value.is_null() ? "(none)" : value.dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 60) + "...";
  return text;
}

// The first key path where `a` and `b` differ ("" when equal).
std::string first_difference(const json& a, const json& b, const std::string& path) {
  if (a == b) return "";
  if (a.is_object() && b.is_object()) {
    std::vector<std::string> keys;
    for (const auto& item : a.items()) keys.push_back(item.key());
    for (const auto& item : b.items())
      if (!a.contains(item.key())) keys.push_back(item.key());
    for (const std::string& key : keys) {
      const json& x = a.contains(key) ? a.at(key) : json();
      const json& y = b.contains(key) ? b.at(key) : json();
      if (std::string d = first_difference(x, y, path + (path.empty() ? "" : ".") + key); !d.empty()) return d;
    }
  }
  return path + ": " + shown(a) + " in the earlier run, " + shown(b) + " now";
}

// What decides the stored matrices: a run that differs in any of these cannot continue another.
constexpr const char* kContentKeys[] = {"job", "matrices", "input", "compression", "operands", "transform", "reduce"};
}  // namespace

json sets_to_json(const std::vector<MatrixSet>& sets) {
  json list = json::array();
  for (const MatrixSet& s : sets)
    list.push_back({{"name", s.name},
                    {"index", s.index_name},
                    {"rows", s.shape.rows},
                    {"cols", s.shape.cols},
                    {"dtype", dtype_name(s.shape.dtype)},
                    {"first_id", s.first_id},
                    {"count", s.count}});
  return list;
}

std::string identity_difference(const json& stored_config, const json& stored_sets, const Config& config,
                                const std::vector<MatrixSet>& sets) {
  const json now = to_json(config);
  json earlier_content = json::object(), now_content = json::object();
  for (const char* key : kContentKeys) {
    if (stored_config.is_object() && stored_config.contains(key)) earlier_content[key] = stored_config.at(key);
    if (now.contains(key)) now_content[key] = now.at(key);
  }
  if (std::string d = first_difference(earlier_content, now_content, ""); !d.empty()) return d;
  if (!stored_sets.is_null())
    if (std::string d = first_difference(stored_sets, sets_to_json(sets), "datasets"); !d.empty()) return d;
  return "";
}

}  // namespace shmjob::resume
