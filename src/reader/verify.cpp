// verify_output(): see include/shmjob/verify.hpp.
#include "shmjob/verify.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "h5/h5_handle.hpp"
#include "reader/hdf5_lock.hpp"
#include "shmjob/reader.hpp"

namespace shmjob {
namespace {

// One block of a virtual dataset: set-relative positions [start, start + count) from a shard.
struct VdsBlock {
  std::string file, dataset;
  std::uint64_t start = 0, count = 0;
  std::uint64_t source_start = 0;  // the block's first row in the shard (not 0 after a resume)
};

std::vector<VdsBlock> vds_blocks(const std::filesystem::path& master, const std::string& set, std::string& error) {
  std::vector<VdsBlock> blocks;
  try {
    const std::lock_guard lock(reader::hdf5_mutex());
    const h5::File file(H5Fopen(master.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + master.string());
    const h5::Dataset data(H5Dopen2(file, set.c_str(), H5P_DEFAULT), "open dataset " + set);
    const h5::PropList dcpl(H5Dget_create_plist(data), "H5Dget_create_plist");
    if (H5Pget_layout(dcpl) != H5D_VIRTUAL) {
      error = "dataset " + set + " is not a virtual dataset";
      return blocks;
    }
    std::size_t n = 0;
    h5::check(H5Pget_virtual_count(dcpl, &n), "H5Pget_virtual_count");
    for (std::size_t i = 0; i < n; ++i) {
      VdsBlock b;
      const auto name_of = [&](auto get) {
        const ssize_t len = h5::check(get(dcpl, i, nullptr, 0), "read a VDS mapping");
        std::string text(static_cast<std::size_t>(len) + 1, '\0');
        get(dcpl, i, text.data(), text.size());
        text.resize(static_cast<std::size_t>(len));
        return text;
      };
      b.file = name_of(H5Pget_virtual_filename);
      b.dataset = name_of(H5Pget_virtual_dsetname);
      const h5::Dataspace vspace(H5Pget_virtual_vspace(dcpl, i), "H5Pget_virtual_vspace");
      std::array<hsize_t, 3> lo{}, hi{};
      h5::check(H5Sget_select_bounds(vspace, lo.data(), hi.data()), "H5Sget_select_bounds");
      b.start = lo[0];
      b.count = hi[0] - lo[0] + 1;
      const h5::Dataspace srcspace(H5Pget_virtual_srcspace(dcpl, i), "H5Pget_virtual_srcspace");
      h5::check(H5Sget_select_bounds(srcspace, lo.data(), hi.data()), "H5Sget_select_bounds");
      b.source_start = lo[0];
      blocks.push_back(b);
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  return blocks;
}

// Consecutive ids with the same file and message become one problem.
std::vector<VerifyProblem> merged(std::vector<VerifyProblem> problems) {
  std::stable_sort(problems.begin(), problems.end(), [](const VerifyProblem& a, const VerifyProblem& b) {
    return std::tie(a.file, a.what, a.first_id) < std::tie(b.file, b.what, b.first_id);
  });
  std::vector<VerifyProblem> out;
  for (VerifyProblem& p : problems) {
    if (!out.empty() && p.first_id && out.back().last_id && out.back().file == p.file && out.back().what == p.what &&
        *out.back().last_id + 1 == *p.first_id) {
      out.back().last_id = p.last_id;
      continue;
    }
    out.push_back(std::move(p));
  }
  std::stable_sort(out.begin(), out.end(), [](const VerifyProblem& a, const VerifyProblem& b) {
    return a.first_id.value_or(0) < b.first_id.value_or(0);
  });
  return out;
}

// A problem of matrix `id`, or of the whole output (nullopt).
void add_problem(std::vector<VerifyProblem>& problems, std::optional<std::uint64_t> id, std::string file,
                 std::string what) {
  problems.push_back({id, id, std::move(file), std::move(what)});
}

// The index: every id of every set exactly once.
void check_index(const Reader& r, const std::string& master, std::vector<VerifyProblem>& problems) {
  const std::vector<IndexRow>& rows = r.index();
  for (const MatrixSetInfo& s : r.sets()) {
    for (std::uint64_t id = s.first_id; id < s.first_id + s.count; ++id) {
      const auto [lo, hi] = std::equal_range(rows.begin(), rows.end(),
                                             IndexRow{id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                                             [](const IndexRow& a, const IndexRow& b) { return a.id < b.id; });
      if (lo == hi) add_problem(problems, id, master, "missing from the index");
      if (hi - lo > 1) add_problem(problems, id, master, "listed " + std::to_string(hi - lo) + " times in the index");
    }
  }
  for (const IndexRow& row : rows)
    if (row.id >= r.count()) add_problem(problems, row.id, master, "the index lists an id outside the job's range");
}

// The shards the index names.
std::set<std::uint32_t> indexed_shards(const std::vector<IndexRow>& rows) {
  std::set<std::uint32_t> shard_numbers;
  for (const IndexRow& row : rows) shard_numbers.insert(row.shard);
  return shard_numbers;
}

// Shards: present and openable. Returns the problem of each one that is not.
std::map<std::uint32_t, std::string> bad_shards_of(const Reader& r, const std::set<std::uint32_t>& shard_numbers) {
  std::map<std::uint32_t, std::string> bad_shards;  // shard -> problem
  for (const std::uint32_t shard : shard_numbers) {
    std::filesystem::path file;
    try {
      file = r.shard_path(shard);
    } catch (const std::exception& e) {
      bad_shards[shard] = e.what();
      continue;
    }
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
      bad_shards[shard] = "shard is missing (the virtual dataset reads its matrices as fill values)";
      continue;
    }
    const std::lock_guard lock(reader::hdf5_mutex());
    const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
      try {
        h5::fail("open");
      } catch (const std::exception& e) {
        bad_shards[shard] = std::string("shard cannot be opened (truncated or not HDF5): ") + e.what();
      }
      continue;
    }
    H5Fclose(f);
  }
  return bad_shards;
}

// The VDS of each set maps every indexed id to its shard file and row.
void check_vds(const Reader& r, const std::filesystem::path& master_path, std::vector<VerifyProblem>& problems) {
  const std::string master = master_path.string();
  for (const MatrixSetInfo& s : r.sets()) {
    std::string error;
    const std::vector<VdsBlock> blocks = vds_blocks(master_path, s.name, error);
    if (!error.empty()) {
      add_problem(problems, std::nullopt, master, "virtual dataset " + s.name + ": " + error);
      continue;
    }
    for (const IndexRow& row : r.index()) {
      if (row.id < s.first_id || row.id >= s.first_id + s.count) continue;
      const std::uint64_t pos = row.id - s.first_id;
      const auto b = std::find_if(blocks.begin(), blocks.end(),
                                  [&](const VdsBlock& v) { return pos >= v.start && pos < v.start + v.count; });
      std::string shard_name;
      try {
        shard_name = r.shard_path(row.shard).filename().string();
      } catch (const std::exception&) {
      }
      if (b == blocks.end())
        add_problem(problems, row.id, master, "virtual dataset " + s.name + " does not map this id");
      else if (b->file != shard_name || b->dataset != "/" + s.name)
        add_problem(problems, row.id, master,
                    "virtual dataset " + s.name + " maps this id to " + b->file + ":" + b->dataset +
                        ", the index says " + shard_name + ":/" + s.name);
      else if (pos - b->start + b->source_start != row.row)  // the same offset for a whole block: ids merge
        add_problem(problems, row.id, master,
                    "virtual dataset " + s.name + " maps this id to a row off by " +
                        std::to_string(static_cast<std::int64_t>(pos - b->start + b->source_start - row.row)) +
                        " from the index row in " + shard_name);
    }
  }
}

// One indexed matrix: in a usable shard, chunks stored with the indexed size, decodable, CRC.
// True if it was read.
bool check_matrix(const Reader& r, const IndexRow& row, const std::map<std::uint32_t, std::string>& bad_shards,
                  const std::string& master, std::vector<VerifyProblem>& found) {
  if (const auto bad = bad_shards.find(row.shard); bad != bad_shards.end()) {
    std::string file;
    try {
      file = r.shard_path(row.shard).string();
    } catch (const std::exception&) {
    }
    add_problem(found, row.id, file, bad->second);
    return false;
  }
  try {
    const MatrixSetInfo& s = r.set_of(row.id);
    const std::string file = r.shard_path(row.shard).string();
    const std::uint64_t raw = std::uint64_t{s.shape.rows} * s.shape.cols * dtype_size(s.shape.dtype);
    if (row.raw_bytes != raw)
      add_problem(found, row.id, master,
                  "index says " + std::to_string(row.raw_bytes) + " raw bytes, the matrix has " + std::to_string(raw));
    const std::uint64_t stored = r.stored_bytes(row.id);
    if (stored != row.compressed_bytes)
      add_problem(
          found, row.id, file,
          "chunks hold " + std::to_string(stored) + " bytes, the index says " + std::to_string(row.compressed_bytes));
    r.read(row.id);
    return true;
  } catch (const std::exception& e) {
    std::string message = e.what();
    // Reader messages start with "matrix <id>: "; the problem line adds that itself.
    const std::string prefix = "matrix " + std::to_string(row.id) + ": ";
    if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
    add_problem(found, row.id, "", message);
    return false;
  }
}

// Every indexed matrix (check_matrix). The Reader is thread-safe and decodes outside its HDF5
// lock: one worker per core. Returns how many matrices were read.
std::uint64_t check_matrices(const Reader& r, const std::map<std::uint32_t, std::string>& bad_shards,
                             const std::string& master, std::vector<VerifyProblem>& problems) {
  const std::vector<IndexRow>& rows = r.index();
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> read_ok{0};
  std::mutex found_mutex;
  const auto worker = [&] {
    // This HDF5 build is thread-safe: its error printing is set per thread.
    h5::silence_hdf5_errors();
    std::vector<VerifyProblem> found;
    for (std::size_t i; (i = next.fetch_add(1)) < rows.size();)
      if (check_matrix(r, rows[i], bad_shards, master, found)) ++read_ok;
    const std::lock_guard lock(found_mutex);
    problems.insert(problems.end(), found.begin(), found.end());
  };
  const unsigned workers = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  std::vector<std::thread> threads;
  for (unsigned w = 1; w < workers; ++w) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  return read_ok.load();
}

}  // namespace

std::string VerifyProblem::text() const {
  std::string t;
  if (first_id && (!last_id || *last_id == *first_id))
    t = "matrix " + std::to_string(*first_id) + ": ";
  else if (first_id)
    t = "matrices " + std::to_string(*first_id) + ".." + std::to_string(*last_id) + ": ";
  if (!file.empty()) t += file + ": ";
  return t + what;
}

VerifyReport verify_output(const std::filesystem::path& path) {
  VerifyReport report;
  report.master = find_master(path);
  const std::string master = report.master.string();
  std::vector<VerifyProblem> problems;

  std::optional<Reader> reader;
  try {
    reader.emplace(report.master, ReaderOptions{0, true});
  } catch (const std::exception& e) {
    add_problem(problems, std::nullopt, master, std::string("cannot be read: ") + e.what());
    report.problems = std::move(problems);
    return report;
  }
  const Reader& r = *reader;
  report.status = r.status();
  report.matrices = r.count();
  if (report.status != "complete")
    add_problem(problems, std::nullopt, master,
                "status is '" + report.status + "', not 'complete' (the job did not finish)");

  check_index(r, master, problems);
  const std::set<std::uint32_t> shard_numbers = indexed_shards(r.index());
  report.shards = shard_numbers.size();
  const std::map<std::uint32_t, std::string> bad_shards = bad_shards_of(r, shard_numbers);
  check_vds(r, report.master, problems);
  report.matrices_read = check_matrices(r, bad_shards, master, problems);
  report.problems = merged(std::move(problems));
  return report;
}

}  // namespace shmjob
