// The pieces that keep index rows out of memory: a writer's ReceivedIds (duplicates, sorted
// positions), GrowingIndex::permute (a shard's index sorted on disk in blocks), IndexMerge (the
// shards' indexes merged by id) and the master written row by row from such a merge.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "config/matrix_set.hpp"
#include "h5/h5_handle.hpp"
#include "h5/index_merge.hpp"
#include "h5/index_table.hpp"
#include "h5/master_writer.hpp"
#include "h5/shard_writer.hpp"
#include "pipeline/received_ids.hpp"
#include "shmjob/error.hpp"

namespace shmjob {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::temp_directory_path() / ("shmjob_merge_" + std::to_string(::getpid()) + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

IndexRow row_of(std::uint64_t id, std::uint32_t shard, std::uint64_t row) {
  return {id,        shard,     row, 128, 64, static_cast<std::uint32_t>(id * 7), 0, 1, 0.5, 0, 1, 2, 0, 0, 0,
          kNoSource, kNoSource, id,  3,   0};
}

std::vector<std::uint64_t> ids_of(const std::vector<IndexRow>& rows) {
  std::vector<std::uint64_t> ids;
  for (const IndexRow& r : rows) ids.push_back(r.id);
  return ids;
}

// A file holding only a GrowingIndex "index" with `rows` appended in that order.
void write_table(const fs::path& path, const std::vector<IndexRow>& rows) {
  h5::File file(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), "create");
  h5::GrowingIndex index(file, "index", path.string());
  index.append(rows);
}

TEST(ReceivedIds, RefusesADuplicateAndGivesSortedPositionsAcrossPartsWithHoles) {
  stages::ReceivedIds ids({stages::IdRange{100, 150}, stages::IdRange{1000, 70}});
  std::vector<std::pair<std::size_t, std::uint64_t>> inserted;
  std::mt19937_64 random(7);
  for (std::uint64_t id = 100; id < 250; ++id)
    if (random() % 3 != 0) inserted.push_back({0, id});
  for (std::uint64_t id = 1000; id < 1070; ++id)
    if (random() % 4 != 0) inserted.push_back({1, id});
  std::vector<std::pair<std::size_t, std::uint64_t>> order = inserted;
  std::shuffle(order.begin(), order.end(), random);
  for (const auto& [part, id] : order) ASSERT_TRUE(ids.insert(part, id));
  EXPECT_EQ(ids.size(), inserted.size());
  EXPECT_FALSE(ids.insert(order[5].first, order[5].second));
  EXPECT_EQ(ids.size(), inserted.size());
  for (std::size_t i = 0; i < inserted.size(); ++i)  // `inserted` is in id order
    EXPECT_EQ(ids.position(inserted[i].first, inserted[i].second), i) << inserted[i].second;
  EXPECT_THROW(ids.insert(0, 250), std::logic_error);  // outside its part
  std::uint64_t hole = 100;
  while (ids.contains(0, hole)) ++hole;
  EXPECT_THROW(ids.position(0, hole), std::logic_error);
}

TEST(GrowingIndex, PermuteSortsATableLargerThanItsBlocksInPlaceOfTheOld) {
  const fs::path dir = temp_dir();
  const fs::path path = dir / "t.h5";
  // 40,000 rows: blocks that arrive in order, one nearly in order and a shuffled stretch.
  std::vector<IndexRow> rows;
  for (std::uint64_t id = 0; id < 40000; ++id) rows.push_back(row_of(id * 2, 0, id));
  std::mt19937_64 random(3);
  for (std::size_t i = 17000; i + 1 < 17400; i += 2) std::swap(rows[i], rows[i + 1]);
  std::shuffle(rows.begin() + 30000, rows.end(), random);
  {
    h5::File file(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), "create");
    h5::GrowingIndex index(file, "index", path.string());
    index.append(std::span<const IndexRow>(rows).first(25000));
    index.append(std::span<const IndexRow>(rows).subspan(25000));
    index.permute(file, [](const IndexRow& r) { return r.id / 2; });
    std::vector<IndexRow> head(3);
    index.read_at(0, head);  // the reopened table is the sorted one
    EXPECT_EQ(ids_of(head), (std::vector<std::uint64_t>{0, 2, 4}));
  }
  h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  const std::vector<IndexRow> back = h5::read_index(file, "index");
  ASSERT_EQ(back.size(), rows.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    ASSERT_EQ(back[i].id, 2 * i);
    ASSERT_EQ(back[i].row, i);
    ASSERT_EQ(back[i].crc32, static_cast<std::uint32_t>(back[i].id * 7));
  }
  EXPECT_LE(H5Lexists(file, "index.sorting", H5P_DEFAULT), 0);  // the copy took the table's name
  fs::remove_all(dir);
}

