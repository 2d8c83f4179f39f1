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
#include "config/json_fields.hpp"
#include "config/tile_grid.hpp"
#include "shmjob/error.hpp"
#include "util/utf8.hpp"

namespace shmjob {
namespace {

using nlohmann::json;
using namespace json_fields;

// Sanity limits: far beyond any real job, small enough that the layout arithmetic in
// resolve_layout() cannot overflow 64 bits.
constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 40;
constexpr std::uint64_t kMaxDim = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxStageRanks = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxSlots = 1024;
constexpr std::uint64_t kMaxSlotBytes = std::uint64_t{1} << 40;
constexpr std::uint64_t kMaxBudgetMb = std::uint64_t{1} << 30;
constexpr std::uint64_t kMib = std::uint64_t{1} << 20;
constexpr std::size_t kMaxJobName = 64;
constexpr std::size_t kMaxConfigBytes = std::size_t{16} << 20;
constexpr double kMaxIntervalS = 3600.0;
constexpr std::string_view kJobNameRule = "1 to 64 characters of A-Z a-z 0-9 _ . - not starting with '.'";

constexpr NameTable<DataKind, 3> kKinds{{
    {DataKind::random, "random"},
    {DataKind::smooth, "smooth"},
    {DataKind::poisson, "poisson"},
}};

constexpr NameTable<PinningMode, 3> kPinningModes{{
    {PinningMode::automatic, "auto"},
    {PinningMode::cores, "cores"},
    {PinningMode::none, "none"},
}};

constexpr NameTable<WorkSharing, 2> kWorkSharings{{
    {WorkSharing::lane_local, "lane_local"},
    {WorkSharing::shared, "shared"},
}};

// --- the document --------------------------------------------------------------------------

bool valid_job_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxJobName || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

std::string describe_matrix(const MatrixSpec& m) {
  return std::to_string(m.shape.rows) + " x " + std::to_string(m.shape.cols) + " " +
         std::string(dtype_name(m.shape.dtype));
}

void parse_matrices(const Section& top, MatrixSpec& m) {
  top.require("matrices");
  const Section s = top.section("matrices", {"count", "rows", "cols", "dtype", "kind", "seed"});
  m.count = read_integer(s.require("count"), s.path("count"), {1, kMaxCount, true});
  m.shape.rows = static_cast<std::uint32_t>(read_integer(s.require("rows"), s.path("rows"), {1, kMaxDim, true}));
  m.shape.cols = static_cast<std::uint32_t>(read_integer(s.require("cols"), s.path("cols"), {1, kMaxDim, true}));

  read_dtype_into(s, "dtype", m.shape.dtype);
  read_choice_into(s, "kind", kKinds, m.kind);

  read_integer_into(s, "seed", {0, std::numeric_limits<std::uint64_t>::max(), true}, m.seed);

  if (m.shape.bytes() > kMaxChunkBytes)
    fail("matrices", "one matrix is " + std::to_string(m.shape.bytes()) + " bytes (" + describe_matrix(m) +
                         "), more than HDF5's chunk limit of " + std::to_string(kMaxChunkBytes) + " bytes");
}

void parse_slots(const Section& top, const MatrixSpec& m, SlotConfig& slots) {
  const Section s = top.section("slots", {"per_producer", "per_compressor", "slot_bytes", "memory_budget_mb"});
  read_auto_integer_into(s, "per_producer", {1, kMaxSlots, false}, slots.per_producer);
  read_auto_integer_into(s, "per_compressor", {1, kMaxSlots, false}, slots.per_compressor);
  read_auto_integer_into(s, "slot_bytes", {1, kMaxSlotBytes, true}, slots.slot_bytes);
  if (const json* budget = s.find("memory_budget_mb")) {
    if (budget->is_null())
      slots.memory_budget_mb.reset();
    else
      slots.memory_budget_mb = read_integer(*budget, s.path("memory_budget_mb"), {1, kMaxBudgetMb, true}, "null");
  }
  if (slots.slot_bytes && *slots.slot_bytes < m.shape.bytes())
    fail(s.path("slot_bytes"), std::to_string(*slots.slot_bytes) + " bytes cannot hold one matrix (" +
                                   std::to_string(m.shape.bytes()) + " bytes = " + describe_matrix(m) + ")");
}

// compression.level (1 ... zstd's maximum, or "auto"), compression.level_range ([min, max],
// only with "auto") and compression.shuffle (true, false or "auto").
void parse_compression_choices(const Section& compression, CompressionConfig& c) {
  const IntRange levels{1, static_cast<std::uint64_t>(ZSTD_maxCLevel()), false};
  std::optional<int> level = c.level;
  read_auto_integer_into(compression, "level", levels, level);  // "auto": nullopt
  c.level_auto = !level;
  if (level) c.level = *level;
  if (const json* range = compression.find("level_range")) {
    const std::string path = compression.path("level_range");
    if (!c.level_auto) fail(path, "applies only with \"level\": \"auto\"");
    if (!range->is_array() || range->size() != 2) fail_got(path, "[lowest, highest] levels", *range);
    c.level_min = static_cast<int>(read_integer((*range)[0], item_path(path, 0), levels));
    c.level_max = static_cast<int>(read_integer((*range)[1], item_path(path, 1), levels));
    if (c.level_min > c.level_max) fail_got(path, "[lowest, highest] with lowest <= highest", *range);
  }
  if (c.level_auto) c.level = std::clamp(c.level, c.level_min, c.level_max);
  if (const json* shuffle = compression.find("shuffle")) {
    if (shuffle->is_string() && shuffle->get_ref<const std::string&>() == kAuto) {
      c.shuffle = c.shuffle_auto = true;
    } else if (shuffle->is_boolean()) {
      c.shuffle = shuffle->get<bool>();
    } else {
      fail_got(compression.path("shuffle"), "true, false or \"auto\"", *shuffle);
    }
  }
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
  if (!value->is_array() || value->size() != 2) fail_got(path, "[rows, cols] or \"matrix\"", *value);
  const auto dim = [&](std::size_t i) {
    return static_cast<std::uint32_t>(read_integer((*value)[i], item_path(path, i), {1, kMaxDim, true}));
  };
  chunk = ChunkShape{dim(0), dim(1)};
  if (m == nullptr) return;
  if (chunk->rows > m->shape.rows || chunk->cols > m->shape.cols)
    fail(path, show(*value) + " is larger than the matrix (" + describe_matrix(*m) + "); at most [" +
                   std::to_string(m->shape.rows) + ", " + std::to_string(m->shape.cols) + "]");
  const TileGrid grid = tile_grid(m->shape.rows, m->shape.cols, chunk);
  if (grid.count() > kMaxTilesPerMatrix)
    fail(path, show(*value) + " cuts each matrix into " + std::to_string(grid.count()) + " tiles, more than " +
                   std::to_string(kMaxTilesPerMatrix) + "; use larger tiles");
}

// --- layout arithmetic ---------------------------------------------------------------------

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? std::numeric_limits<std::uint64_t>::max() : product;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<std::uint64_t>::max() : sum;
}

// Explicit counts, or the auto rule (auto_stages.hpp) over the node's ranks.
void resolve_stages(const StageCounts& stages, int n, bool reads_input, NodeLayout& layout) {
  if (n < 3) fail("stages", "the job needs at least 3 ranks per node (one per stage), got " + std::to_string(n));
  layout.producers = stages.producers.value_or(auto_producers(n, reads_input));
  layout.writers = stages.writers.value_or(auto_writers(n));
  if (stages.compressors) {
    layout.compressors = *stages.compressors;
  } else {
    // Stage counts are <= 2^20 each, so these sums cannot overflow an int.
    layout.compressors = n - layout.producers - layout.writers;
    if (layout.compressors < 1)
      fail("stages", "producers + writers = " + std::to_string(layout.producers + layout.writers) +
                         " leave no rank for the compressors on this node of " + std::to_string(n) + " ranks");
  }
  const int sum = layout.producers + layout.compressors + layout.writers;
  if (sum > n)
    fail("stages", "producers + compressors + writers = " + std::to_string(sum) + " exceeds the " + std::to_string(n) +
                       " ranks on this node");
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

// `helpers`: ranks of other stages that may borrow a compressed slot to compress in (elastic
// stages, one slot each at a time).
void resolve_slots(const SlotConfig& slots, std::uint64_t matrix_bytes, std::uint64_t tiled_bytes, int helpers,
                   NodeLayout& layout) {
  layout.raw_slot_bytes = slots.slot_bytes.value_or(matrix_bytes);
  // A compressed slot holds one frame per tile, plus a frame-size table when there are several.
  if (slots.compressed_slot_bytes) {
    // What the job's stored matrices need: a transform that bins or casts down needs less than
    // the raw slot's bound.
    layout.compressed_slot_bytes = *slots.compressed_slot_bytes;
  } else {
    const std::size_t bound = ZSTD_compressBound(static_cast<std::size_t>(layout.raw_slot_bytes));
    if (ZSTD_isError(bound) != 0U)  // unreachable with kMaxSlotBytes, but never store an error code
      fail("slots.slot_bytes", std::to_string(layout.raw_slot_bytes) + " bytes is too large for zstd");
    layout.compressed_slot_bytes = std::max<std::uint64_t>(bound, tiled_bytes);
  }

  if (!slots.memory_budget_mb) {
    const int automatic = auto_slot_count(layout.raw_slot_bytes);
    layout.raw_slots_per_producer = slots.per_producer.value_or(automatic);
    // A helper compressing holds a borrowed slot, and frames wait in a writer's inbox while that
    // writer helps: without slots for them, the compressors would wait for slots instead (3/1/1
    // with 4 slots: 0.75 of 1/2/1).
    const int compressors = std::max(layout.compressors, 1);
    layout.compressed_slots_per_compressor =
        slots.per_compressor.value_or(automatic + (helpers + compressors - 1) / compressors);
    return;
  }
  // One "slot set" = one raw slot per producer + one compressed slot per compressor; the
  // budget buys k of them and every stage gets k slots.
  const std::uint64_t set_bytes =
      saturating_add(saturating_mul(static_cast<std::uint64_t>(layout.producers), layout.raw_slot_bytes),
                     saturating_mul(static_cast<std::uint64_t>(layout.compressors), layout.compressed_slot_bytes));
  const auto mb_up = [](std::uint64_t bytes) { return bytes / kMib + (bytes % kMib != 0 ? 1 : 0); };
  // The operands share the node's memory with the slots: the budget is what is left of it.
  const std::uint64_t whole_budget = *slots.memory_budget_mb * kMib;
  if (slots.reserved_bytes >= whole_budget)
    fail("slots.memory_budget_mb",
         std::to_string(*slots.memory_budget_mb) + " MB cannot hold the transform's operands alone (" +
             std::to_string(slots.reserved_bytes) + " bytes, " + std::to_string(mb_up(slots.reserved_bytes)) +
             " MB, on this node with every copy) and the slots: raise it, or keep one copy "
             "of each operand per node (\"replicate\": \"node\")");
  const std::uint64_t budget_bytes = whole_budget - slots.reserved_bytes;
  const std::uint64_t k = std::min(budget_bytes / set_bytes, kMaxSlots);
  if (k < 1) {
    const std::string after_operands =
        slots.reserved_bytes > 0
            ? ", after the transform's operands took " + std::to_string(mb_up(slots.reserved_bytes)) + " MB of it"
            : "";
    fail("slots.memory_budget_mb", std::to_string(*slots.memory_budget_mb) +
                                       " MB cannot hold one slot per producer and compressor (needs at least " +
                                       std::to_string(mb_up(set_bytes)) + " MB for " +
                                       std::to_string(layout.producers) + " producers and " +
                                       std::to_string(layout.compressors) + " compressors" + after_operands + ")");
  }
  layout.raw_slots_per_producer = static_cast<int>(k);
  layout.compressed_slots_per_compressor = static_cast<int>(k);
}

void parse_placement(const Section& top, PlacementConfig& placement) {
  const Section s = top.section("placement", {"pinning", "work_sharing"});
  read_choice_into(s, "pinning", kPinningModes, placement.pinning);
  read_choice_into(s, "work_sharing", kWorkSharings, placement.work_sharing);
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

json auto_or(const std::optional<int>& value) { return value ? json(*value) : json(kAuto); }

// Rules nlohmann's parser does not enforce, checked while it parses (its callback sees every
// key and the depth): a key given twice in one object is an error (nlohmann would silently keep
// the last one, so the job would not be the one the user reads), and so is nesting deeper than
// any config needs (error messages print values, and printing is recursive).
class StrictObjects {
 public:
  explicit StrictObjects(std::string name) : name_(std::move(name)) {}

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxDepth)
      throw ConfigError(name_ + " is nested deeper than " + std::to_string(kMaxDepth) + " levels (under \"" + dotted() +
                        "\")");
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        open_.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        open_.pop_back();
        break;
      case json::parse_event_t::key: {
        Open& object = open_.back();
        object.key = parsed.get<std::string>();
        if (!object.keys.insert(object.key).second)
          throw ConfigError("duplicate key \"" + dotted() + "\" in " + name_ +
                            " (each key may appear once per object)");
        break;
      }
      case json::parse_event_t::value:
        break;
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

std::string_view data_kind_name(DataKind kind) noexcept { return name_in(kKinds, kind, "unknown"); }

std::string_view pinning_mode_name(PinningMode mode) noexcept { return name_in(kPinningModes, mode, "unknown"); }

std::string_view work_sharing_name(WorkSharing sharing) noexcept { return name_in(kWorkSharings, sharing, "unknown"); }

Config parse_config(const json& document) {
  const Section top(
      &document, "",
      {"job", "output_dir", "overwrite", "resume", "matrices", "input", "stages", "slots", "compression", "metrics",
       "placement", "flush", "multinode", "watchdog", "testing", "operands", "transform", "reduce"});
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

  c.transform = transform::parse_transform_config(top.find("operands"), top.find("transform"), top.find("reduce"));

  const Section stages = top.section("stages", {"producers", "compressors", "writers", "elastic"});
  const IntRange stage_range{1, kMaxStageRanks, true};
  read_auto_integer_into(stages, "producers", stage_range, c.stages.producers);
  read_auto_integer_into(stages, "compressors", stage_range, c.stages.compressors);
  read_auto_integer_into(stages, "writers", stage_range, c.stages.writers);
  read_bool_into(stages, "elastic", c.stages.elastic);

  parse_slots(top, c.input ? MatrixSpec{} : c.matrices, c.slots);

  const Section compression = top.section("compression", {"level", "level_range", "shuffle", "chunk"});
  parse_compression_choices(compression, c.compression);
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
  const Section testing =
      top.section("testing", {"writer_delay_ms", "producer_delay_ms", "pretend_nodes", "slow_node"});
  read_integer_into(testing, "writer_delay_ms", {0, 60000, false}, c.testing.writer_delay_ms);
  read_integer_into(testing, "producer_delay_ms", {0, 60000, false}, c.testing.producer_delay_ms);
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
    throw ConfigError("cannot read " + name + ": " + std::error_code(error, std::generic_category()).message());
  };

  // stdio rather than iostreams: errno is reliably set, so the message can say why.
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
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
    if (auto tag_end = message.find("] "); message.starts_with("[json.exception.") && tag_end != std::string::npos)
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
        {"rows", m.shape.rows},
        {"cols", m.shape.cols},
        {"dtype", dtype_name(m.shape.dtype)},
        {"kind", data_kind_name(m.kind)},
        {"seed", m.seed}}},
      {"stages",
       {{"producers", auto_or(c.stages.producers)},
        {"compressors", auto_or(c.stages.compressors)},
        {"writers", auto_or(c.stages.writers)},
        {"elastic", c.stages.elastic}}},
      {"slots",
       {{"per_producer", auto_or(c.slots.per_producer)},
        {"per_compressor", auto_or(c.slots.per_compressor)},
        {"slot_bytes", c.slots.slot_bytes ? json(*c.slots.slot_bytes) : json(kAuto)},
        {"memory_budget_mb", c.slots.memory_budget_mb ? json(*c.slots.memory_budget_mb) : json(nullptr)}}},
      {"compression",
       {{"level", c.compression.level_auto ? json(kAuto) : json(c.compression.level)},
        {"shuffle", c.compression.shuffle_auto ? json(kAuto) : json(c.compression.shuffle)}}},
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
  if (c.compression.chunk) document["compression"]["chunk"] = {c.compression.chunk->rows, c.compression.chunk->cols};
  if (c.compression.level_auto)
    document["compression"]["level_range"] = {c.compression.level_min, c.compression.level_max};
  if (c.testing != TestingConfig{}) {  // test-only: recorded only when used
    document["testing"] = {{"writer_delay_ms", c.testing.writer_delay_ms},
                           {"producer_delay_ms", c.testing.producer_delay_ms},
                           {"pretend_nodes", c.testing.pretend_nodes}};
    if (c.testing.slow_node) document["testing"]["slow_node"] = *c.testing.slow_node;
  }
  if (!c.transform.empty()) transform::write_transform_config(c.transform, document);  // else as before
  if (c.input) {
    document.erase("matrices");
    document["input"] = to_json(*c.input);
  }
  return document;
}

