#include "config/config.hpp"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <memory>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/auto_stages.hpp"
#include "config/tile_grid.hpp"
#include "shmjob/error.hpp"
#include "util/utf8.hpp"

namespace shmjob {
namespace {

using nlohmann::json;

// Sanity limits: far beyond any real job, small enough that the layout arithmetic in
// resolve_layout() cannot overflow 64 bits.
constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 40;
constexpr std::uint64_t kMaxDim = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxStageRanks = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxSlots = 1024;
constexpr std::uint64_t kMaxSlotBytes = std::uint64_t{1} << 40;
constexpr std::uint64_t kMaxBudgetMb = std::uint64_t{1} << 30;
constexpr std::uint64_t kMib = std::uint64_t{1} << 20;
// HDF5 stores each matrix as one chunk and chunk sizes are 32-bit.
constexpr std::uint64_t kMaxMatrixBytes = (std::uint64_t{1} << 32) - 1;
constexpr std::size_t kMaxJobName = 64;
constexpr std::size_t kMaxConfigBytes = std::size_t{16} << 20;
constexpr double kMaxIntervalS = 3600.0;
constexpr std::string_view kAuto = "auto";
constexpr std::string_view kJobNameRule =
    "1 to 64 characters of A-Z a-z 0-9 _ . - not starting with '.'";

constexpr std::array<std::pair<DataKind, std::string_view>, 3> kKinds{{
    {DataKind::random, "random"},
    {DataKind::smooth, "smooth"},
    {DataKind::poisson, "poisson"},
}};

constexpr std::array<std::pair<PinningMode, std::string_view>, 3> kPinningModes{{
    {PinningMode::automatic, "auto"},
    {PinningMode::cores, "cores"},
    {PinningMode::none, "none"},
}};

constexpr std::array<std::pair<WorkSharing, std::string_view>, 2> kWorkSharings{{
    {WorkSharing::lane_local, "lane_local"},
    {WorkSharing::shared, "shared"},
}};

// The name of `value` in a {value, name} table, or `fallback`.
template <class T, std::size_t N>
std::string_view name_in(const std::array<std::pair<T, std::string_view>, N>& table, T value,
                         std::string_view fallback) noexcept {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return fallback;
}

// The value named `name` in a {value, name} table.
template <class T, std::size_t N>
std::optional<T> value_in(const std::array<std::pair<T, std::string_view>, N>& table,
                          std::string_view name) {
  for (const auto& [v, v_name] : table)
    if (v_name == name) return v;
  return std::nullopt;
}

template <class T, std::size_t N>
std::array<std::string_view, N> names_of(const std::array<std::pair<T, std::string_view>, N>& table) {
  std::array<std::string_view, N> names{};
  for (std::size_t i = 0; i < N; ++i) names[i] = table[i].second;
  return names;
}

// --- error reporting -----------------------------------------------------------------------

// A value as the user wrote it, kept to one short line so the error stays readable.
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

[[noreturn]] void fail(std::string_view path, const std::string& problem) {
  throw ConfigError(std::string(path) + ": " + problem);
}

[[noreturn]] void fail_got(std::string_view path, const std::string& expectation,
                           const json& got) {
  fail(path, "must be " + expectation + ", got " + show(got));
}

// --- objects -------------------------------------------------------------------------------

// A JSON object at a key path whose keys have been checked against the known ones. An absent
// section reads as empty, so every key in it takes its default.
class Section {
 public:
  Section(const json* object, std::string path, std::initializer_list<std::string_view> known)
      : object_(object), path_(std::move(path)) {
    if (object_ == nullptr) return;
    if (!object_->is_object()) {
      if (path_.empty())
        throw ConfigError("the top level must be a JSON object, got " + show(*object_));
      fail_got(path_, "an object", *object_);
    }
    for (const auto& item : object_->items())
      if (std::find(known.begin(), known.end(), item.key()) == known.end())
        throw ConfigError("unknown key \"" + join_path(path_, item.key()) + "\" (known keys: " +
                          known_list(known) + ")");
  }

  // nullptr when the key is absent.
  const json* find(std::string_view key) const {
    if (object_ == nullptr) return nullptr;
    auto it = object_->find(key);
    return it == object_->end() ? nullptr : &*it;
  }