TEST(GrowingIndex, AnEmptyTableSortsToAnEmptyTableThatMergesToNothing) {
  const fs::path dir = temp_dir();
  const fs::path path = dir / "empty.h5";  // a writer interrupted before its first matrix
  {
    h5::File file(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), "create");
    h5::GrowingIndex index(file, "index", path.string());
    index.permute(file, [](const IndexRow&) -> std::uint64_t { throw std::logic_error("no row to place"); });
    EXPECT_EQ(index.size(), 0u);
  }
  h5::IndexMerge merge;
  merge.add_shard(path);
  IndexRow row{};
  std::size_t input = 0;
  EXPECT_FALSE(merge.next(row, input));
  fs::remove_all(dir);
}

TEST(IndexMerge, MergesSortedShardTablesAndRowsInMemoryByIdInBlocks) {
  const fs::path dir = temp_dir();
  // Three shards holding interleaved blocks of ids (as producers claim blocks on several nodes),
  // each table longer than a merge block, and kept rows in memory.
  std::vector<std::vector<IndexRow>> tables(3);
  std::vector<IndexRow> kept;
  std::set<std::uint64_t> all;
  for (std::uint64_t id = 0; id < 9000; ++id) {
    const std::uint64_t block = id / 700;
    if (block % 4 == 3) {
      kept.push_back(row_of(id, 99, id));
    } else {
      auto& t = tables[block % 4];
      t.push_back(row_of(id, static_cast<std::uint32_t>(block % 4), t.size()));
    }
    all.insert(id);
  }
  h5::IndexMerge merge;
  merge.add_rows(kept);
  for (std::size_t s = 0; s < tables.size(); ++s) {
    ASSERT_GT(tables[s].size(), h5::IndexMerge::kBlockRows);
    write_table(dir / ("s" + std::to_string(s) + ".h5"), tables[s]);
    merge.add_shard(dir / ("s" + std::to_string(s) + ".h5"));
  }
  IndexRow row{};
  std::size_t input = 0;
  std::vector<std::uint64_t> merged;
  while (merge.next(row, input)) {
    merged.push_back(row.id);
    EXPECT_EQ(input, row.shard == 99 ? 0u : row.shard + 1) << row.id;
    EXPECT_EQ(row.crc32, static_cast<std::uint32_t>(row.id * 7));
  }
  EXPECT_EQ(merged, std::vector<std::uint64_t>(all.begin(), all.end()));
  fs::remove_all(dir);
}

TEST(IndexMerge, ASharedIdComesOnceFromEachInputAndAnUnsortedTableIsAnError) {
  h5::silence_hdf5_errors();  // the failures below are expected
  const fs::path dir = temp_dir();
  write_table(dir / "a.h5", {row_of(1, 0, 0), row_of(5, 0, 1)});
  write_table(dir / "b.h5", {row_of(5, 1, 0), row_of(6, 1, 1)});
  h5::IndexMerge merge;
  merge.add_shard(dir / "a.h5");
  merge.add_shard(dir / "b.h5");
  IndexRow row{};
  std::size_t input = 0;
  std::vector<std::pair<std::uint64_t, std::size_t>> got;
  while (merge.next(row, input)) got.push_back({row.id, input});
  EXPECT_EQ(got, (std::vector<std::pair<std::uint64_t, std::size_t>>{{1, 0}, {5, 0}, {5, 1}, {6, 1}}));

  write_table(dir / "unsorted.h5", {row_of(3, 0, 0), row_of(2, 0, 1)});
  h5::IndexMerge bad;
  bad.add_shard(dir / "unsorted.h5");
  EXPECT_THROW(
      {
        while (bad.next(row, input)) {
        }
      },
      H5Error);
  EXPECT_THROW(bad.add_shard(dir / "missing.h5"), H5Error);
  fs::remove_all(dir);
}

