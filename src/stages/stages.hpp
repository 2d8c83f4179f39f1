#pragma once
// The three stage loops. Each takes from one queue, works, and hands on to the next; each stops
// on its end-of-stream marker or when the node aborts, and throws on failure (the caller turns
// an exception into a node abort).
#include <vector>

#include "shmjob/index_row.hpp"
#include "stages/matrix_source.hpp"
#include "stages/stage_context.hpp"

namespace shmjob::stages {

void run_producer(const StageContext& ctx, MatrixSource& source);
void run_compressor(const StageContext& ctx);
// Returns the index rows of the shard it wrote (sorted by id).
std::vector<IndexRow> run_writer(const StageContext& ctx);

}  // namespace shmjob::stages
