// Resume's pure parts: which ids are still missing, which config changes make a resume refuse,
// and which file names are shards of a job.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "resume/job_identity.hpp"
#include "resume/prior_output.hpp"

namespace shmjob::resume {
namespace {
using stages::IdRange;

IndexRow row(std::uint64_t id) {
  IndexRow r{};
  r.id = id;
  return r;
}

std::vector<MatrixSet> two_sets() {
  return make_matrix_sets({matrix_set({4, 4, DType::float32}, 10), matrix_set({8, 2, DType::int16}, 5)});
}

TEST(MissingIds, NothingKeptMeansEverySetWhole) {
  const auto todo = missing_ids(two_sets(), {});
  ASSERT_EQ(todo.size(), 2u);
  EXPECT_EQ(todo[0], (std::vector<IdRange>{{0, 10}}));
  EXPECT_EQ(todo[1], (std::vector<IdRange>{{10, 5}}));
}

TEST(MissingIds, HolesBecomeRunsPerSet) {
  const auto todo = missing_ids(two_sets(), {row(0), row(1), row(4), row(9), row(10), row(14)});
  EXPECT_EQ(todo[0], (std::vector<IdRange>{{2, 2}, {5, 4}}));
  EXPECT_EQ(todo[1], (std::vector<IdRange>{{11, 3}}));
}

TEST(MissingIds, EverythingKeptMeansNothingToDo) {
  std::vector<IndexRow> all;
  for (std::uint64_t id = 0; id < 15; ++id) all.push_back(row(id));
  const auto todo = missing_ids(two_sets(), all);
  EXPECT_TRUE(todo[0].empty());
  EXPECT_TRUE(todo[1].empty());
}

Config synthetic(std::uint64_t count, std::uint64_t seed) {
  return parse_config(
      nlohmann::json{{"job", "j"}, {"matrices", {{"count", count}, {"rows", 4}, {"cols", 4}, {"seed", seed}}}});
}

TEST(JobIdentity, SameContentWithOtherStagesSlotsFlushIsTheSameJob) {
  const Config a = synthetic(10, 1);
  Config b = a;
  b.stages.writers = 3;
  b.slots.per_producer = 9;
  b.flush.every_matrices = 5;
  b.metrics.interval_s = 0.5;
  b.resume = true;
  b.overwrite = true;
  const auto sets = synthetic_matrix_sets(a.matrices);
  EXPECT_EQ(identity_difference(to_json(a), sets_to_json(sets), b, sets), "");
}

TEST(JobIdentity, ContentChangesAreNamed) {
  const Config a = synthetic(10, 1);
  const auto sets = synthetic_matrix_sets(a.matrices);
  const auto stored = to_json(a);
  const auto differs = [&](const Config& b) {
    return identity_difference(stored, sets_to_json(sets), b, synthetic_matrix_sets(b.matrices));
  };
  EXPECT_EQ(differs(synthetic(10, 2)), "matrices.seed: 1 in the earlier run, 2 now");
  EXPECT_EQ(differs(synthetic(11, 1)), "matrices.count: 10 in the earlier run, 11 now");
  Config level = a;
  level.compression.level = 9;
  EXPECT_EQ(differs(level), "compression.level: 3 in the earlier run, 9 now");
  Config shuffled = a;
  shuffled.compression.shuffle = true;
  EXPECT_NE(differs(shuffled).find("compression.shuffle"), std::string::npos);
  Config kind = a;
  kind.matrices.kind = DataKind::poisson;
  EXPECT_NE(differs(kind).find("matrices.kind"), std::string::npos);
  Config dtype = a;
  dtype.matrices.shape.dtype = DType::int8;
  EXPECT_NE(differs(dtype).find("matrices.dtype"), std::string::npos);
}

TEST(ShardNames, OnlyThisJobsShards) {
  EXPECT_EQ(shard_number_of("run.shard-00007.h5", "run"), 7);
  EXPECT_EQ(shard_number_of("run.shard-123456.h5", "run"), 123456);
  EXPECT_EQ(shard_number_of("run2.shard-00007.h5", "run"), -1);
  EXPECT_EQ(shard_number_of("run.shard-007.h5", "run"), -1);
  EXPECT_EQ(shard_number_of("run.shard-0000x.h5", "run"), -1);
  EXPECT_EQ(shard_number_of("run.h5", "run"), -1);
  EXPECT_EQ(shard_number_of("run.shard-00007.h5.partial", "run"), -1);
}

}  // namespace
}  // namespace shmjob::resume
