#pragma once
// The three stage loops. Each takes from one queue, works, and hands on to the next; each stops
// on its end-of-stream marker or when the node aborts, and throws on failure (the caller turns
// an exception into a node abort).
#include <optional>
#include <vector>

#include "metrics/job_records.hpp"
#include "pipeline/matrix_source.hpp"
#include "pipeline/stage_context.hpp"
#include "transform/reduction.hpp"

namespace shmjob::stages {

void run_producer(const StageContext& ctx, MatrixSource& source);
// Returns, per set, what "reduce" accumulated over the matrices it stored (empty without reduce).
std::vector<std::optional<transform::Accumulator>> run_compressor(const StageContext& ctx);
// Stores the matrices in its shard, whose index it sorts by id at the end; returns its totals.
metrics::WriterTotals run_writer(const StageContext& ctx);

}  // namespace shmjob::stages