  const json& require(std::string_view key) const {
    if (const json* value = find(key)) return *value;
    const std::string problem = "required key \"" + std::string(key) + "\" is missing";
    if (path_.empty()) throw ConfigError(problem);
    fail(path_, problem);
  }

  Section section(std::string_view key, std::initializer_list<std::string_view> known) const {
    return Section(find(key), path(key), known);
  }

  std::string path(std::string_view key) const { return join_path(path_, key); }

 private:
  static std::string known_list(std::initializer_list<std::string_view> known) {
    std::string list;
    for (auto key : known) list += (list.empty() ? "" : ", ") + std::string(key);
    return list;
  }

  const json* object_;
  std::string path_;
};

// --- scalars -------------------------------------------------------------------------------

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
std::uint64_t read_integer(const json& value, std::string_view path, IntRange range,
                           std::string_view alternative = {}) {
  const std::string alt =
      alternative.empty() ? "" : " (or " + std::string(alternative) + ")";
  const std::string between =
      "an integer between " + std::to_string(range.min) + " and " + std::to_string(range.max);
  const std::string expectation =
      (range.max_is_limit ? "an integer >= " + std::to_string(range.min) : between) + alt;

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

// Sets `out` from `key` when present; the range must fit in T.
template <class T>
void read_integer_into(const Section& section, std::string_view key, IntRange range, T& out) {
  if (const json* value = section.find(key))
    out = static_cast<T>(read_integer(*value, section.path(key), range));
}

// An integer, or the string "auto" (-> nullopt).
template <class T>
void read_auto_integer_into(const Section& section, std::string_view key, IntRange range,
                            std::optional<T>& out) {
  const json* value = section.find(key);
  if (value == nullptr) return;
  if (value->is_string() && value->get_ref<const std::string&>() == kAuto) {
    out.reset();
    return;
  }
  out = static_cast<T>(read_integer(*value, section.path(key), range, "\"auto\""));
}

void read_bool_into(const Section& section, std::string_view key, bool& out) {
  const json* value = section.find(key);
  if (value == nullptr) return;
  if (!value->is_boolean()) fail_got(section.path(key), "true or false", *value);
  out = value->get<bool>();
}

// A non-empty string; `expectation` describes any further rule for the message.
const std::string* read_string(const Section& section, std::string_view key,
                               std::string_view expectation = "a non-empty string") {
  const json* value = section.find(key);
  if (value == nullptr) return nullptr;
  if (!value->is_string() || value->get_ref<const std::string&>().empty())
    fail_got(section.path(key), std::string(expectation), *value);
  // Possible in a document built in code (shmjob ingest --out): a NUL would cut a path short
  // at the C API, and every string is recorded in the master file and the JSON metrics log.
  const std::string& text = value->get_ref<const std::string&>();
  if (text.find('\0') != std::string::npos)
    fail_got(section.path(key), std::string(expectation) + " without NUL characters", *value);
  if (!is_valid_utf8(text))
    fail_got(section.path(key), std::string(expectation) + " in valid UTF-8", *value);
  return &value->get_ref<const std::string&>();
}

// One of a fixed set of names, mapped through `lookup`.
template <class T, class Lookup, class Names>
void read_choice_into(const Section& section, std::string_view key, Lookup lookup,
                      const Names& names, T& out) {
  const json* value = section.find(key);
  if (value == nullptr) return;
  std::string expectation = "one of";
  for (std::string_view name : names) expectation += " " + std::string(name) + ",";
  expectation.pop_back();
  std::optional<T> parsed;
  if (value->is_string()) parsed = lookup(value->get_ref<const std::string&>());
  if (!parsed) fail_got(section.path(key), expectation, *value);
  out = *parsed;
}

// --- the document --------------------------------------------------------------------------

bool valid_job_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxJobName || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
  });
}

std::string describe_matrix(const MatrixSpec& m) {
  return std::to_string(m.rows) + " x " + std::to_string(m.cols) + " " +
         std::string(dtype_name(m.dtype));
}

std::optional<DataKind> parse_data_kind(std::string_view name) {
  for (const auto& [kind, kind_name] : kKinds)
    if (kind_name == name) return kind;
  return std::nullopt;
}

