#pragma once
// Which stage limited the run, from where the ranks' time went (docs/metrics.md, "The
// bottleneck"). One function serves the end record (job totals) and every sample (the node's
// counters so far), so the report shows the same verdict the job wrote and, for a run that is
// still going or was killed, the latest one.
#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "metrics/compression_choices.hpp"

namespace shmjob::metrics {

// One stage's ranks added up (seconds are rank-seconds).
struct StageTime {
  int ranks = 0;
  double busy_s = 0, wait_input_s = 0, wait_slot_s = 0, wait_disk_s = 0, cpu_s = 0;
  // Compressors: the part of busy_s spent in the transform and the reductions, and the values its
  // casts clamped.
  double transform_s = 0;
  std::uint64_t saturated = 0;
  std::uint64_t matrices = 0;
  // Elastic stages: rank-seconds other stages' ranks spent on this stage's work, and the matrices
  // they did (not in `matrices`, which counts this stage's own ranks).
  double help_s = 0;
  std::uint64_t helped = 0;
};
enum StageIndex { kProducers = 0, kCompressors = 1, kWriters = 2 };
using StageTimes = std::array<StageTime, 3>;
// The StageIndex of a role name ("producer", ...); -1 for "idle" and anything else.
int stage_index(const std::string& role);

// What one rank did for other stages (elastic, pipeline/elastic.hpp).
struct HelpDone {
  std::uint64_t compressed = 0, produced = 0;
  double compress_s = 0, produce_s = 0;
  bool any() const noexcept { return compressed > 0 || produced > 0 || compress_s > 0 || produce_s > 0; }
  // {"compressed", "produced", "compress_s", "produce_s"}: a rank record's "help".
  nlohmann::json json() const;
};
// One rank's part in compressing, for its record (`entry`, a sample's or the end record's) and
// the stage totals: in a job with a transform, whoever compressed (a compressor, or a rank that
// helped) gets transform_s and saturated; a rank that helped gets "help", added to the stages it
// helped; the compressors' transform_s and everyone's saturated go to the compressor stage; a
// rank that compressed anything gets "compression" (its choices).
void add_compression_share(nlohmann::json& entry, StageTimes& stages, bool transform_job, bool compressor,
                           double transform_s, std::uint64_t saturated, const HelpDone& help,
                           const CompressionChoices& choices);

struct DiagnosisContext {
  double seconds = 0;                   // the time the stages ran (data flow)
  int cores = 0;                        // cores of a node (0: unknown)
  int busy_ranks = 0;                   // producer + compressor + writer ranks on a node
  std::array<int, 3> ranks_per_node{};  // stage counts on a node, for "now N"
  int level = 0;                        // compression.level (with "auto": the start)
  bool level_auto = false;              // compression.level "auto", within [level_min, level_max]
  int level_min = 0, level_max = 0;
  bool ingest = false;  // producers read HDF5 files
  // The job has a transform or reductions: the compressors' time is split into "transform"
  // (StageTime::transform_s) and "compress" (the rest of their busy time).
  bool transform = false;
  bool matmul = false;  // its chain has a matmul step (the costly one, as a rule)
};

// {"producer": {"ranks", "busy", "wait_input", "wait_slot", "wait_disk", "active", "cpu_s",
//  "matrices"}, ...}: fractions of the stage's rank-seconds (active = busy + wait_disk); a stage
// other ranks helped also has "help" (their rank-seconds on it, over its own) and "helped"
// (the matrices they did). With
// `transform`, also {"transform": {"ranks", "busy", "active", "matrices", "saturated"}} (the
// compressors' transform_s) and the compressor's busy is the rest of its busy time (compressing).
nlohmann::json stage_utilisation(const StageTimes& stages, double seconds, bool transform = false);

// {"stage": "compressor" | "transform" | "producer" | "writer" | "none", "sentence",
//  "suggestion", "evidence": {...fractions...}}. The stage is the rank group with the highest
// active fraction; when that is the compressors of a job with a transform (context.transform),
// the larger of their two parts, transform or compress, is named.
nlohmann::json diagnose(const StageTimes& stages, const DiagnosisContext& context);

}  // namespace shmjob::metrics
