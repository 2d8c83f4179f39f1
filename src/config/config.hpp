#pragma once
// The job description read from config.json. parse_config() checks everything that can be
// checked without MPI; resolve_layout() checks what depends on the number of ranks on a node.
// Both throw ConfigError with a message "config: <key>: <problem>" and create nothing.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "config/input_config.hpp"
#include "config/transform_config.hpp"
#include "shmjob/matrix_shape.hpp"

namespace shmjob {

enum class DataKind { random, smooth, poisson };
std::string_view data_kind_name(DataKind kind) noexcept;

// The "matrices" section: what a synthetic job generates.
struct MatrixSpec {
  std::uint64_t count = 0;
  MatrixShape shape;
  DataKind kind = DataKind::smooth;
  std::uint64_t seed = 0;
  friend bool operator==(const MatrixSpec&, const MatrixSpec&) = default;
};

struct StageCounts {
  // nullopt means "auto": derived from the ranks on the node (see resolve_layout).
  std::optional<int> producers, compressors, writers;
  // Ranks whose stage has nothing to do help the stage that limits the job (pipeline/elastic.hpp);
  // false keeps every rank to its own stage.
  bool elastic = true;
  friend bool operator==(const StageCounts&, const StageCounts&) = default;
};

struct SlotConfig {
  // Raw slots owned by each producer and compressed slots owned by each compressor; nullopt
  // means "auto": about 16 MiB of slots per rank, at least 4 and at most 64 (config.cpp).
  std::optional<int> per_producer, per_compressor;
  std::optional<std::uint64_t> slot_bytes;        // raw slot size; default: one matrix
  std::optional<std::uint64_t> memory_budget_mb;  // if set, slot counts derive from it
  // Not a config key: the compressed slot size the job's matrix sets need, as stored (after a
  // transform, which may shrink them), with their tiles: zstd's bound of every tile plus the size
  // table (set by the job; nullopt: derived from the config's matrices and the raw slot size).
  std::optional<std::uint64_t> compressed_slot_bytes;
  // Not a config key: bytes of the node's shared memory taken out of memory_budget_mb before the
  // slots are sized (the transform's operands, every copy; set by the job once it knows them).
  std::uint64_t reserved_bytes = 0;
  friend bool operator==(const SlotConfig&, const SlotConfig&) = default;
};

// Shape of the HDF5 chunks (tiles) a matrix is stored in. Edge tiles of a matrix whose shape
// is not a multiple are stored full size, zero padded, as HDF5 stores partial edge chunks.
struct ChunkShape {
  std::uint32_t rows = 0, cols = 0;
  friend bool operator==(const ChunkShape&, const ChunkShape&) = default;
};

// compression.level: a zstd level, or "auto" (level_auto): each node's compressors move the
// level within level_range so that they keep up with their input and no more (pipeline/
// adaptive_level.hpp), starting from `level` clamped into the range.
// compression.shuffle: true, false or "auto" (shuffle_auto): each compressor compresses sample
// matrices both ways and keeps the smaller; the datasets then declare HDF5's shuffle filter
// (`shuffle` is true) and a matrix stored unshuffled skips it through its chunks' filter mask.
struct CompressionConfig {
  int level = 3;
  bool level_auto = false;
  int level_min = 1, level_max = 19;
  bool shuffle = false;
  bool shuffle_auto = false;
  // nullopt: one chunk per matrix. Larger than a matrix of an ingest: clamped to that matrix.
  std::optional<ChunkShape> chunk;
  friend bool operator==(const CompressionConfig&, const CompressionConfig&) = default;
};

struct MetricsConfig {
  // Empty: "<job>.metrics.jsonl", so jobs sharing an output_dir keep their own logs. Relative
  // paths are inside output_dir.
  std::filesystem::path path;
  double interval_s = 1.0;
  friend bool operator==(const MetricsConfig&, const MetricsConfig&) = default;
};

// Where ranks run (see docs/placement.md).
//   pinning: automatic ("auto") binds each rank to the cores of its plan when the topology is
//            this machine and the launcher has not already bound every rank to a single core;
//            cores always binds (on this machine); none computes the plan and binds nothing.
//   work_sharing: lane_local keeps matrices inside their NUMA lane; shared lets any compressor
//            take any lane's work (a pipeline queue policy; the plan is the same for both).
enum class PinningMode { automatic, cores, none };
std::string_view pinning_mode_name(PinningMode mode) noexcept;  // "auto", "cores", "none"
enum class WorkSharing { lane_local, shared };
std::string_view work_sharing_name(WorkSharing sharing) noexcept;

struct PlacementConfig {
  PinningMode pinning = PinningMode::automatic;
  WorkSharing work_sharing = WorkSharing::lane_local;
  friend bool operator==(const PlacementConfig&, const PlacementConfig&) = default;
};

// How often each writer makes its shard durable: it writes the shard's index so far, flushes
// HDF5 (H5Fflush) and fsyncs the file (in the background) after `every_matrices` matrices
// (nullopt: no count limit) or `interval_s` seconds since its last flush, whichever comes first.
// A crash loses at most that much work: --resume keeps every matrix up to the last flush.
struct FlushConfig {
  std::optional<std::uint64_t> every_matrices;
  double interval_s = 10.0;
  friend bool operator==(const FlushConfig&, const FlushConfig&) = default;
};

// The stall watchdog: a writer or compressor with work waiting that finishes nothing for stall_s
// seconds is named on stderr and in the metrics log; for abort_s seconds, the job ends with exit
// code 3 (0: off, each).
struct WatchdogConfig {
  double stall_s = 60.0;
  double abort_s = 0.0;
  friend bool operator==(const WatchdogConfig&, const WatchdogConfig&) = default;
};

// Test-only knobs (the "testing" section): they make a run slow on purpose so tests can
// produce a known bottleneck. Never set them in production configs.
struct TestingConfig {
  int writer_delay_ms = 0;  // a writer sleeps this long after every chunk write ("slow disk")
  // Whoever produces a matrix (a producer, or a rank helping: elastic stages) sleeps this long
  // after it ("slow input").
  int producer_delay_ms = 0;
  // Splits each real node's ranks into this many pretend nodes (contiguous blocks of node
  // ranks, sizes differing by at most one), each with its own window, plan, lanes, shards and
  // sampler: runs the multi-node code path on one machine.
  int pretend_nodes = 1;
  // Only this node's writers sleep writer_delay_ms (nullopt: every node's): a slow node.
  std::optional<int> slow_node;
  friend bool operator==(const TestingConfig&, const TestingConfig&) = default;
};

// Jobs on several nodes (see docs/slurm.md, "Several nodes"): producers of every node claim blocks of
// the job's matrices from one job-wide counter; a block is the remaining matrices divided by
// twice the number of producers in the job, but at least `min_block` (smaller: finer balance
// at the end; larger: fewer claims and fewer virtual-dataset mappings in the master).
struct MultinodeConfig {
  std::uint64_t min_block = 8;
  friend bool operator==(const MultinodeConfig&, const MultinodeConfig&) = default;
};

struct Config {
  std::string job = "shmjob";
  std::filesystem::path output_dir = "out";
  bool overwrite = false;
  // Keep every intact matrix of an earlier run of this job in output_dir and write only the
  // others (into new shards), then rewrite the master over all shards. See src/resume/.
  bool resume = false;
  MatrixSpec matrices;                   // synthetic matrices (when there is no input)
  std::optional<InputConfig> input;      // HDF5 ingest: matrices read from these files
  transform::TransformConfig transform;  // operands, steps and reductions (empty: none)
  StageCounts stages;
  SlotConfig slots;
  CompressionConfig compression;
  MetricsConfig metrics;
  PlacementConfig placement;
  FlushConfig flush;
  MultinodeConfig multinode;
  WatchdogConfig watchdog;
  TestingConfig testing;