void parse_matrices(const Section& top, MatrixSpec& m) {
  top.require("matrices");
  const Section s = top.section("matrices", {"count", "rows", "cols", "dtype", "kind", "seed"});
  m.count = read_integer(s.require("count"), s.path("count"), {1, kMaxCount, true});
  m.rows = static_cast<std::uint32_t>(
      read_integer(s.require("rows"), s.path("rows"), {1, kMaxDim, true}));
  m.cols = static_cast<std::uint32_t>(
      read_integer(s.require("cols"), s.path("cols"), {1, kMaxDim, true}));

  // DType's enumerators are contiguous from 0 to kLastDType (see dtype.cpp's table).
  std::array<std::string_view, static_cast<std::size_t>(kLastDType) + 1> dtype_names{};
  for (std::size_t i = 0; i < dtype_names.size(); ++i)
    dtype_names[i] = dtype_name(static_cast<DType>(i));
  read_choice_into(s, "dtype", parse_dtype, dtype_names, m.dtype);

  std::array<std::string_view, kKinds.size()> kind_names{};
  for (std::size_t i = 0; i < kKinds.size(); ++i) kind_names[i] = kKinds[i].second;
  read_choice_into(s, "kind", parse_data_kind, kind_names, m.kind);

  read_integer_into(s, "seed", {0, std::numeric_limits<std::uint64_t>::max(), true}, m.seed);

  if (m.bytes() > kMaxMatrixBytes)
    fail("matrices", "one matrix is " + std::to_string(m.bytes()) + " bytes (" +
                         describe_matrix(m) + "), more than HDF5's chunk limit of " +
                         std::to_string(kMaxMatrixBytes) + " bytes");
}

void parse_slots(const Section& top, const MatrixSpec& m, SlotConfig& slots) {
  const Section s = top.section(
      "slots", {"per_producer", "per_compressor", "slot_bytes", "memory_budget_mb"});
  read_auto_integer_into(s, "per_producer", {1, kMaxSlots, false}, slots.per_producer);
  read_auto_integer_into(s, "per_compressor", {1, kMaxSlots, false}, slots.per_compressor);
  read_auto_integer_into(s, "slot_bytes", {1, kMaxSlotBytes, true}, slots.slot_bytes);
  if (const json* budget = s.find("memory_budget_mb")) {
    if (budget->is_null())
      slots.memory_budget_mb.reset();
    else
      slots.memory_budget_mb =
          read_integer(*budget, s.path("memory_budget_mb"), {1, kMaxBudgetMb, true}, "null");
  }
  if (slots.slot_bytes && *slots.slot_bytes < m.bytes())
    fail(s.path("slot_bytes"), std::to_string(*slots.slot_bytes) +
                                   " bytes cannot hold one matrix (" +
                                   std::to_string(m.bytes()) + " bytes = " + describe_matrix(m) +
                                   ")");
}

// compression.chunk: [rows, cols] of positive integers, or "matrix" (one chunk per matrix).
// A synthetic job's tiles must fit its matrices; an ingest's are clamped to each shape.
void parse_chunk(const Section& compression, const MatrixSpec* m, std::optional<ChunkShape>& chunk) {
  const json* value = compression.find("chunk");
  if (value == nullptr) return;
  const std::string path = compression.path("chunk");
  if (value->is_string() && value->get_ref<const std::string&>() == "matrix") {
    chunk.reset();
    return;
  }
  if (!value->is_array() || value->size() != 2)
    fail_got(path, "[rows, cols] or \"matrix\"", *value);
  const auto dim = [&](std::size_t i) {
    return static_cast<std::uint32_t>(
        read_integer((*value)[i], path + "[" + std::to_string(i) + "]", {1, kMaxDim, true}));
  };
  chunk = ChunkShape{dim(0), dim(1)};
  if (m == nullptr) return;
  if (chunk->rows > m->rows || chunk->cols > m->cols)
    fail(path, show(*value) + " is larger than the matrix (" + describe_matrix(*m) +
                   "); at most [" + std::to_string(m->rows) + ", " + std::to_string(m->cols) + "]");
  const TileGrid grid = tile_grid(m->rows, m->cols, chunk);
  if (grid.count() > kMaxTilesPerMatrix)
    fail(path, show(*value) + " cuts each matrix into " + std::to_string(grid.count()) +
                   " tiles, more than " + std::to_string(kMaxTilesPerMatrix) + "; use larger tiles");
}

