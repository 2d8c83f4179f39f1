#include "resume/prior_output.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "h5/index_table.hpp"
#include "h5/shard_scan.hpp"
#include "h5/shard_writer.hpp"
#include "resume/job_identity.hpp"
#include "shmjob/error.hpp"

namespace shmjob::resume {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
json parse_or_null(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  return json::parse(*text, nullptr, false);  // discarded (invalid) reads as "no identity"
}

// Refuses to go on if `where` was written by another job.
void require_same_job(const std::string& where, const json& stored_config, const json& stored_sets,
                      const Config& config, const std::vector<MatrixSet>& sets) {
  if (!stored_config.is_object())
    throw OutputPathError("resume: " + where +
                              " does not record the config it was written with; "
                              "cannot tell whether it belongs to this job",
                          kExitBadInput);
  const std::string difference = identity_difference(stored_config, stored_sets, config, sets);
  if (!difference.empty())
    throw OutputPathError("resume: " + where + " was written with another config (" + difference +
                              "); use the same config, or another output_dir",
                          kExitBadInput);
}

const MatrixSet* set_holding(const std::vector<MatrixSet>& sets, std::uint64_t id) {
  for (const MatrixSet& s : sets)
    if (id >= s.first_id && id - s.first_id < s.count) return &s;
  return nullptr;
}
}  // namespace

