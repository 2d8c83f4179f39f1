// parse_config / load_config / to_json / resolve_layout. Every rejection test checks that the
// message names the key and the problem, so removing a check makes its test fail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "shmjob/error.hpp"

namespace shmjob {
namespace {

using nlohmann::json;

// The smallest valid document: only the required keys.
json minimal() { return json::parse(R"({"matrices": {"count": 10, "rows": 100, "cols": 100}})"); }

// `minimal()` with the value at a JSON pointer ("/matrices/rows") replaced or added.
json with(const std::string& pointer, const json& value, json doc = minimal()) {
  doc[json::json_pointer(pointer)] = value;
  return doc;
}

json without(const std::string& section, const std::string& key, json doc = minimal()) {
  doc.at(section).erase(key);
  return doc;
}

// The message of the ConfigError `f` throws ("" and a test failure if it throws none).
template <class F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError thrown";
  return "";
}

std::string parse_error(const json& doc) {
  return config_error([&] { parse_config(doc); });
}

// Checks the one-line "config: ..." shape and that every fragment is present.
void expect_message(const std::string& message, std::initializer_list<std::string_view> parts) {
  EXPECT_TRUE(message.starts_with("config: ")) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  for (auto part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

Config config_with(const std::string& pointer, const json& value) { return parse_config(with(pointer, value)); }

// ---- rejections: document shape ----------------------------------------------------------

TEST(ConfigReject, TopLevelNotObject) {
  expect_message(parse_error(json::array({1, 2})), {"top level", "must be a JSON object", "[1,2]"});
}

TEST(ConfigReject, TopLevelString) {
  expect_message(parse_error(json("matrices")), {"top level", "must be a JSON object"});
}

TEST(ConfigReject, UnknownTopLevelKey) {
  expect_message(parse_error(with("/matrix", 1)),
                 {"unknown key \"matrix\"", "known keys: job, output_dir, overwrite, resume, matrices"});
}

TEST(ConfigReject, UnknownNestedKey) {
  EXPECT_EQ(parse_error(with("/matrices/colz", 5)),
            "config: unknown key \"matrices.colz\" (known keys: count, rows, cols, dtype, kind, "
            "seed)");
}

TEST(ConfigReject, UnknownKeyInOptionalSection) {
  expect_message(parse_error(with("/compression/levle", 5)),
                 {"unknown key \"compression.levle\"", "level, level_range, shuffle"});
}

TEST(ConfigReject, MatricesMissing) {
  EXPECT_EQ(parse_error(json::object()), "config: required key \"matrices\" is missing");
}

TEST(ConfigReject, MatricesNotObject) {
  expect_message(parse_error(with("/matrices", 5)), {"matrices: must be an object, got 5"});
}

TEST(ConfigReject, SectionNotObject) {
  expect_message(parse_error(with("/stages", "auto")), {"stages: must be an object", "\"auto\""});
}

// ---- rejections: matrices -----------------------------------------------------------------

TEST(ConfigReject, CountMissing) {
  EXPECT_EQ(parse_error(without("matrices", "count")), "config: matrices: required key \"count\" is missing");
}

TEST(ConfigReject, RowsMissing) {
  EXPECT_EQ(parse_error(without("matrices", "rows")), "config: matrices: required key \"rows\" is missing");
}

TEST(ConfigReject, ColsMissing) {
  EXPECT_EQ(parse_error(without("matrices", "cols")), "config: matrices: required key \"cols\" is missing");
}

TEST(ConfigReject, RowsString) {
  EXPECT_EQ(parse_error(with("/matrices/rows", "abc")), "config: matrices.rows: must be an integer >= 1, got \"abc\"");
}

TEST(ConfigReject, RowsFloat) {
  expect_message(parse_error(with("/matrices/rows", 2.5)), {"matrices.rows: must be an integer >= 1, got 2.5"});
}

TEST(ConfigReject, RowsWholeFloat) {
  // 2.0 is a JSON float: integers are written without a fraction.
  expect_message(parse_error(with("/matrices/rows", 2.0)), {"matrices.rows: must be an integer"});
}

TEST(ConfigReject, RowsNegative) {
  EXPECT_EQ(parse_error(with("/matrices/rows", -4)), "config: matrices.rows: must be at least 1, got -4");
}

TEST(ConfigReject, RowsZero) {
  EXPECT_EQ(parse_error(with("/matrices/rows", 0)), "config: matrices.rows: must be at least 1, got 0");
}

TEST(ConfigReject, RowsTooLarge) {
  EXPECT_EQ(parse_error(with("/matrices/rows", 1048577)),
            "config: matrices.rows: must be at most 1048576, got 1048577");
}

TEST(ConfigReject, ColsBool) {
  expect_message(parse_error(with("/matrices/cols", true)), {"matrices.cols: must be an integer >= 1, got true"});
}

TEST(ConfigReject, ColsNull) {
  expect_message(parse_error(with("/matrices/cols", nullptr)), {"matrices.cols: must be an integer >= 1, got null"});
}

TEST(ConfigReject, CountZero) {
  expect_message(parse_error(with("/matrices/count", 0)), {"matrices.count: must be at least 1, got 0"});
}

TEST(ConfigReject, CountTooLarge) {
  expect_message(parse_error(with("/matrices/count", (std::uint64_t{1} << 40) + 1)),
                 {"matrices.count: must be at most 1099511627776"});
}

TEST(ConfigReject, DtypeUnknown) {
  expect_message(parse_error(with("/matrices/dtype", "float128")),
                 {"matrices.dtype: must be one of int8,", "float64", "float16", "got \"float128\""});
}

TEST(ConfigReject, DtypeNotString) {
  expect_message(parse_error(with("/matrices/dtype", 8)), {"matrices.dtype: must be one of"});
}

TEST(ConfigReject, KindUnknown) {
  expect_message(parse_error(with("/matrices/kind", "gaussian")),
                 {"matrices.kind: must be one of random, smooth, poisson, got \"gaussian\""});
}

TEST(ConfigReject, SeedNegative) {
  expect_message(parse_error(with("/matrices/seed", -1)), {"matrices.seed: must be", "got -1"});
}

TEST(ConfigReject, SeedFloat) {
  expect_message(parse_error(with("/matrices/seed", 1.5)), {"matrices.seed: must be an integer >= 0, got 1.5"});
}

TEST(ConfigReject, MatrixOverChunkLimit) {
  // 65536 x 65536 uint8 is exactly 4 GiB, one byte more than an HDF5 chunk can hold.
  json doc = with("/matrices/rows", 65536);
  doc["matrices"]["cols"] = 65536;
  doc["matrices"]["dtype"] = "uint8";
  EXPECT_EQ(parse_error(doc),
            "config: matrices: one matrix is 4294967296 bytes (65536 x 65536 uint8), more than "
            "HDF5's chunk limit of 4294967295 bytes");
}

TEST(ConfigReject, MatrixOverChunkLimitFloat64) {
  json doc = with("/matrices/rows", 30000);
  doc["matrices"]["cols"] = 30000;
  expect_message(parse_error(doc), {"matrices: one matrix is 7200000000 bytes"});
}

// ---- rejections: top-level scalars -------------------------------------------------------

TEST(ConfigReject, JobEmpty) {
  expect_message(parse_error(with("/job", "")), {"job: must be 1 to 64 characters", "got \"\""});
}

TEST(ConfigReject, JobTooLong) {
  expect_message(parse_error(with("/job", std::string(65, 'a'))), {"job: must be 1 to 64 characters"});
}

TEST(ConfigReject, JobBadCharacter) {
  expect_message(parse_error(with("/job", "run/1")), {"job: must be 1 to 64 characters", "got \"run/1\""});
}

TEST(ConfigReject, JobLeadingDot) {
  expect_message(parse_error(with("/job", ".hidden")), {"job:", "not starting with '.'"});
}

TEST(ConfigReject, JobNotString) {
  expect_message(parse_error(with("/job", 7)), {"job: must be 1 to 64 characters", "got 7"});
}

TEST(ConfigReject, OutputDirEmpty) {
  expect_message(parse_error(with("/output_dir", "")), {"output_dir: must be a non-empty string, got \"\""});
}

TEST(ConfigReject, OutputDirNotString) {
  expect_message(parse_error(with("/output_dir", json::array())), {"output_dir: must be a non-empty string, got []"});
}

TEST(ConfigReject, OverwriteNotBool) {
  expect_message(parse_error(with("/overwrite", "yes")), {"overwrite: must be true or false, got \"yes\""});
}

// ---- rejections: stages -------------------------------------------------------------------

TEST(ConfigReject, WritersZero) {
  EXPECT_EQ(parse_error(with("/stages/writers", 0)), "config: stages.writers: must be at least 1 (or \"auto\"), got 0");
}

TEST(ConfigReject, ProducersWrongString) {
  expect_message(parse_error(with("/stages/producers", "many")),
                 {"stages.producers: must be an integer >= 1 (or \"auto\"), got \"many\""});
}

TEST(ConfigReject, CompressorsNegative) {
  expect_message(parse_error(with("/stages/compressors", -2)),
                 {"stages.compressors: must be at least 1 (or \"auto\"), got -2"});
}

TEST(ConfigReject, ProducersFloat) {
  expect_message(parse_error(with("/stages/producers", 2.5)), {"stages.producers: must be an integer >= 1", "got 2.5"});
}

TEST(ConfigReject, StageTooLarge) {
  expect_message(parse_error(with("/stages/compressors", 1 << 21)), {"stages.compressors: must be at most 1048576"});
}

// ---- rejections: slots --------------------------------------------------------------------

TEST(ConfigReject, PerProducerZero) {
  EXPECT_EQ(parse_error(with("/slots/per_producer", 0)),
            "config: slots.per_producer: must be an integer between 1 and 1024 (or \"auto\"), got 0");
}

TEST(ConfigReject, PerCompressorTooLarge) {
  expect_message(parse_error(with("/slots/per_compressor", 1025)),
                 {"slots.per_compressor: must be an integer between 1 and 1024 (or \"auto\"), got 1025"});
}

TEST(ConfigReject, PerCompressorString) {
  expect_message(parse_error(with("/slots/per_compressor", "4")),
                 {"slots.per_compressor: must be an integer between 1 and 1024 (or \"auto\"), got \"4\""});
}

TEST(ConfigReject, SlotBytesZero) {
  expect_message(parse_error(with("/slots/slot_bytes", 0)),
                 {"slots.slot_bytes: must be at least 1 (or \"auto\"), got 0"});
}

TEST(ConfigReject, SlotBytesWrongString) {
  expect_message(parse_error(with("/slots/slot_bytes", "big")),
                 {"slots.slot_bytes: must be an integer >= 1 (or \"auto\"), got \"big\""});
}

TEST(ConfigReject, SlotBytesBelowOneMatrix) {
  json doc = with("/slots/slot_bytes", 1000);
  doc["matrices"]["rows"] = 1000;
  doc["matrices"]["cols"] = 1000;
  EXPECT_EQ(parse_error(doc),
            "config: slots.slot_bytes: 1000 bytes cannot hold one matrix (8000000 bytes = 1000 x "
            "1000 float64)");
}

TEST(ConfigReject, SlotBytesOneShort) {
  // 100 x 100 float64 = 80000 bytes.
  expect_message(parse_error(with("/slots/slot_bytes", 79999)),
                 {"slots.slot_bytes: 79999 bytes cannot hold one matrix"});
}

TEST(ConfigReject, MemoryBudgetZero) {
  expect_message(parse_error(with("/slots/memory_budget_mb", 0)),
                 {"slots.memory_budget_mb: must be at least 1 (or null), got 0"});
}

TEST(ConfigReject, MemoryBudgetString) {
  expect_message(parse_error(with("/slots/memory_budget_mb", "1G")),
                 {"slots.memory_budget_mb: must be an integer >= 1 (or null), got \"1G\""});
}

TEST(ConfigReject, MemoryBudgetFloat) {
  expect_message(parse_error(with("/slots/memory_budget_mb", 0.5)),
                 {"slots.memory_budget_mb: must be an integer", "got 0.5"});
}

// ---- rejections: compression and metrics -------------------------------------------------

TEST(ConfigReject, LevelTooHigh) {
  EXPECT_EQ(parse_error(with("/compression/level", 30)),
            "config: compression.level: must be an integer between 1 and 22 (or \"auto\"), got 30");
}

TEST(ConfigReject, LevelZero) {
  expect_message(parse_error(with("/compression/level", 0)),
                 {"compression.level: must be an integer between 1 and 22 (or \"auto\"), got 0"});
}

TEST(ConfigReject, LevelString) {
  expect_message(parse_error(with("/compression/level", "3")),
                 {"compression.level: must be an integer between 1 and 22 (or \"auto\"), got \"3\""});
}

TEST(ConfigReject, ShuffleInteger) {
  expect_message(parse_error(with("/compression/shuffle", 1)),
                 {"compression.shuffle: must be true, false or \"auto\", got 1"});
}

TEST(ConfigCompression, AutoLevelAndShuffle) {
  Config c = parse_config(with("/compression", json{{"level", "auto"}, {"shuffle", "auto"}}));
  EXPECT_TRUE(c.compression.level_auto);
  EXPECT_EQ(c.compression.level, 3);  // the start, within the default range [1, 19]
  EXPECT_EQ(c.compression.level_min, 1);
  EXPECT_EQ(c.compression.level_max, 19);
  EXPECT_TRUE(c.compression.shuffle_auto);
  EXPECT_TRUE(c.compression.shuffle);  // the datasets declare shuffle
  c = parse_config(with("/compression", json{{"level", "auto"}, {"level_range", {5, 9}}}));
  EXPECT_EQ(c.compression.level, 5);  // 3 clamped into the range
  EXPECT_EQ(c.compression.level_max, 9);
  EXPECT_FALSE(c.compression.shuffle_auto);
  // The echo parses back to the same config, and only "auto" echoes its range.
  EXPECT_EQ(parse_config(to_json(c)), c);
  const Config fixed = parse_config(with("/compression/level", 7));
  EXPECT_FALSE(to_json(fixed)["compression"].contains("level_range"));
}

TEST(ConfigCompression, BadAutoSettings) {
  expect_message(parse_error(with("/compression", json{{"level", 4}, {"level_range", {1, 9}}})),
                 {"compression.level_range: applies only with \"level\": \"auto\""});
  expect_message(parse_error(with("/compression", json{{"level", "auto"}, {"level_range", {9, 1}}})),
                 {"compression.level_range: must be [lowest, highest] with lowest <= highest, got [9,1]"});
  expect_message(parse_error(with("/compression", json{{"level", "auto"}, {"level_range", {1, 30}}})),
                 {"compression.level_range[1]: must be an integer between 1 and 22, got 30"});
  expect_message(parse_error(with("/compression", json{{"level", "auto"}, {"level_range", 5}})),
                 {"compression.level_range: must be [lowest, highest] levels, got 5"});
  expect_message(parse_error(with("/compression/level", "fast")), {"compression.level: must be an integer"});
  expect_message(parse_error(with("/compression/shuffle", "yes")), {"compression.shuffle: must be true, false or"});
}

TEST(ConfigReject, MetricsPathEmpty) {
  expect_message(parse_error(with("/metrics/path", "")), {"metrics.path: must be a non-empty string"});
}

TEST(ConfigReject, IntervalZero) {
  EXPECT_EQ(parse_error(with("/metrics/interval_s", 0)),
            "config: metrics.interval_s: must be a number of seconds > 0 and <= 3600, got 0");
}

TEST(ConfigReject, IntervalNegative) {
  expect_message(parse_error(with("/metrics/interval_s", -0.5)), {"metrics.interval_s: must be a number", "got -0.5"});
}

TEST(ConfigReject, IntervalTooLong) {
  expect_message(parse_error(with("/metrics/interval_s", 3600.5)),
                 {"metrics.interval_s: must be a number", "got 3600.5"});
}

TEST(ConfigReject, IntervalString) {
  expect_message(parse_error(with("/metrics/interval_s", "1s")),
                 {"metrics.interval_s: must be a number", "got \"1s\""});
}

TEST(ConfigReject, IntervalBool) {
  expect_message(parse_error(with("/metrics/interval_s", true)), {"metrics.interval_s: must be a number", "got true"});
}

// ---- rejections: placement ----------------------------------------------------------------

TEST(ConfigReject, PinningUnknown) {
  EXPECT_EQ(parse_error(with("/placement/pinning", "numa")),
            "config: placement.pinning: must be one of auto, cores, none, got \"numa\"");
}

TEST(ConfigReject, PinningNotString) {
  expect_message(parse_error(with("/placement/pinning", true)),
                 {"placement.pinning: must be one of auto, cores, none", "got true"});
}

TEST(ConfigReject, WorkSharingUnknown) {
  EXPECT_EQ(parse_error(with("/placement/work_sharing", "global")),
            "config: placement.work_sharing: must be one of lane_local, shared, got \"global\"");
}

TEST(ConfigReject, PlacementUnknownKey) {
  EXPECT_EQ(parse_error(with("/placement/lanes", 2)),
            "config: unknown key \"placement.lanes\" (known keys: pinning, work_sharing)");
}

TEST(ConfigReject, PlacementNotObject) {
  expect_message(parse_error(with("/placement", "cores")), {"placement: must be an object", "got \"cores\""});
}

TEST(ConfigReject, LongValueIsShortened) {
  const std::string message = parse_error(with("/matrices/rows", std::string(500, 'x')));
  expect_message(message, {"matrices.rows:", "..."});
  EXPECT_LT(message.size(), 200U);
}

// ---- accepted documents -------------------------------------------------------------------

TEST(ConfigParse, Defaults) {
  const Config c = parse_config(minimal());
  EXPECT_EQ(c.job, "shmjob");
  EXPECT_EQ(c.output_dir, "out");
  EXPECT_FALSE(c.overwrite);
  EXPECT_EQ(c.matrices.count, 10U);
  EXPECT_EQ(c.matrices.shape.rows, 100U);
  EXPECT_EQ(c.matrices.shape.cols, 100U);
  EXPECT_EQ(c.matrices.shape.dtype, DType::float64);
  EXPECT_EQ(c.matrices.kind, DataKind::smooth);
  EXPECT_EQ(c.matrices.seed, 0U);
  EXPECT_FALSE(c.stages.producers);
  EXPECT_FALSE(c.stages.compressors);
  EXPECT_FALSE(c.stages.writers);
  EXPECT_FALSE(c.slots.per_producer);  // auto
  EXPECT_FALSE(c.slots.per_compressor);
  EXPECT_FALSE(c.slots.slot_bytes);
  EXPECT_FALSE(c.slots.memory_budget_mb);
  EXPECT_EQ(c.compression.level, 3);
  EXPECT_FALSE(c.compression.shuffle);
  EXPECT_TRUE(c.metrics.path.empty());  // per job
  EXPECT_EQ(c.metrics.interval_s, 1.0);
  EXPECT_EQ(c.master_path(), "out/shmjob.h5");
  EXPECT_EQ(c.metrics_path(), "out/shmjob.metrics.jsonl");
  EXPECT_EQ(c.placement.pinning, PinningMode::automatic);
  EXPECT_EQ(c.placement.work_sharing, WorkSharing::lane_local);
}

json full_document() {
  return json::parse(R"({
    "job": "run-7.a_b", "output_dir": "/scratch/x", "overwrite": true, "resume": true,
    "matrices": {"count": 1099511627776, "rows": 1048576, "cols": 512, "dtype": "int16",
                 "kind": "poisson", "seed": 18446744073709551615},
    "stages": {"producers": 3, "compressors": "auto", "writers": 2, "elastic": false},
    "slots": {"per_producer": 1, "per_compressor": 1024, "slot_bytes": 1099511627776,
              "memory_budget_mb": 2048},
    "compression": {"level": 22, "shuffle": true},
    "metrics": {"path": "/tmp/m.jsonl", "interval_s": 0.25},
    "placement": {"pinning": "cores", "work_sharing": "shared"},
    "flush": {"every_matrices": 64, "interval_s": 2.5},
    "multinode": {"min_block": 32}, "watchdog": {"stall_s": 5.0, "abort_s": 20.0}
  })");
}

TEST(ConfigParse, EveryKeySet) {
  const Config c = parse_config(full_document());
  EXPECT_EQ(c.job, "run-7.a_b");
  EXPECT_EQ(c.output_dir, "/scratch/x");
  EXPECT_TRUE(c.overwrite);
  EXPECT_EQ(c.matrices.count, std::uint64_t{1} << 40);
  EXPECT_EQ(c.matrices.shape.rows, 1U << 20);
  EXPECT_EQ(c.matrices.shape.cols, 512U);
  EXPECT_EQ(c.matrices.shape.dtype, DType::int16);
  EXPECT_EQ(c.matrices.kind, DataKind::poisson);
  EXPECT_EQ(c.matrices.seed, UINT64_MAX);
  EXPECT_EQ(c.stages.producers, 3);
  EXPECT_FALSE(c.stages.compressors);
  EXPECT_EQ(c.stages.writers, 2);
  EXPECT_EQ(c.slots.per_producer, 1);
  EXPECT_EQ(c.slots.per_compressor, 1024);
  EXPECT_EQ(c.slots.slot_bytes, std::uint64_t{1} << 40);
  EXPECT_EQ(c.slots.memory_budget_mb, 2048U);
  EXPECT_EQ(c.compression.level, 22);
  EXPECT_TRUE(c.compression.shuffle);
  EXPECT_EQ(c.metrics.path, "/tmp/m.jsonl");
  EXPECT_EQ(c.metrics.interval_s, 0.25);
  EXPECT_EQ(c.metrics_path(), "/tmp/m.jsonl");  // absolute: not under output_dir
  EXPECT_EQ(c.placement.pinning, PinningMode::cores);
  EXPECT_EQ(c.placement.work_sharing, WorkSharing::shared);
}

TEST(ConfigParse, PlacementNames) {
  for (auto name : {"auto", "cores", "none"})
    EXPECT_EQ(pinning_mode_name(config_with("/placement/pinning", name).placement.pinning), name);
  for (auto name : {"lane_local", "shared"})
    EXPECT_EQ(work_sharing_name(config_with("/placement/work_sharing", name).placement.work_sharing), name);
  EXPECT_EQ(config_with("/placement", json::object()).placement, PlacementConfig{});
}

TEST(ConfigParse, ExplicitAutoAndNull) {
  json doc = with("/stages/producers", "auto");
  doc["stages"]["writers"] = "auto";
  doc["slots"]["slot_bytes"] = "auto";
  doc["slots"]["memory_budget_mb"] = nullptr;
  EXPECT_EQ(parse_config(doc), parse_config(minimal()));
}

TEST(ConfigParse, IntegerIntervalAndSmallestMatrix) {
  json doc = with("/metrics/interval_s", 3600);
  doc["matrices"] = {{"count", 1}, {"rows", 1}, {"cols", 1}, {"dtype", "uint8"}};
  const Config c = parse_config(doc);
  EXPECT_EQ(c.metrics.interval_s, 3600.0);
  EXPECT_EQ(c.matrices.shape.bytes(), 1U);
}

TEST(ConfigParse, LargestMatrixUnderChunkLimit) {
  // 65536 x 65535 uint8 = 4294901760 bytes, under 4 GiB - 1.
  json doc = with("/matrices/rows", 65536);
  doc["matrices"]["cols"] = 65535;
  doc["matrices"]["dtype"] = "uint8";
  EXPECT_EQ(parse_config(doc).matrices.shape.bytes(), 4294901760U);
}

TEST(ConfigParse, SlotBytesExactlyOneMatrix) {
  EXPECT_EQ(config_with("/slots/slot_bytes", 80000).slots.slot_bytes, 80000U);
}

TEST(ConfigParse, DataKindNames) {
  EXPECT_EQ(data_kind_name(DataKind::random), "random");
  EXPECT_EQ(data_kind_name(DataKind::smooth), "smooth");
  EXPECT_EQ(data_kind_name(DataKind::poisson), "poisson");
  for (auto kind : {"random", "smooth", "poisson"})
    EXPECT_EQ(data_kind_name(config_with("/matrices/kind", kind).matrices.kind), kind);
}

TEST(ConfigParse, EveryDtypeName) {
  for (auto name : {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"})
    EXPECT_EQ(dtype_name(config_with("/matrices/dtype", name).matrices.shape.dtype), name);
}

// ---- to_json ------------------------------------------------------------------------------

TEST(ConfigJson, DefaultsAreFilledIn) {
  const json j = to_json(parse_config(minimal()));
  EXPECT_EQ(j, json::parse(R"({
    "job": "shmjob", "output_dir": "out", "overwrite": false,
    "matrices": {"count": 10, "rows": 100, "cols": 100, "dtype": "float64", "kind": "smooth",
                 "seed": 0},
    "stages": {"producers": "auto", "compressors": "auto", "writers": "auto", "elastic": true},
    "slots": {"per_producer": "auto", "per_compressor": "auto", "slot_bytes": "auto",
              "memory_budget_mb": null},
    "compression": {"level": 3, "shuffle": false},
    "metrics": {"interval_s": 1.0},
    "placement": {"pinning": "auto", "work_sharing": "lane_local"},
    "resume": false, "flush": {"every_matrices": null, "interval_s": 10.0},
    "multinode": {"min_block": 8}, "watchdog": {"stall_s": 60.0, "abort_s": 0.0}
  })"));
}

TEST(ConfigParse, ResumeAndFlush) {
  const Config c = parse_config(full_document());
  EXPECT_TRUE(c.resume);
  EXPECT_EQ(c.flush.every_matrices, 64U);
  EXPECT_EQ(c.flush.interval_s, 2.5);
  const Config d = parse_config(minimal());
  EXPECT_FALSE(d.resume);
  EXPECT_FALSE(d.flush.every_matrices.has_value());
  EXPECT_EQ(d.flush.interval_s, 10.0);
}

TEST(ConfigReject, BadFlushAndResume) {
  const auto rejects = [](const char* key, const json& value, const std::string& fragment) {
    json doc = minimal();
    if (std::string(key) == "resume")
      doc["resume"] = value;
    else
      doc["flush"][key] = value;
    try {
      parse_config(doc);
      ADD_FAILURE() << key << " = " << value.dump() << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_EQ(e.exit_code(), kExitBadInput);
    }
  };
  rejects("every_matrices", 0, "flush.every_matrices: must be at least 1");
  rejects("every_matrices", -3, "flush.every_matrices");
  rejects("every_matrices", 2.5, "flush.every_matrices");
  rejects("interval_s", 0, "flush.interval_s: must be a number of seconds > 0");
  rejects("interval_s", "10", "flush.interval_s");
  rejects("interval_s", 3601, "flush.interval_s");
  rejects("resume", "yes", "resume: must be true or false");
  json doc = minimal();
  doc["flush"]["every"] = 3;
  EXPECT_THROW(parse_config(doc), ConfigError);
}

TEST(ConfigJson, RoundTripDefaults) {
  const Config c = parse_config(minimal());
  EXPECT_EQ(parse_config(to_json(c)), c);
}

TEST(ConfigJson, RoundTripEveryKeySet) {
  const Config c = parse_config(full_document());
  EXPECT_EQ(parse_config(to_json(c)), c);
  EXPECT_EQ(to_json(c), full_document());
  // And through text, as the metrics log and the master file store it.
  EXPECT_EQ(parse_config(json::parse(to_json(c).dump())), c);
}

// ---- resolve_layout -----------------------------------------------------------------------

struct StageCase {
  int ranks, producers, compressors, writers, idle;
};

void expect_stages(const NodeLayout& l, const StageCase& want) {
  EXPECT_EQ(l.producers, want.producers) << want.ranks << " ranks";
  EXPECT_EQ(l.compressors, want.compressors) << want.ranks << " ranks";
  EXPECT_EQ(l.writers, want.writers) << want.ranks << " ranks";
  EXPECT_EQ(l.idle, want.idle) << want.ranks << " ranks";
}

TEST(ConfigLayout, AutoRule) {
  const Config c = parse_config(minimal());
  for (const StageCase& want : {StageCase{3, 1, 1, 1, 0}, StageCase{4, 1, 2, 1, 0}, StageCase{8, 2, 5, 1, 0},
                                StageCase{16, 4, 10, 2, 0}, StageCase{64, 16, 40, 8, 0}})
    expect_stages(resolve_layout(c, want.ranks), want);
}

TEST(ConfigLayout, ExplicitProducersKept) {
  expect_stages(resolve_layout(config_with("/stages/producers", 5), 16), {16, 5, 9, 2, 0});
}

TEST(ConfigLayout, ExplicitWritersKept) {
  expect_stages(resolve_layout(config_with("/stages/writers", 3), 8), {8, 2, 3, 3, 0});
}

TEST(ConfigLayout, ExplicitCompressorsLeaveIdleRanks) {
  expect_stages(resolve_layout(config_with("/stages/compressors", 4), 16), {16, 4, 4, 2, 6});
}

TEST(ConfigLayout, AllExplicit) {
  json doc = with("/stages", {{"producers", 1}, {"compressors", 2}, {"writers", 1}});
  expect_stages(resolve_layout(parse_config(doc), 64), {64, 1, 2, 1, 60});
  expect_stages(resolve_layout(parse_config(doc), 4), {4, 1, 2, 1, 0});
}

TEST(ConfigLayout, TooFewRanks) {
  const Config c = parse_config(minimal());
  EXPECT_EQ(config_error([&] { resolve_layout(c, 2); }),
            "config: stages: the job needs at least 3 ranks per node (one per stage), got 2");
}

TEST(ConfigLayout, TooFewRanksEvenWhenExplicit) {
  json doc = with("/stages", {{"producers", 1}, {"compressors", 1}, {"writers", 1}});
  const Config c = parse_config(doc);
  expect_message(config_error([&] { resolve_layout(c, 0); }), {"at least 3 ranks", "got 0"});
}

TEST(ConfigLayout, ExplicitSumExceedsRanks) {
  const Config c = parse_config(with("/stages", {{"producers", 3}, {"compressors", 3}, {"writers", 3}}));
  EXPECT_EQ(config_error([&] { resolve_layout(c, 8); }),
            "config: stages: producers + compressors + writers = 9 exceeds the 8 ranks on this "
            "node");
}

TEST(ConfigLayout, ExplicitCompressorsPlusAutoExceedRanks) {
  const Config c = config_with("/stages/compressors", 7);  // + 2 auto producers + 1 auto writer
  expect_message(config_error([&] { resolve_layout(c, 8); }),
                 {"stages: producers + compressors + writers = 10 exceeds the 8 ranks"});
}

TEST(ConfigLayout, NoRankLeftForAutoCompressors) {
  const Config c = config_with("/stages/producers", 7);  // + 1 auto writer = all 8 ranks
  expect_message(config_error([&] { resolve_layout(c, 8); }),
                 {"stages: producers + writers = 8 leave no rank for the compressors", "8 ranks"});
}

// 1000 x 1000 float64 = 8000000 bytes; ZSTD_compressBound adds 1/256 (no margin above 128 KiB).
constexpr std::uint64_t kBigMatrix = 8000000;
constexpr std::uint64_t kBigBound = 8000000 + 8000000 / 256;

Config big_matrix_config(json doc = minimal()) {
  doc["matrices"]["rows"] = 1000;
  doc["matrices"]["cols"] = 1000;
  return parse_config(doc);
}

TEST(ConfigLayout, SlotSizesDefaultToOneMatrix) {
  const NodeLayout l = resolve_layout(big_matrix_config(), 16);
  EXPECT_EQ(l.raw_slot_bytes, kBigMatrix);
  EXPECT_EQ(l.compressed_slot_bytes, kBigBound);
  EXPECT_EQ(l.raw_slots_per_producer, 4);
  // 4 producers + 2 writers may help the 10 compressors (elastic): one slot more each.
  EXPECT_EQ(l.compressed_slots_per_compressor, 5);
}

TEST(ConfigLayout, AutoSlotCountsFollowTheMatrixSize) {
  // About 16 MiB of slots per rank, at least 4, at most 64; with elastic stages (the default) each
  // compressor gets ceil((producers + writers) / compressors) more for the helpers' frames.
  const auto slots = [](int rows, int cols, json slots_section = json::object(), bool elastic = false) {
    json doc = with("/matrices/rows", rows, with("/matrices/cols", cols));
    doc["slots"] = std::move(slots_section);
    doc["stages"] = {{"elastic", elastic}};
    const NodeLayout l = resolve_layout(parse_config(doc), 8);
    return std::pair{l.raw_slots_per_producer, l.compressed_slots_per_compressor};
  };
  EXPECT_EQ(slots(64, 64), std::pair(64, 64));                        // 32 KiB: 512 would fit, capped at 64
  EXPECT_EQ(slots(512, 512), std::pair(8, 8));                        // 2 MiB
  EXPECT_EQ(slots(1000, 1000), std::pair(4, 4));                      // 8 MB: 2 would fit, at least 4
  EXPECT_EQ(slots(64, 64, {{"per_producer", 3}}), std::pair(3, 64));  // explicit counts kept
  EXPECT_EQ(slots(64, 64, {{"per_compressor", "auto"}, {"per_producer", "auto"}}), std::pair(64, 64));
  // 8 ranks, auto: 1 producer, 6 compressors, 1 writer: ceil(2 / 6) = 1 more; explicit stays.
  EXPECT_EQ(slots(1000, 1000, json::object(), true), std::pair(4, 5));
  EXPECT_EQ(slots(64, 64, {{"per_compressor", 7}}, true), std::pair(64, 7));
}

TEST(ConfigLayout, SmallMatrixBoundHasMargin) {
  // 100 x 100 float64 = 80000 bytes < 128 KiB: bound = 80000 + 312 + (131072 - 80000) / 2048.
  const NodeLayout l = resolve_layout(parse_config(minimal()), 8);
  EXPECT_EQ(l.compressed_slot_bytes, 80000U + 312U + 24U);
}

TEST(ConfigLayout, ExplicitSlotBytesAndCounts) {
  json doc = with("/slots", {{"per_producer", 2}, {"per_compressor", 7}, {"slot_bytes", 9000000}});
  const NodeLayout l = resolve_layout(big_matrix_config(doc), 16);
  EXPECT_EQ(l.raw_slot_bytes, 9000000U);
  EXPECT_EQ(l.compressed_slot_bytes, 9000000U + 9000000U / 256);
  EXPECT_EQ(l.raw_slots_per_producer, 2);
  EXPECT_EQ(l.compressed_slots_per_compressor, 7);
}

// 16 ranks: 4 producers, 10 compressors; one slot set = 4 * 8000000 + 10 * 8031250 bytes.
constexpr std::uint64_t kSetBytes = 4 * kBigMatrix + 10 * kBigBound;  // 112312500, 107.1 MiB

NodeLayout budget_layout(std::uint64_t budget_mb, int ranks = 16) {
  return resolve_layout(big_matrix_config(with("/slots/memory_budget_mb", budget_mb)), ranks);
}

TEST(ConfigLayout, MemoryBudgetDerivesSlotCounts) {
  const NodeLayout l = budget_layout(1024);
  EXPECT_EQ(l.raw_slots_per_producer, static_cast<int>((1024U << 20) / kSetBytes));  // 9
  EXPECT_EQ(l.raw_slots_per_producer, 9);
  EXPECT_EQ(l.compressed_slots_per_compressor, 9);
}

TEST(ConfigLayout, MemoryBudgetOverridesPerStageCounts) {
  json doc = with("/slots", {{"per_producer", 2}, {"per_compressor", 3}, {"memory_budget_mb", 1024}});
  const NodeLayout l = resolve_layout(big_matrix_config(doc), 16);
  EXPECT_EQ(l.raw_slots_per_producer, 9);
  EXPECT_EQ(l.compressed_slots_per_compressor, 9);
}

TEST(ConfigLayout, MemoryBudgetExactlyOneSet) {
  EXPECT_EQ(budget_layout(108).raw_slots_per_producer, 1);  // 108 MiB >= 107.1 MiB
}

TEST(ConfigLayout, MemoryBudgetCappedAt1024) {
  const NodeLayout l = budget_layout(std::uint64_t{1} << 30);
  EXPECT_EQ(l.raw_slots_per_producer, 1024);
  EXPECT_EQ(l.compressed_slots_per_compressor, 1024);
}

TEST(ConfigLayout, MemoryBudgetTooSmall) {
  const Config c = big_matrix_config(with("/slots/memory_budget_mb", 10));
  EXPECT_EQ(config_error([&] { resolve_layout(c, 16); }),
            "config: slots.memory_budget_mb: 10 MB cannot hold one slot per producer and "
            "compressor (needs at least 108 MB for 4 producers and 10 compressors)");
}

TEST(ConfigLayout, MemoryBudgetOneMbShort) {
  const Config c = big_matrix_config(with("/slots/memory_budget_mb", 107));
  expect_message(config_error([&] { resolve_layout(c, 16); }), {"107 MB cannot hold", "needs at least 108 MB"});
}

// The transform's operands (every copy on the node) are taken out of the budget first.
TEST(ConfigLayout, MemoryBudgetLessTheOperands) {
  Config c = big_matrix_config(with("/slots/memory_budget_mb", 1024));
  c.slots.reserved_bytes = 300ull << 20;  // 724 MiB left: 6 sets of 107.1 MiB
  const NodeLayout l = resolve_layout(c, 16);
  EXPECT_EQ(l.raw_slots_per_producer, static_cast<int>((724ull << 20) / kSetBytes));
  EXPECT_EQ(l.raw_slots_per_producer, 6);
  c.slots.reserved_bytes = 1000ull << 20;  // 24 MiB left: not one set
  expect_message(config_error([&] { resolve_layout(c, 16); }),
                 {"1024 MB cannot hold one slot per producer", "after the transform's operands took 1000 MB"});
}

TEST(ConfigLayout, MemoryBudgetBelowTheOperandsAlone) {
  Config c = big_matrix_config(with("/slots/memory_budget_mb", 100));
  c.slots.reserved_bytes = (100ull << 20) + 1;
  expect_message(config_error([&] { resolve_layout(c, 16); }),
                 {"slots.memory_budget_mb: 100 MB cannot hold the transform's operands alone (104857601 bytes, 101 MB",
                  "\"replicate\": \"node\""});
}

TEST(ConfigLayout, MemoryBudgetUsesExplicitSlotBytes) {
  // Bigger slots make one set cost 4 * 16000000 + 10 * 16062500 = 224625000 bytes (214.2 MiB).
  json doc = with("/slots", {{"slot_bytes", 16000000}, {"memory_budget_mb", 200}});
  const Config c = big_matrix_config(doc);
  expect_message(config_error([&] { resolve_layout(c, 16); }), {"needs at least 215 MB"});
}

// ---- load_config --------------------------------------------------------------------------

class LoadConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("shmjob_config_test_" + std::to_string(::getpid()) + "_" + info->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& name, const std::string& text) const {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(LoadConfig, ValidFile) {
  const auto path = write("ok.json", minimal().dump(2));
  EXPECT_EQ(load_config(path), parse_config(minimal()));
}

TEST_F(LoadConfig, MissingFile) {
  const auto path = dir_ / "absent.json";
  EXPECT_EQ(config_error([&] { load_config(path); }),
            "config: cannot read \"" + path.string() + "\": No such file or directory");
}

TEST_F(LoadConfig, Directory) {
  expect_message(config_error([&] { load_config(dir_); }), {"cannot read \"" + dir_.string() + "\": Is a directory"});
}

TEST_F(LoadConfig, SyntaxError) {
  const auto path = write("bad.json", "{\n  \"matrices\": {\"count\": 1,}\n}\n");
  const std::string message = config_error([&] { load_config(path); });
  expect_message(message, {"\"" + path.string() + "\" is not valid JSON: ", "line 2"});
  EXPECT_EQ(message.find("[json.exception"), std::string::npos) << message;
}

TEST_F(LoadConfig, EmptyFile) {
  const auto path = write("empty.json", "");
  expect_message(config_error([&] { load_config(path); }), {"is not valid JSON"});
}

TEST_F(LoadConfig, ValidationErrorsPassThrough) {
  const auto path = write("rows.json", with("/matrices/rows", "abc").dump());
  EXPECT_EQ(config_error([&] { load_config(path); }), "config: matrices.rows: must be an integer >= 1, got \"abc\"");
}

TEST(ConfigLayout, AutoRuleGivesIngestsFewerProducers) {
  const Config c =
      parse_config(nlohmann::json::parse(R"({"input": {"files": ["in.h5"]}, "slots": {"slot_bytes": 4096}})"));
  const NodeLayout l = resolve_layout(c, 16, 4096);
  EXPECT_EQ(l.producers, 2);
  EXPECT_EQ(l.writers, 2);
  EXPECT_EQ(l.compressors, 12);
}

}  // namespace
}  // namespace shmjob

// ---- testing section (test-only knobs) ----------------------------------------------------
namespace shmjob {
namespace {

TEST(ConfigTesting, WriterDelayAcceptedAndRecordedOnlyWhenSet) {
  EXPECT_EQ(config_with("/testing/writer_delay_ms", 25).testing.writer_delay_ms, 25);
  const Config plain = parse_config(minimal());
  EXPECT_EQ(plain.testing.writer_delay_ms, 0);
  EXPECT_FALSE(to_json(plain).contains("testing"));
  const Config slow = config_with("/testing/writer_delay_ms", 25);
  EXPECT_EQ(to_json(slow)["testing"]["writer_delay_ms"], 25);
  EXPECT_EQ(parse_config(to_json(slow)), slow);
}

TEST(ConfigTesting, PretendNodesAndSlowNode) {
  const Config plain = parse_config(minimal());
  EXPECT_EQ(plain.testing.pretend_nodes, 1);
  EXPECT_FALSE(plain.testing.slow_node.has_value());
  EXPECT_EQ(plain.multinode.min_block, 8U);
  json doc = minimal();
  doc["testing"] = {{"pretend_nodes", 3}, {"slow_node", 1}, {"writer_delay_ms", 5}};
  doc["multinode"] = {{"min_block", 2}};
  const Config c = parse_config(doc);
  EXPECT_EQ(c.testing.pretend_nodes, 3);
  EXPECT_EQ(c.testing.slow_node, 1);
  EXPECT_EQ(c.multinode.min_block, 2U);
  EXPECT_EQ(to_json(c)["testing"]["slow_node"], 1);
  EXPECT_EQ(parse_config(to_json(c)), c);
  expect_message(parse_error(with("/testing/pretend_nodes", 0)), {"testing.pretend_nodes"});
  expect_message(parse_error(with("/testing/pretend_nodes", 65)), {"testing.pretend_nodes", "64"});
  expect_message(parse_error(with("/testing/slow_node", -1)), {"testing.slow_node"});
  expect_message(parse_error(with("/multinode/min_block", 0)), {"multinode.min_block"});
  expect_message(parse_error(with("/multinode/blocks", 4)), {"multinode", "blocks"});
}

TEST(ConfigTesting, WriterDelayRejected) {
  expect_message(parse_error(with("/testing/writer_delay_ms", -1)), {"testing.writer_delay_ms"});
  expect_message(parse_error(with("/testing/writer_delay_ms", 60001)), {"testing.writer_delay_ms", "60000"});
  expect_message(parse_error(with("/testing/writer_delay_ms", "slow")), {"testing.writer_delay_ms"});
  expect_message(parse_error(with("/testing/disk", 1)), {"testing", "disk"});
}

}  // namespace
}  // namespace shmjob

namespace shmjob {
namespace {
TEST(ConfigReject, WatchdogStall) {
  expect_message(parse_error(with("/watchdog/stall_s", -1)), {"watchdog.stall_s: must be a number of seconds >= 0"});
  expect_message(parse_error(with("/watchdog/stall_s", "60")), {"watchdog.stall_s: must be a number of seconds >= 0"});
  expect_message(parse_error(with("/watchdog/abort", 1)), {"unknown key \"watchdog.abort\""});
  expect_message(parse_error(with("/watchdog/abort_s", -2)), {"watchdog.abort_s: must be a number of seconds >= 0"});
  EXPECT_EQ(config_with("/watchdog/stall_s", 0).watchdog.stall_s, 0.0);
}
}  // namespace
}  // namespace shmjob
