#pragma once
// What an earlier run of a job left in its output directory, and what a resumed run still has to
// write. Resume trusts nothing but what it can check: every index row it finds (in the master if
// there is one, and in every shard's own index, which writers flush periodically) is kept only
// if the shard holds that matrix intact (ShardReader::problem_with). Shards that cannot be opened, and
// rows that fail the check, are ignored; their ids are written again, into new shards.
#include <cstdint>
#include <string>
#include <vector>

#include "h5/master_writer.hpp"
#include "shmjob/config.hpp"
#include "shmjob/index_row.hpp"
#include "shmjob/matrix_set.hpp"
#include "stages/work_order.hpp"

namespace shmjob::resume {

struct PriorOutput {
  std::vector<IndexRow> kept;          // intact matrices, sorted by id, one per id
  std::vector<h5::ShardInfo> shards;   // the earlier shards holding kept matrices
  std::uint32_t next_shard = 0;        // above every shard file of the job in the directory
  bool found_any = false;              // a master or a shard of this job was there
  bool master_complete = false;        // the master says "complete"
  std::vector<std::string> ignored;    // "<file>: <why>" for files or rows not used
  std::uint64_t rejected_rows = 0;     // index rows whose matrix was not intact
};

// Scans config.output_dir for this job's master and shards (one process; reads and
// decompresses every matrix it keeps). Throws OutputPathError(kExitBadInput) if they were
// written by a job with another config (job_identity.hpp).
PriorOutput scan_prior_output(const Config& config, const std::vector<MatrixSet>& sets);

// Per set: the ids not in `kept` (sorted by id), as sorted runs.
std::vector<std::vector<stages::IdRange>> missing_ids(const std::vector<MatrixSet>& sets,
                                                      const std::vector<IndexRow>& kept);

// The shard number in a file name "<job>.shard-NNNNN.h5", or -1.
std::int64_t shard_number_of(const std::string& file_name, const std::string& job);

}  // namespace shmjob::resume
