#include "metrics/bottleneck.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace shmjob::metrics {
namespace {

constexpr const char* kRoles[3] = {"producer", "compressor", "writer"};
constexpr const char* kPlural[3] = {"producers", "compressors", "writers"};
constexpr const char* kKeys[3] = {"stages.producers", "stages.compressors", "stages.writers"};
// Below this a stage was not kept busy: the pipeline as a whole was idle (too short a run, or
// start-up and drain dominate), and no stage is named.
constexpr double kClearlyBusy = 0.5;

// The advice on the level: a fixed level names its value; "auto" already moves it, so only its
// range can be changed.
std::string lower_level(const DiagnosisContext& c) {
  if (c.level_auto)
    return "lower compression.level_range (now [" + std::to_string(c.level_min) + ", " + std::to_string(c.level_max) +
           "]; \"auto\" already lowers the level while compression limits the job)";
  return "lower compression.level (now " + std::to_string(c.level) + ")";
}
std::string higher_level(const DiagnosisContext& c) {
  if (c.level_auto)
    return "a higher compression.level_range (now up to " + std::to_string(c.level_max) + ", \"auto\" climbs it)";
  return "a higher compression.level (now " + std::to_string(c.level) + ")";
}

struct Use {
  double busy = 0, wait_input = 0, wait_slot = 0, wait_disk = 0;
  double transform = 0;  // compressors: the part of busy in the transform and the reductions
  double compress() const { return std::max(0.0, busy - transform); }
  // Busy and disk-wait time are read from separate counters at slightly different moments: on a
  // loaded machine their sum overshot 1 (1.005, seen in a sample), which no fraction may.
  double active() const { return std::min(1.0, busy + wait_disk); }
};

Use use_of(const StageTime& s, double seconds) {
  const double total = seconds * std::max(s.ranks, 1);
  if (!(total > 0)) return {};
  const auto f = [&](double x) { return std::clamp(x / total, 0.0, 1.0); };
  const double busy = f(s.busy_s);
  return {busy, f(s.wait_input_s), f(s.wait_slot_s), f(s.wait_disk_s), std::min(busy, f(s.transform_s))};
}

// Other ranks' time on a stage's work over the stage's own rank-seconds (may pass 1).
double help_of(const StageTime& s, double seconds) {
  const double total = seconds * std::max(s.ranks, 1);
  return total > 0 ? s.help_s / total : 0.0;
}

std::string pct(double fraction) { return std::to_string(static_cast<int>(std::lround(fraction * 100))) + "%"; }

}  // namespace

int stage_index(const std::string& role) {
  for (int i = 0; i < 3; ++i)
    if (role == kRoles[i]) return i;
  return -1;
}

nlohmann::json HelpDone::json() const {
  return {{"compressed", compressed}, {"produced", produced}, {"compress_s", compress_s}, {"produce_s", produce_s}};
}

void add_compression_share(nlohmann::json& entry, StageTimes& stages, bool transform_job, bool compressor,
                           double transform_s, std::uint64_t saturated, const HelpDone& help,
                           const CompressionChoices& choices) {
  if (choices.matrices > 0) entry["compression"] = choices.json();
  if (transform_job && (compressor || help.compressed > 0)) {
    entry["transform_s"] = transform_s;
    entry["saturated"] = saturated;
  }
  if (help.any()) entry["help"] = help.json();
  stages[kCompressors].help_s += help.compress_s;
  stages[kCompressors].helped += help.compressed;
  stages[kProducers].help_s += help.produce_s;
  stages[kProducers].helped += help.produced;
  if (compressor) stages[kCompressors].transform_s += transform_s;  // a helper's is in its help time
  stages[kCompressors].saturated += saturated;
}

