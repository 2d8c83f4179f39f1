#pragma once
// What an earlier run of a job left in its output directory, and what a resumed run still has to
// write. Resume trusts nothing but what it can check: every index row it finds (in the master if
// there is one, and in every shard's own index, which writers flush periodically) is kept only
// if the shard holds that matrix intact (ShardReader::problem_with). Shards that cannot be
// opened, and rows that fail the check, are ignored; their ids are written again, into new
// shards.
//
// Three steps, so that every rank of a job can check a share of the rows (resume_plan.cpp):
// list (one process reads the directory and the master), check (each process a share of the
// candidate rows), combine (one process).
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/id_range.hpp"
#include "config/matrix_set.hpp"
#include "h5/master_writer.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::resume {

// The directory's content: the master's rows and the job's shard files.
struct PriorListing {
  std::vector<IndexRow> master_rows;         // candidates from the master's index
  std::vector<std::uint32_t> shard_numbers;  // shard files found, ascending
  std::vector<std::string> shard_files;      // their names in output_dir
  std::uint32_t next_shard = 0;              // above every shard file of the job
  bool found_any = false;                    // a master or a shard of this job was there
  bool master_complete = false;              // the master says "complete"
  std::vector<std::string> ignored;          // "<file>: <why>"
};

// What checking the candidate rows found.
struct ShardCheck {
  std::vector<IndexRow> kept;         // intact (per shard: one row per id)
  std::vector<h5::ShardInfo> shards;  // every shard that opened, with its extents
  std::vector<std::string> ignored;
  std::uint64_t rejected_rows = 0;
};

struct PriorOutput {
  std::vector<IndexRow> kept;         // intact matrices, sorted by id, one per id
  std::vector<h5::ShardInfo> shards;  // the earlier shards holding kept matrices
  std::uint32_t next_shard = 0;       // above every shard file of the job in the directory
  bool found_any = false;             // a master or a shard of this job was there
  bool master_complete = false;       // the master says "complete"
  std::vector<std::string> ignored;   // "<file>: <why>" for files or rows not used
  std::uint64_t rejected_rows = 0;    // index rows whose matrix was not intact
};

// Lists config.output_dir's master rows and shard files. Throws OutputPathError(kExitBadInput)
// if the master was written by a job with another config (job_identity.hpp).
PriorListing list_prior_output(const Config& config, const std::vector<MatrixSet>& sets);

// Opens every listed shard (throws like list_prior_output if one belongs to another job), reads
// its own index and checks the candidate rows numbered `part`, `part + parts`, ... (in shard
// order, master rows before the shard's own; rows repeated for an id are counted once).
ShardCheck check_shards(const PriorListing& listing, const Config& config, const std::vector<MatrixSet>& sets, int part,
                        int parts);

// Merges every part's check: one row per id (the lowest shard number wins), the shards it uses.
PriorOutput combine(PriorListing listing, const ShardCheck& checked);

// All three in one process.
PriorOutput scan_prior_output(const Config& config, const std::vector<MatrixSet>& sets);

// Per set: the ids not in `kept` (sorted by id), as sorted runs.
std::vector<std::vector<stages::IdRange>> missing_ids(const std::vector<MatrixSet>& sets,
                                                      const std::vector<IndexRow>& kept);

// The shard number in a file name "<job>.shard-NNNNN.h5", or -1.
std::int64_t shard_number_of(const std::string& file_name, const std::string& job);

}  // namespace shmjob::resume
