#pragma once
// UTF-8 validity of text that ends up in the master file, the metrics log (JSON) and messages.
// nlohmann's strict serialiser is the validator, so there is no hand-written decoder to trust.
#include <string>

#include <nlohmann/json.hpp>

namespace shmjob {

inline bool is_valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();  // error_handler_t::strict: throws on invalid UTF-8
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace shmjob