nlohmann::json stage_utilisation(const StageTimes& stages, double seconds, bool transform) {
  nlohmann::json out = nlohmann::json::object();
  for (int i = 0; i < 3; ++i) {
    const StageTime& s = stages[static_cast<std::size_t>(i)];
    Use u = use_of(s, seconds);
    if (transform && i == kCompressors) {
      out["transform"] = {{"ranks", s.ranks},
                          {"busy", u.transform},
                          {"active", u.transform},
                          {"matrices", s.matrices},
                          {"saturated", s.saturated}};
      u.busy = u.compress();  // the compressors' own stage: compressing
    }
    out[kRoles[i]] = {{"ranks", s.ranks},         {"busy", u.busy},           {"wait_input", u.wait_input},
                      {"wait_slot", u.wait_slot}, {"wait_disk", u.wait_disk}, {"active", u.active()},
                      {"cpu_s", s.cpu_s},         {"matrices", s.matrices}};
    if (s.helped > 0 || s.help_s > 0) {
      out[kRoles[i]]["help"] = help_of(s, seconds);
      out[kRoles[i]]["helped"] = s.helped;
    }
  }
  return out;
}

nlohmann::json diagnose(const StageTimes& stages, const DiagnosisContext& c) {
  std::array<Use, 3> u{};
  for (std::size_t i = 0; i < 3; ++i) u[i] = use_of(stages[i], c.seconds);
  const Use& p = u[kProducers];
  const Use& z = u[kCompressors];
  const Use& w = u[kWriters];
  nlohmann::json evidence = {{"producers_busy", p.busy},
                             {"producers_wait_slot", p.wait_slot},
                             {"compressors_busy", z.busy},
                             {"compressors_wait_input", z.wait_input},
                             {"compressors_wait_slot", z.wait_slot},
                             {"writers_busy", w.busy},
                             {"writers_wait_disk", w.wait_disk},
                             {"writers_wait_input", w.wait_input}};
  if (c.transform) {
    evidence["compressors_transform"] = z.transform;
    evidence["compressors_compress"] = z.compress();
  }
  // Elastic stages: a stage named as the limit although other ranks did part of its work.
  const auto helped_note = [&](int stage) -> std::string {
    const StageTime& s = stages[static_cast<std::size_t>(stage)];
    if (s.helped == 0) return "";
    return " Other ranks helped with " + std::to_string(s.helped) + " of its matrices (" + pct(help_of(s, c.seconds)) +
           " of its ranks' time again) and it still limited the run.";
  };
  int limit = 0;
  for (int i = 1; i < 3; ++i)
    if (u[static_cast<std::size_t>(i)].active() > u[static_cast<std::size_t>(limit)].active()) limit = i;
  const double top = u[static_cast<std::size_t>(limit)].active();
  const auto now = [&](int stage) { return std::to_string(c.ranks_per_node[static_cast<std::size_t>(stage)]); };

  std::uint64_t matrices = 0;
  for (const StageTime& s : stages) matrices = std::max(matrices, s.matrices);
  if (!(c.seconds > 0) || matrices == 0 || top < kClearlyBusy) {
    const std::string most = std::string(kPlural[limit]) + " " + pct(top);
    return {{"stage", "none"},
            {"sentence", matrices == 0 ? "No matrix has gone through the pipeline yet, so no stage can be named."
                                       : "No stage was kept busy: the busiest, " + most +
                                             " of the time, was still idle for much of the run, so start-up "
                                             "and drain dominate."},
            {"suggestion", "Run more matrices (or larger ones) to measure the pipeline in steady state."},
            {"evidence", evidence}};
  }

  // A stage is worth taking ranks from when it spent most of its time waiting.
  int spare = -1;
  for (int i = 0; i < 3; ++i) {
    if (i == limit || c.ranks_per_node[static_cast<std::size_t>(i)] < 2) continue;
    const double a = u[static_cast<std::size_t>(i)].active();
    if (a < 0.5 && (spare < 0 || a < u[static_cast<std::size_t>(spare)].active())) spare = i;
  }
  const std::string from_spare = spare < 0 ? ""
                                           : " (take them from the " + std::string(kPlural[spare]) + ", busy only " +
                                                 pct(u[static_cast<std::size_t>(spare)].active()) + ")";
  const bool cores_full = c.cores > 0 && c.busy_ranks >= c.cores;

  std::string sentence, suggestion;
  // The compressors' time went mostly into the transform: it, not zstd, limited the run.
  if (limit == kCompressors && c.transform && z.transform > z.compress()) {
    sentence = "The transform limited this run: compressors were busy " + pct(z.busy) + " of the time, " +
               pct(z.transform) + " in the transform (its steps and reductions) and " + pct(z.compress()) +
               " compressing, while producers waited " + pct(p.wait_slot) + " for a free slot and writers waited " +
               pct(w.wait_input) + " for input." + helped_note(kCompressors);
    const std::string cheaper = c.matmul ? "make the chain cheaper (a matmul costs rows x cols x k multiply-adds "
                                           "per matrix: bin before it, or use a smaller operand)"
                                         : "make the chain cheaper (fewer or simpler steps)";
    if (!cores_full)
      suggestion = "Give more ranks to compression (" + std::string(kKeys[1]) + ", now " + now(1) + ")" + from_spare +
                   ": compressors run the transform; or " + cheaper + ".";
    else
      suggestion = "The node's " + std::to_string(c.cores) + " cores already run " + std::to_string(c.busy_ranks) +
                   " working ranks, so more compressors would only share them: " + cheaper +
                   ", or run on more cores (more nodes).";
    return {{"stage", "transform"}, {"sentence", sentence}, {"suggestion", suggestion}, {"evidence", evidence}};
  }
  switch (limit) {
    case kProducers:
      sentence = std::string(c.ingest ? "Reading the input" : "Producing matrices") +
                 " limited this run: producers were busy " + pct(p.busy) + " of the time while compressors waited " +
                 pct(z.wait_input) + " for input." + helped_note(kProducers);
      suggestion = c.ingest ? "Give more ranks to producers (" + std::string(kKeys[0]) + ", now " + now(0) + ")" +
                                  from_spare + " to read more files at once, or put the input on faster storage."
                            : "Give more ranks to producers (" + std::string(kKeys[0]) + ", now " + now(0) + ")" +
                                  from_spare + ".";
      break;
    case kCompressors:
      sentence = "Compression limited this run: compressors were busy " + pct(z.busy) +
                 (c.transform ? " of the time (" + pct(z.compress()) + " compressing, " + pct(z.transform) +
                                    " in the transform)"
                              : std::string(" of the time")) +
                 " while producers waited " + pct(p.wait_slot) + " for a free slot and writers waited " +
                 pct(w.wait_input) + " for input." + helped_note(kCompressors);
      // Waiting ranks sleep, so with more working ranks than cores the compressors already get
      // every cycle the others leave: more of them would only share the same cores.
      if (!cores_full)
        suggestion = "Give more ranks to compression (" + std::string(kKeys[1]) + ", now " + now(1) + ")" + from_spare +
                     ", or " + lower_level(c) + ".";
      else
        suggestion = "The node's " + std::to_string(c.cores) + " cores already run " + std::to_string(c.busy_ranks) +
                     " working ranks, so more compressors would only share them: " + lower_level(c) +
                     " or run on more cores (more nodes)" +
                     (spare >= 0 ? "; the " + std::string(kPlural[spare]) + " (busy " +
                                       pct(u[static_cast<std::size_t>(spare)].active()) +
                                       ") can give up ranks to compression when cores are added."
                                 : ".");
      break;
    default:
      sentence = "Writing limited this run: writers were busy " + pct(w.active()) + " of the time (" +
                 pct(w.wait_disk) + " inside HDF5 writes) while compressors waited " + pct(z.wait_slot) +
                 " for a free slot.";
      suggestion =
          w.wait_disk >= 0.5 * w.active()
              ? "The disk is the limit: put output_dir on faster storage, or give more ranks to writers (" +
                    std::string(kKeys[2]) + ", now " + now(2) + ")" + from_spare +
                    " so more shards are written at once; " + higher_level(c) + " writes fewer bytes."
              : "Give more ranks to writers (" + std::string(kKeys[2]) + ", now " + now(2) + ")" + from_spare + ".";
      break;
  }
  return {{"stage", kRoles[limit]}, {"sentence", sentence}, {"suggestion", suggestion}, {"evidence", evidence}};
}

}  // namespace shmjob::metrics