// --- layout arithmetic ---------------------------------------------------------------------

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? std::numeric_limits<std::uint64_t>::max()
                                                : product;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<std::uint64_t>::max() : sum;
}

// Explicit counts, or the auto rule (auto_stages.hpp) over the node's ranks.
void resolve_stages(const StageCounts& stages, int n, bool reads_input, NodeLayout& layout) {
  if (n < 3)
    fail("stages", "the job needs at least 3 ranks per node (one per stage), got " +
                       std::to_string(n));
  layout.producers = stages.producers.value_or(auto_producers(n, reads_input));
  layout.writers = stages.writers.value_or(auto_writers(n));
  if (stages.compressors) {
    layout.compressors = *stages.compressors;
  } else {
    // Stage counts are <= 2^20 each, so these sums cannot overflow an int.
    layout.compressors = n - layout.producers - layout.writers;
    if (layout.compressors < 1)
      fail("stages", "producers + writers = " +
                         std::to_string(layout.producers + layout.writers) +
                         " leave no rank for the compressors on this node of " +
                         std::to_string(n) + " ranks");
  }
  const int sum = layout.producers + layout.compressors + layout.writers;
  if (sum > n)
    fail("stages", "producers + compressors + writers = " + std::to_string(sum) +
                       " exceeds the " + std::to_string(n) + " ranks on this node");
  layout.idle = n - sum;
}

// The "auto" slot count: a handful of slots for large matrices (double buffering is all they
// need), many for small ones, so a sleeping stage wakes once per batch of matrices rather than
// for each (each wake-up is a futex call and two context switches when ranks share cores: with 4
// slots of 64x64 float64, W-small ran at 0.68 and 0.70 of its compression bound, with 64 at 0.72
// and 0.75, interleaved; its CPU per matrix fell from 0.184-0.195 ms to 0.174 ms).
int auto_slot_count(std::uint64_t slot_bytes) {
  constexpr std::uint64_t kAutoSlotMemory = 16 * kMib, kFewest = 4, kMost = 64;
  return static_cast<int>(std::clamp(kAutoSlotMemory / std::max<std::uint64_t>(slot_bytes, 1), kFewest, kMost));
}

void resolve_slots(const SlotConfig& slots, std::uint64_t matrix_bytes, std::uint64_t tiled_bytes,
                   NodeLayout& layout) {
  layout.raw_slot_bytes = slots.slot_bytes.value_or(matrix_bytes);
  const std::size_t bound = ZSTD_compressBound(static_cast<std::size_t>(layout.raw_slot_bytes));
  if (ZSTD_isError(bound) != 0U)  // unreachable with kMaxSlotBytes, but never store an error code
    fail("slots.slot_bytes", std::to_string(layout.raw_slot_bytes) + " bytes is too large for zstd");
  // A compressed slot holds one frame per tile, plus a frame-size table when there are several.
  layout.compressed_slot_bytes = std::max<std::uint64_t>(bound, tiled_bytes);

  if (!slots.memory_budget_mb) {
    const int automatic = auto_slot_count(layout.raw_slot_bytes);
    layout.raw_slots_per_producer = slots.per_producer.value_or(automatic);
    layout.compressed_slots_per_compressor = slots.per_compressor.value_or(automatic);
    return;
  }
  // One "slot set" = one raw slot per producer + one compressed slot per compressor; the
  // budget buys k of them and every stage gets k slots.
  const std::uint64_t set_bytes = saturating_add(
      saturating_mul(static_cast<std::uint64_t>(layout.producers), layout.raw_slot_bytes),
      saturating_mul(static_cast<std::uint64_t>(layout.compressors),
                     layout.compressed_slot_bytes));
  const std::uint64_t budget_bytes = *slots.memory_budget_mb * kMib;
  const std::uint64_t k = std::min(budget_bytes / set_bytes, kMaxSlots);
  if (k < 1) {
    const std::uint64_t needed_mb = set_bytes / kMib + (set_bytes % kMib != 0 ? 1 : 0);
    fail("slots.memory_budget_mb",
         std::to_string(*slots.memory_budget_mb) +
             " MB cannot hold one slot per producer and compressor (needs at least " +
             std::to_string(needed_mb) + " MB for " + std::to_string(layout.producers) +
             " producers and " + std::to_string(layout.compressors) + " compressors)");
  }
  layout.raw_slots_per_producer = static_cast<int>(k);
  layout.compressed_slots_per_compressor = static_cast<int>(k);
}