TEST(MasterWriter, WritesIndexesOfSeveralChunksAndOneMappingPerRunFromARowSource) {
  const fs::path dir = temp_dir();
  MatrixSet small, tiny;
  small.shape.rows = small.shape.cols = 4, small.count = 30000;
  tiny.shape.rows = 2, tiny.shape.cols = 3, tiny.shape.dtype = DType::int32, tiny.count = 20000;
  const std::vector<MatrixSet> sets = make_matrix_sets({small, tiny});
  ASSERT_EQ(sets.size(), 2u);
  // Set 0 in two shards with a hole in the middle of shard 0; set 1 in shard 1 only.
  std::vector<IndexRow> rows;
  for (std::uint64_t id = 0; id < 15000; ++id)
    if (id < 4000 || id >= 4010) rows.push_back(row_of(id, 0, id));
  for (std::uint64_t id = 15000; id < 30000; ++id) rows.push_back(row_of(id, 1, id - 15000));
  for (std::uint64_t id = 30000; id < 50000; ++id) rows.push_back(row_of(id, 1, id - 30000));
  const std::vector<h5::ShardInfo> shards{{0, "s0.h5", {0, 0}, {15000, 0}},
                                          {1, "s1.h5", {15000, 30000}, {15000, 20000}}};
  std::size_t next = 0;
  h5::write_master(dir / "m.h5", sets, shards,
                   [&](IndexRow& r) {
                     if (next == rows.size()) return false;
                     r = rows[next++];
                     return true;
                   },
                   {}, {{"status", "complete"}});
  EXPECT_FALSE(fs::exists(dir / "m.h5.partial"));
  h5::File file(H5Fopen((dir / "m.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  const std::vector<IndexRow> first = h5::read_index(file, sets[0].index_name.c_str());
  const std::vector<IndexRow> second = h5::read_index(file, sets[1].index_name.c_str());
  ASSERT_EQ(first.size() + second.size(), rows.size());
  EXPECT_TRUE(std::equal(first.begin(), first.end(), rows.begin(),
                         [](const IndexRow& a, const IndexRow& b) { return a.id == b.id && a.row == b.row; }));
  EXPECT_EQ(second.front().id, 30000u);
  EXPECT_EQ(second.back().id, 49999u);
  const auto mappings = [&](const MatrixSet& set) {
    h5::Dataset d(H5Dopen2(file, set.name.c_str(), H5P_DEFAULT), "open");
    h5::PropList dcpl(H5Dget_create_plist(d), "dcpl");
    std::size_t n = 0;
    h5::check(H5Pget_virtual_count(dcpl, &n), "count");
    return n;
  };
  EXPECT_EQ(mappings(sets[0]), 3u);  // shard 0 before and after the hole, shard 1
  EXPECT_EQ(mappings(sets[1]), 1u);

  h5::silence_hdf5_errors();
  // A row outside every set fails the write and leaves no file behind.
  rows.push_back(row_of(60000, 1, 0));
  EXPECT_THROW(h5::write_master(dir / "bad.h5", sets, shards, std::span<const IndexRow>(rows), {}, {}), H5Error);
  EXPECT_FALSE(fs::exists(dir / "bad.h5.partial"));
  EXPECT_FALSE(fs::exists(dir / "bad.h5"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace shmjob