  std::filesystem::path master_path() const { return output_dir / (job + ".h5"); }
  std::filesystem::path metrics_path() const {
    if (metrics.path.empty()) return output_dir / (job + ".metrics.jsonl");
    return metrics.path.is_absolute() ? metrics.path : output_dir / metrics.path;
  }
  // Field-wise; parse_config(to_json(c)) == c.
  friend bool operator==(const Config&, const Config&) = default;
};

// Parses and validates a config document. Every key is optional except matrices.count/rows/cols.
Config parse_config(const nlohmann::json& document);
// Reads `path` (JSON) and parses it; unreadable files and syntax errors are ConfigErrors too.
Config load_config(const std::filesystem::path& path);
// The config with every default filled in, as recorded in the metrics log and the master file.
nlohmann::json to_json(const Config& config);

// What the job looks like on one node once the number of ranks there is known.
struct NodeLayout {
  int producers = 0, compressors = 0, writers = 0, idle = 0;
  int raw_slots_per_producer = 0;
  int compressed_slots_per_compressor = 0;
  std::uint64_t raw_slot_bytes = 0;         // >= one matrix
  std::uint64_t compressed_slot_bytes = 0;  // zstd's bounds of every tile plus the size table
};
NodeLayout resolve_layout(const Config& config, int node_ranks);
// The same for matrices of several sizes (an ingest): slots are sized for the largest.
NodeLayout resolve_layout(const Config& config, int node_ranks, std::uint64_t largest_matrix_bytes);

}  // namespace shmjob