void parse_placement(const Section& top, PlacementConfig& placement) {
  const Section s = top.section("placement", {"pinning", "work_sharing"});
  read_choice_into(
      s, "pinning", [](std::string_view name) { return value_in(kPinningModes, name); },
      names_of(kPinningModes), placement.pinning);
  read_choice_into(
      s, "work_sharing", [](std::string_view name) { return value_in(kWorkSharings, name); },
      names_of(kWorkSharings), placement.work_sharing);
}

// A number of seconds in (0, kMaxIntervalS]; the negated test also rejects NaN, which a
// document built in code can hold.
double read_interval(const json& value, std::string_view path) {
  if (!value.is_number() || !(value.get<double>() > 0.0 && value.get<double>() <= kMaxIntervalS))
    fail_got(path, "a number of seconds > 0 and <= 3600", value);
  return value.get<double>();
}

void parse_flush(const Section& top, FlushConfig& flush) {
  const Section s = top.section("flush", {"every_matrices", "interval_s"});
  if (const json* every = s.find("every_matrices")) {
    if (every->is_null())
      flush.every_matrices.reset();
    else
      flush.every_matrices = read_integer(*every, s.path("every_matrices"), {1, kMaxCount, true}, "null");
  }
  if (const json* interval = s.find("interval_s")) flush.interval_s = read_interval(*interval, s.path("interval_s"));
}

json auto_or(const std::optional<int>& value) {
  return value ? json(*value) : json(kAuto);
}

// Rules nlohmann's parser does not enforce, checked while it parses (its callback sees every
// key and the depth): a key given twice in one object is an error (nlohmann would silently keep
// the last one, so the job would not be the one the user reads), and so is nesting deeper than
// any config needs (error messages print values, and printing is recursive).
class StrictObjects {
 public:
  explicit StrictObjects(std::string name) : name_(std::move(name)) {}

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxDepth)
      throw ConfigError(name_ + " is nested deeper than " + std::to_string(kMaxDepth) +
                        " levels (under \"" + dotted() + "\")");
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: open_.emplace_back(); break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end: open_.pop_back(); break;
      case json::parse_event_t::key: {
        Open& object = open_.back();
        object.key = parsed.get<std::string>();
        if (!object.keys.insert(object.key).second)
          throw ConfigError("duplicate key \"" + dotted() + "\" in " + name_ +
                            " (each key may appear once per object)");
        break;
      }
      case json::parse_event_t::value: break;
    }
    return true;
  }

 private:
  static constexpr int kMaxDepth = 32;
  struct Open {
    std::string key;  // the key being read in this object (empty in an array)
    std::set<std::string> keys;
  };

  // The keys leading to the current position, "matrices.count".
  std::string dotted() const {
    std::string text;
    for (const Open& o : open_)
      if (!o.key.empty()) text += (text.empty() ? "" : ".") + o.key;
    return text;
  }

  std::string name_;
  std::vector<Open> open_;
};

}  // namespace

std::string_view data_kind_name(DataKind kind) noexcept {
  for (const auto& [k, name] : kKinds)
    if (k == kind) return name;
  return "unknown";
}

std::string_view pinning_mode_name(PinningMode mode) noexcept {
  return name_in(kPinningModes, mode, "unknown");
}

std::string_view work_sharing_name(WorkSharing sharing) noexcept {
  return name_in(kWorkSharings, sharing, "unknown");
}