NodeLayout resolve_layout(const Config& config, int node_ranks) {
  return resolve_layout(config, node_ranks, config.matrices.shape.bytes());
}

NodeLayout resolve_layout(const Config& config, int node_ranks, std::uint64_t largest_matrix_bytes) {
  if (largest_matrix_bytes > kMaxChunkBytes)
    fail("input", "a matrix of " + std::to_string(largest_matrix_bytes) + " bytes exceeds HDF5's chunk limit of " +
                      std::to_string(kMaxChunkBytes) + " bytes");
  if (config.slots.slot_bytes && *config.slots.slot_bytes < largest_matrix_bytes)
    fail("slots.slot_bytes", std::to_string(*config.slots.slot_bytes) + " bytes cannot hold the largest matrix (" +
                                 std::to_string(largest_matrix_bytes) + " bytes)");
  NodeLayout layout;
  resolve_stages(config.stages, node_ranks, config.input.has_value(), layout);
  // Tiles are stored full size (edge tiles padded), which can need more than the matrix's bound.
  std::uint64_t tiled_bytes = config.slots.compressed_slot_bytes.value_or(0);
  if (!config.input && config.matrices.shape.rows > 0)
    tiled_bytes = std::max(
        tiled_bytes, packed_tiles_capacity(
                         tile_grid(config.matrices.shape.rows, config.matrices.shape.cols, config.compression.chunk),
                         dtype_size(config.matrices.shape.dtype)));
  resolve_slots(config.slots, largest_matrix_bytes, tiled_bytes,
                config.stages.elastic ? layout.producers + layout.writers : 0, layout);
  return layout;
}

}  // namespace shmjob
