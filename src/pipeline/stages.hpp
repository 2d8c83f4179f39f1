#pragma once
// The three stage loops. Each takes from one queue, works, and hands on to the next; each stops
// on its end-of-stream marker or when the node aborts, and throws on failure (the caller turns
// an exception into a node abort).
#include <optional>
#include <vector>

#include "metrics/job_records.hpp"
#include "pipeline/compression_work.hpp"
#include "pipeline/elastic.hpp"
#include "pipeline/matrix_source.hpp"
#include "pipeline/stage_context.hpp"
#include "transform/reduction.hpp"

namespace shmjob::stages {

// Each loop may help another stage through `helper` where its own has nothing to do
// (elastic.hpp); the compressions it does (as a compressor or a helper) go through the helper's
// CompressionWork, which keeps the reductions.
void run_producer(const StageContext& ctx, MatrixSource& source, Helper& helper);
void run_compressor(const StageContext& ctx, Helper& helper, CompressionWork& work);
// Stores the matrices in its shard, whose index it sorts by id at the end; returns its totals.
metrics::WriterTotals run_writer(const StageContext& ctx, Helper& helper);

}  // namespace shmjob::stages