Config parse_config(const json& document) {
  const Section top(&document, "",
                    {"job", "output_dir", "overwrite", "resume", "matrices", "input", "stages",
                     "slots", "compression", "metrics", "placement", "flush", "multinode", "watchdog",
                     "testing"});
  Config c;
  if (const std::string* job = read_string(top, "job", kJobNameRule)) {
    if (!valid_job_name(*job)) fail_got("job", std::string(kJobNameRule), *top.find("job"));
    c.job = *job;
  }
  if (const std::string* dir = read_string(top, "output_dir")) c.output_dir = *dir;
  read_bool_into(top, "overwrite", c.overwrite);
  read_bool_into(top, "resume", c.resume);

  // Matrices are either generated ("matrices") or read ("input"): exactly one of the two.
  if (const json* input = top.find("input")) {
    if (top.find("matrices"))
      fail("matrices", "not allowed together with \"input\" (shapes and count come from the input files)");
    c.input = parse_input_config(*input);
  } else {
    parse_matrices(top, c.matrices);
  }

  const Section stages = top.section("stages", {"producers", "compressors", "writers"});
  const IntRange stage_range{1, kMaxStageRanks, true};
  read_auto_integer_into(stages, "producers", stage_range, c.stages.producers);
  read_auto_integer_into(stages, "compressors", stage_range, c.stages.compressors);
  read_auto_integer_into(stages, "writers", stage_range, c.stages.writers);

  parse_slots(top, c.input ? MatrixSpec{} : c.matrices, c.slots);

  const Section compression = top.section("compression", {"level", "shuffle", "chunk"});
  read_integer_into(compression, "level",
                    {1, static_cast<std::uint64_t>(ZSTD_maxCLevel()), false},
                    c.compression.level);
  read_bool_into(compression, "shuffle", c.compression.shuffle);
  parse_chunk(compression, c.input ? nullptr : &c.matrices, c.compression.chunk);

  const Section watchdog = top.section("watchdog", {"stall_s", "abort_s"});
  for (const auto& [key, out] : {std::pair{"stall_s", &c.watchdog.stall_s}, std::pair{"abort_s", &c.watchdog.abort_s}})
    if (const json* seconds = watchdog.find(key)) {
      if (!seconds->is_number() || !(seconds->get<double>() >= 0.0 && seconds->get<double>() <= 86400.0))
        fail_got(watchdog.path(key), "a number of seconds >= 0 and <= 86400 (0: off)", *seconds);
      *out = seconds->get<double>();
    }
  const Section metrics = top.section("metrics", {"path", "interval_s"});
  if (const std::string* path = read_string(metrics, "path")) c.metrics.path = *path;
  if (const json* interval = metrics.find("interval_s"))
    c.metrics.interval_s = read_interval(*interval, metrics.path("interval_s"));
  parse_placement(top, c.placement);
  parse_flush(top, c.flush);
  const Section multinode = top.section("multinode", {"min_block"});
  read_integer_into(multinode, "min_block", {1, std::uint64_t{1} << 30, false}, c.multinode.min_block);
  const Section testing = top.section("testing", {"writer_delay_ms", "pretend_nodes", "slow_node"});
  read_integer_into(testing, "writer_delay_ms", {0, 60000, false}, c.testing.writer_delay_ms);
  read_integer_into(testing, "pretend_nodes", {1, 64, false}, c.testing.pretend_nodes);
  if (testing.find("slow_node")) {
    int node = 0;
    read_integer_into(testing, "slow_node", {0, 63, false}, node);
    c.testing.slow_node = node;
  }
  return c;
}

Config load_config(const std::filesystem::path& path) {
  const std::string name = "\"" + path.string() + "\"";
  const auto cannot_read = [&](int error) {
    throw ConfigError("cannot read " + name + ": " +
                      std::error_code(error, std::generic_category()).message());
  };

  // stdio rather than iostreams: errno is reliably set, so the message can say why.
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                              &std::fclose);
  if (!file) cannot_read(errno);
  std::string text;
  std::array<char, 1 << 16> buffer{};
  std::size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    text.append(buffer.data(), got);
    // A bound, so /dev/zero or a runaway generator behind <(...) cannot eat the memory.
    if (text.size() > kMaxConfigBytes)
      throw ConfigError(name + " is larger than " + std::to_string(kMaxConfigBytes >> 20) +
                        " MiB; a job config is a few hundred bytes");
  }
  if (std::ferror(file.get()) != 0) cannot_read(errno);  // e.g. EISDIR for a directory
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw ConfigError(name + " is not valid JSON: the file is empty");

  json document;
  try {
    document = json::parse(text, StrictObjects(name));
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number beyond a double ("1e400", found by fuzzing).
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep "parse error at line..".
    std::string message = e.what();
    if (auto tag_end = message.find("] "); message.starts_with("[json.exception.") &&
                                           tag_end != std::string::npos)
      message.erase(0, tag_end + 2);
    std::replace(message.begin(), message.end(), '\n', ' ');
    throw ConfigError(name + " is not valid JSON: " + message);
  }
  return parse_config(document);
}

