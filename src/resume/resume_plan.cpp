#include "resume/resume_plan.hpp"

#include <algorithm>
#include <cstdio>

#include "mpi/agreement.hpp"
#include "mpi/gather.hpp"
#include "mpi/mpi_error.hpp"
#include "shmjob/error.hpp"

namespace shmjob::resume {

std::uint64_t ResumePlan::todo_count() const {
  std::uint64_t n = 0;
  for (const auto& runs : todo)
    for (const stages::IdRange& r : runs) n += r.count;
  return n;
}

namespace {
void report(const Config& config, const std::vector<MatrixSet>& sets, const ResumePlan& plan) {
  std::uint64_t total = 0;
  for (const MatrixSet& s : sets) total += s.count;
  const PriorOutput& prior = plan.prior;
  if (!prior.found_any) {
    std::printf("shmjob: resume: %s holds nothing of job \"%s\" yet; starting from the beginning\n",
                config.output_dir.c_str(), config.job.c_str());
  } else {
    std::printf("shmjob: resume: kept %llu of %llu matrices (intact in %zu shard(s)); %llu to write",
                static_cast<unsigned long long>(prior.kept.size()), static_cast<unsigned long long>(total),
                prior.shards.size(), static_cast<unsigned long long>(plan.todo_count()));
    if (plan.todo_count() > 0) std::printf(" into new shards from number %u", plan.first_shard);
    std::printf("\n");
    if (prior.rejected_rows > 0)
      std::printf("  %llu index row(s) whose matrix is not intact are written again\n",
                  static_cast<unsigned long long>(prior.rejected_rows));
    for (const std::string& why : prior.ignored) std::printf("  ignored: %s\n", why.c_str());
  }
  std::fflush(stdout);
}

// Sends rank 0's todo list, first shard and flags to every rank.
void broadcast(ResumePlan& plan, std::size_t sets, MPI_Comm world) {
  std::vector<std::uint64_t> flat;  // set, first, count triples
  for (std::size_t s = 0; s < plan.todo.size(); ++s)
    for (const stages::IdRange& r : plan.todo[s]) flat.insert(flat.end(), {s, r.first, r.count});
  std::uint64_t header[4] = {flat.size(), plan.first_shard, plan.resuming ? 1u : 0u, plan.already_complete ? 1u : 0u};
  mpi::check(MPI_Bcast(header, 4, MPI_UINT64_T, 0, world), "MPI_Bcast");
  flat.resize(header[0]);
  for (std::uint64_t done = 0; done < flat.size();) {  // MPI counts are ints
    const int n = static_cast<int>(std::min<std::uint64_t>(flat.size() - done, 1u << 28));
    mpi::check(MPI_Bcast(flat.data() + done, n, MPI_UINT64_T, 0, world), "MPI_Bcast");
    done += static_cast<std::uint64_t>(n);
  }
  plan.first_shard = static_cast<std::uint32_t>(header[1]);
  plan.resuming = header[2] != 0;
  plan.already_complete = header[3] != 0;
  plan.todo.assign(sets, {});
  for (std::size_t i = 0; i + 2 < flat.size(); i += 3) plan.todo.at(flat[i]).push_back({flat[i + 1], flat[i + 2]});
}

// Rank 0's listing, sent to every rank (the notes about ignored files stay on rank 0).
void broadcast(PriorListing& listing, MPI_Comm world) {
  std::string names;
  for (const std::string& n : listing.shard_files) names += n + "\n";
  std::uint64_t header[6] = {
      listing.master_rows.size(), listing.shard_numbers.size(), names.size(),
      listing.next_shard,         listing.found_any ? 1u : 0u,  listing.master_complete ? 1u : 0u};
  mpi::check(MPI_Bcast(header, 6, MPI_UINT64_T, 0, world), "MPI_Bcast");
  listing.master_rows.resize(header[0]);
  listing.shard_numbers.resize(header[1]);
  names.resize(header[2]);
  listing.next_shard = static_cast<std::uint32_t>(header[3]);
  listing.found_any = header[4] != 0;
  listing.master_complete = header[5] != 0;
  const auto bytes = [&](void* data, std::uint64_t size) {
    auto* p = static_cast<char*>(data);
    for (std::uint64_t done = 0; done < size;) {  // MPI counts are ints
      const int n = static_cast<int>(std::min<std::uint64_t>(size - done, 1u << 30));
      mpi::check(MPI_Bcast(p + done, n, MPI_BYTE, 0, world), "MPI_Bcast");
      done += static_cast<std::uint64_t>(n);
    }
  };
  bytes(listing.master_rows.data(), listing.master_rows.size() * sizeof(IndexRow));
  bytes(listing.shard_numbers.data(), listing.shard_numbers.size() * sizeof(std::uint32_t));
  bytes(names.data(), names.size());
  listing.shard_files.clear();
  for (std::size_t start = 0, end = 0; (end = names.find('\n', start)) != std::string::npos; start = end + 1)
    listing.shard_files.push_back(names.substr(start, end - start));
}

// Every rank checks a share of the earlier runs' rows; rank 0 gets the merged result.
int scan_together(const Config& config, const std::vector<MatrixSet>& sets, MPI_Comm world, PriorOutput& prior) {
  int rank = 0, size = 1;
  mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
  mpi::check(MPI_Comm_size(world, &size), "MPI_Comm_size");
  mpi::Failure failure;
  PriorListing listing;
  if (rank == 0) {
    try {
      listing = list_prior_output(config, sets);
    } catch (const std::exception& e) {
      failure = mpi::as_failure(e);
    }
  }
  if (const int code = mpi::agree(world, failure)) return code;
  broadcast(listing, world);
  ShardCheck checked;
  try {
    checked = check_shards(listing, config, sets, rank, size);
  } catch (const std::exception& e) {
    failure = mpi::as_failure(e);
  }
  if (const int code = mpi::agree(world, failure)) return code;
  std::vector<IndexRow> kept = mpi::gatherv_to_root(checked.kept, world);
  std::uint64_t rejected = 0;
  mpi::check(MPI_Reduce(&checked.rejected_rows, &rejected, 1, MPI_UINT64_T, MPI_SUM, 0, world), "MPI_Reduce");
  if (rank == 0) {
    checked.kept = std::move(kept);  // rank 0 opened every shard itself: its shards and notes are whole
    checked.rejected_rows = rejected;
    prior = combine(std::move(listing), checked);
  }
  return kExitOk;
}
}  // namespace

int plan_run(const Config& config, const std::vector<MatrixSet>& sets, bool quiet, MPI_Comm world, ResumePlan& plan) {
  int rank = 0;
  mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
  if (config.resume)
    if (const int code = scan_together(config, sets, world, plan.prior)) return code;
  if (rank == 0) {
    plan.todo = missing_ids(sets, plan.prior.kept);
    plan.first_shard = plan.prior.next_shard;
    plan.resuming = !plan.prior.kept.empty() || plan.prior.next_shard > 0;
    plan.already_complete = plan.prior.master_complete && plan.todo_count() == 0;
    if (config.resume && !quiet) report(config, sets, plan);
  }
  broadcast(plan, sets.size(), world);
  return kExitOk;
}

}  // namespace shmjob::resume
