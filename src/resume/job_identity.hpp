#pragma once
// What makes two runs the same job, so that one may resume the other: the parts of the config
// that decide the stored content (job name, matrices or input, compression) and the matrix sets
// (ids, shapes, dtypes). Stage counts, slots, metrics, placement and flushing may change.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "config/matrix_set.hpp"

namespace shmjob::resume {

// The sets as stored in the master's and every shard's "datasets" attribute.
nlohmann::json sets_to_json(const std::vector<MatrixSet>& sets);

// Empty when `stored_config` (a to_json(Config) document) and `stored_sets` (sets_to_json; null
// when unknown) describe the same job as `config` and `sets`; otherwise the first difference as
// "<key>: <earlier> in the earlier run, <now> now".
std::string identity_difference(const nlohmann::json& stored_config, const nlohmann::json& stored_sets,
                                const Config& config, const std::vector<MatrixSet>& sets);

}  // namespace shmjob::resume