std::int64_t shard_number_of(const std::string& file_name, const std::string& job) {
  const std::string prefix = job + ".shard-", suffix = ".h5";
  if (file_name.size() <= prefix.size() + suffix.size() || !file_name.starts_with(prefix) ||
      !file_name.ends_with(suffix))
    return -1;
  const std::string digits = file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
  if (digits.size() < 5 || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return -1;
  return std::stoll(digits);
}

PriorListing list_prior_output(const Config& config, const std::vector<MatrixSet>& sets) {
  PriorListing out;
  const fs::path& dir = config.output_dir;
  std::error_code ec;
  if (fs::exists(config.master_path(), ec)) {
    out.found_any = true;
    const std::string where = config.master_path().string();
    std::optional<h5::File> master;
    try {
      master.emplace(H5Fopen(where.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + where);
    } catch (const H5Error& e) {
      out.ignored.push_back(where + ": " + e.what());
    }
    std::optional<std::string> master_config, master_sets, status;
    if (master) {
      try {
        master_config = h5::read_string_attribute_if_any(*master, "config");
        master_sets = h5::read_string_attribute_if_any(*master, "datasets");
        status = h5::read_string_attribute_if_any(*master, "status");
      } catch (const H5Error& e) {
        out.ignored.push_back(where + ": damaged (" + std::string(e.what()) + "); the shards are checked instead");
        master.reset();
      }
    }
    if (master) {
      require_same_job(where, parse_or_null(master_config), parse_or_null(master_sets), config, sets);
      out.master_complete = status == "complete";
      for (const MatrixSet& set : sets) {
        try {
          const std::vector<IndexRow> rows = h5::read_index(*master, set.index_name.c_str());
          out.master_rows.insert(out.master_rows.end(), rows.begin(), rows.end());
        } catch (const H5Error& e) {
          out.ignored.push_back(where + ": " + e.what());
        }
      }
    }
  }
  std::map<std::uint32_t, std::string> shard_files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::int64_t number = shard_number_of(entry.path().filename().string(), config.job);
    if (number < 0) continue;
    shard_files[static_cast<std::uint32_t>(number)] = entry.path().filename().string();
  }
  if (ec) throw OutputPathError("resume: cannot list " + dir.string() + ": " + ec.message());
  for (const auto& [number, name] : shard_files) {
    out.found_any = true;
    out.shard_numbers.push_back(number);
    out.shard_files.push_back(name);
    out.next_shard = std::max(out.next_shard, number + 1);
  }
  return out;
}

ShardCheck check_shards(const PriorListing& listing, const Config& config, const std::vector<MatrixSet>& sets, int part,
                        int parts) {
  ShardCheck out;
  std::map<std::uint32_t, std::vector<IndexRow>> from_master;
  for (const IndexRow& r : listing.master_rows) from_master[r.shard].push_back(r);
  std::uint64_t candidate = 0;  // numbers every candidate row the same way on every part
  for (std::size_t i = 0; i < listing.shard_numbers.size(); ++i) {
    const std::uint32_t number = listing.shard_numbers[i];
    const fs::path path = config.output_dir / listing.shard_files[i];
    const std::string where = path.string();
    std::optional<h5::ShardReader> shard;
    try {
      shard.emplace(path);
    } catch (const H5Error& e) {
      out.ignored.push_back(where + ": cannot be opened (" + std::string(e.what()) +
                            "); its matrices are written again");
      continue;
    }
    std::optional<std::string> shard_config, shard_sets;
    try {
      shard_config = h5::read_string_attribute_if_any(shard->file(), "config");
      shard_sets = h5::read_string_attribute_if_any(shard->file(), "datasets");
    } catch (const H5Error& e) {
      out.ignored.push_back(where + ": damaged (" + std::string(e.what()) + "); its matrices are written again");
      continue;
    }
    require_same_job(where, parse_or_null(shard_config), parse_or_null(shard_sets), config, sets);
    std::vector<IndexRow> rows = from_master[number];
    try {
      const std::vector<IndexRow> own = h5::read_index(shard->file(), "index");
      rows.insert(rows.end(), own.begin(), own.end());
    } catch (const H5Error& e) {
      out.ignored.push_back(where + ": its index cannot be read (" + std::string(e.what()) + ")");
    }
    h5::ShardInfo& info = out.shards.emplace_back(h5::ShardInfo{number, listing.shard_files[i], {}, {}});
    for (const MatrixSet& set : sets) {
      std::uint64_t first_id = 0, count = 0;  // no dataset for this set: nothing to map
      try {
        const h5::ShardReader::Extent extent = shard->extent(set);
        first_id = extent.first_id;
        count = extent.count;
      } catch (const H5Error& e) {
        out.ignored.push_back(where + ": " + e.what());
      }
      info.first_id.push_back(first_id);
      info.count.push_back(count);
    }
    std::unordered_set<std::uint64_t> seen;  // ids already counted for this shard
    for (const IndexRow& row : rows) {
      const MatrixSet* set = set_holding(sets, row.id);
      if (row.shard != number || set == nullptr || !seen.insert(row.id).second) continue;
      if (candidate++ % static_cast<std::uint64_t>(parts) != static_cast<std::uint64_t>(part)) continue;
      std::string problem;
      try {
        problem = shard->problem_with(row, *set);
      } catch (const std::exception& e) {
        problem = e.what();
      }
      if (problem.empty())
        out.kept.push_back(row);
      else
        ++out.rejected_rows;
    }
  }
  return out;
}

PriorOutput combine(PriorListing listing, const ShardCheck& checked) {
  PriorOutput out;
  out.next_shard = listing.next_shard;
  out.found_any = listing.found_any;
  out.master_complete = listing.master_complete;
  out.ignored = std::move(listing.ignored);
  out.ignored.insert(out.ignored.end(), checked.ignored.begin(), checked.ignored.end());
  out.rejected_rows = checked.rejected_rows;
  out.kept = checked.kept;
  std::sort(out.kept.begin(), out.kept.end(),
            [](const IndexRow& a, const IndexRow& b) { return a.id != b.id ? a.id < b.id : a.shard < b.shard; });
  out.kept.erase(
      std::unique(out.kept.begin(), out.kept.end(), [](const IndexRow& a, const IndexRow& b) { return a.id == b.id; }),
      out.kept.end());
  std::set<std::uint32_t> used;
  for (const IndexRow& r : out.kept) used.insert(r.shard);
  for (const h5::ShardInfo& s : checked.shards)
    if (used.contains(s.number)) out.shards.push_back(s);
  return out;
}

PriorOutput scan_prior_output(const Config& config, const std::vector<MatrixSet>& sets) {
  PriorListing listing = list_prior_output(config, sets);
  const ShardCheck checked = check_shards(listing, config, sets, 0, 1);
  return combine(std::move(listing), checked);
}

std::vector<std::vector<stages::IdRange>> missing_ids(const std::vector<MatrixSet>& sets,
                                                      const std::vector<IndexRow>& kept) {
  std::vector<std::vector<stages::IdRange>> out;
  auto it = kept.begin();
  for (const MatrixSet& set : sets) {
    std::vector<stages::IdRange>& runs = out.emplace_back();
    std::uint64_t next = set.first_id;  // first id not yet accounted for
    const std::uint64_t end = set.first_id + set.count;
    for (; it != kept.end() && it->id < end; ++it) {
      if (it->id < next) continue;
      if (it->id > next) runs.push_back({next, it->id - next});
      next = it->id + 1;
    }
    if (next < end) runs.push_back({next, end - next});
  }
  return out;
}

}  // namespace shmjob::resume