json to_json(const Config& c) {
  const MatrixSpec& m = c.matrices;
  json document = {
      {"job", c.job},
      {"output_dir", c.output_dir.string()},
      {"overwrite", c.overwrite},
      {"resume", c.resume},
      {"matrices",
       {{"count", m.count},
        {"rows", m.rows},
        {"cols", m.cols},
        {"dtype", dtype_name(m.dtype)},
        {"kind", data_kind_name(m.kind)},
        {"seed", m.seed}}},
      {"stages",
       {{"producers", auto_or(c.stages.producers)},
        {"compressors", auto_or(c.stages.compressors)},
        {"writers", auto_or(c.stages.writers)}}},
      {"slots",
       {{"per_producer", auto_or(c.slots.per_producer)},
        {"per_compressor", auto_or(c.slots.per_compressor)},
        {"slot_bytes", c.slots.slot_bytes ? json(*c.slots.slot_bytes) : json(kAuto)},
        {"memory_budget_mb",
         c.slots.memory_budget_mb ? json(*c.slots.memory_budget_mb) : json(nullptr)}}},
      {"compression", {{"level", c.compression.level}, {"shuffle", c.compression.shuffle}}},
      {"metrics", {{"interval_s", c.metrics.interval_s}}},
      {"placement",
       {{"pinning", pinning_mode_name(c.placement.pinning)},
        {"work_sharing", work_sharing_name(c.placement.work_sharing)}}},
      {"flush",
       {{"every_matrices", c.flush.every_matrices ? json(*c.flush.every_matrices) : json(nullptr)},
        {"interval_s", c.flush.interval_s}}},
      {"multinode", {{"min_block", c.multinode.min_block}}},
      {"watchdog", {{"stall_s", c.watchdog.stall_s}, {"abort_s", c.watchdog.abort_s}}},
  };
  if (!c.metrics.path.empty()) document["metrics"]["path"] = c.metrics.path.string();  // else per job
  // Written only when set, so configs of untiled jobs read as before.
  if (c.compression.chunk)
    document["compression"]["chunk"] = {c.compression.chunk->rows, c.compression.chunk->cols};
  if (c.testing != TestingConfig{}) {  // test-only: recorded only when used
    document["testing"] = {{"writer_delay_ms", c.testing.writer_delay_ms},
                           {"pretend_nodes", c.testing.pretend_nodes}};
    if (c.testing.slow_node) document["testing"]["slow_node"] = *c.testing.slow_node;
  }
  if (c.input) {
    document.erase("matrices");
    document["input"] = to_json(*c.input);
  }
  return document;
}

NodeLayout resolve_layout(const Config& config, int node_ranks) {
  return resolve_layout(config, node_ranks, config.matrices.bytes());
}

NodeLayout resolve_layout(const Config& config, int node_ranks, std::uint64_t largest_matrix_bytes) {
  if (largest_matrix_bytes > kMaxMatrixBytes)
    fail("input", "a matrix of " + std::to_string(largest_matrix_bytes) +
                      " bytes exceeds HDF5's chunk limit of " + std::to_string(kMaxMatrixBytes) + " bytes");
  if (config.slots.slot_bytes && *config.slots.slot_bytes < largest_matrix_bytes)
    fail("slots.slot_bytes", std::to_string(*config.slots.slot_bytes) +
                                 " bytes cannot hold the largest matrix (" +
                                 std::to_string(largest_matrix_bytes) + " bytes)");
  NodeLayout layout;
  resolve_stages(config.stages, node_ranks, config.input.has_value(), layout);
  // Tiles are stored full size (edge tiles padded), which can need more than the matrix's bound.
  std::uint64_t tiled_bytes = config.slots.compressed_slot_bytes.value_or(0);
  if (!config.input && config.matrices.rows > 0)
    tiled_bytes = std::max(tiled_bytes,
                           packed_tiles_capacity(tile_grid(config.matrices.rows, config.matrices.cols,
                                                           config.compression.chunk),
                                                 dtype_size(config.matrices.dtype)));
  resolve_slots(config.slots, largest_matrix_bytes, tiled_bytes, layout);
  return layout;
}

}  // namespace shmjob
