// The metrics pieces that need no MPI: the latency histogram's buckets and percentiles, and the
// bottleneck verdict on stage times where the answer is known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "metrics/bottleneck.hpp"
#include "metrics/job_records.hpp"
#include "metrics/latency_histogram.hpp"

namespace shmjob::metrics {
namespace {

TEST(LatencyHistogram, BucketsCoverEveryValueOnce) {
  EXPECT_EQ(latency_bucket(0.0), 0);
  EXPECT_EQ(latency_bucket(-1.0), 0);
  EXPECT_EQ(latency_bucket(std::nan("")), 0);
  EXPECT_EQ(latency_bucket(1e9), kLatencyBuckets - 1);
  for (int b = 1; b < kLatencyBuckets - 1; ++b) {
    const double lo = latency_bucket_lower_s(b), hi = latency_bucket_upper_s(b);
    EXPECT_NEAR(hi / lo, std::sqrt(2.0), 1e-12);
    EXPECT_EQ(latency_bucket(lo * 1.0001), b) << lo;
    EXPECT_EQ(latency_bucket(hi * 0.9999), b) << hi;
    EXPECT_EQ(latency_bucket_upper_s(b - 1), latency_bucket_lower_s(b));
  }
}

TEST(LatencyHistogram, QuantilesWithinOneBucketOfTheExactOnes) {
  std::mt19937_64 random(7);
  std::lognormal_distribution<double> latency(std::log(0.02), 1.0);  // around 20 ms
  std::vector<double> values(5000);
  LatencyCounts counts{};
  double max = 0;
  for (double& v : values) {
    v = latency(random);
    ++counts[static_cast<std::size_t>(latency_bucket(v))];
    max = std::max(max, v);
  }
  std::sort(values.begin(), values.end());
  for (const double q : {0.5, 0.9, 0.99}) {
    const double exact = values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
    const double estimate = latency_quantile(counts, q, max);
    EXPECT_LT(estimate / exact, std::sqrt(2.0)) << q;
    EXPECT_GT(estimate / exact, 1 / std::sqrt(2.0)) << q;
  }
  EXPECT_DOUBLE_EQ(latency_quantile(counts, 1.0, max), max);
  EXPECT_EQ(latency_quantile(LatencyCounts{}, 0.5, 0), 0.0);
}

// The streaming ratio distribution against the exact one: the same n, min, max and 20-bin
// histogram, and quantiles within 1/4096 of the range of numpy-style interpolated quantiles.
TEST(RatioDistribution, MatchesTheExactDistributionOfManyMatrices) {
  std::mt19937_64 random(11);
  std::uniform_int_distribution<std::uint64_t> stored(900, 1400);
  WriterTotals one{}, other{};
  std::vector<IndexRow> rows(30000);
  std::vector<double> ratios;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i] = IndexRow{};
    rows[i].raw_bytes = 8192;
    rows[i].compressed_bytes = i == 7 ? 0 : stored(random);  // 0: not counted (as before)
    (i % 2 ? one : other).add(rows[i]);
    if (rows[i].compressed_bytes > 0) ratios.push_back(8192.0 / double(rows[i].compressed_bytes));
  }
  std::sort(ratios.begin(), ratios.end());
  EXPECT_EQ(one.matrices + other.matrices, rows.size());
  const double lo = std::min(one.ratio_min, other.ratio_min), hi = std::max(one.ratio_max, other.ratio_max);
  EXPECT_DOUBLE_EQ(lo, ratios.front());
  EXPECT_DOUBLE_EQ(hi, ratios.back());
  RatioDistribution distribution(lo, hi);
  for (const IndexRow& r : rows) distribution.add(r);
  const nlohmann::json d = distribution.json();
  EXPECT_EQ(d["n"].get<std::size_t>(), ratios.size());
  EXPECT_DOUBLE_EQ(d["min"].get<double>(), ratios.front());
  EXPECT_DOUBLE_EQ(d["max"].get<double>(), ratios.back());
  for (const auto& [key, q] : {std::pair{"p10", 0.1}, std::pair{"p50", 0.5}, std::pair{"p90", 0.9}}) {
    const double position = q * static_cast<double>(ratios.size() - 1);
    const auto below = static_cast<std::size_t>(position);
    const double exact = ratios[below] + (ratios[below + 1] - ratios[below]) * (position - double(below));
    EXPECT_NEAR(d[key].get<double>(), exact, (hi - lo) / 4096) << key;
  }
  std::vector<std::uint64_t> counts(20, 0);
  for (const double r : ratios)
    ++counts[std::min<std::size_t>(19, static_cast<std::size_t>((r - lo) / (hi - lo) * 20))];
  EXPECT_EQ(d["counts"].get<std::vector<std::uint64_t>>(), counts);
  EXPECT_EQ(d["edges"].size(), 21u);

  RatioDistribution same(2.0, 2.0);  // every matrix compressed alike: one bin
  IndexRow r{};
  r.raw_bytes = 100, r.compressed_bytes = 50;
  same.add(r), same.add(r);
  EXPECT_EQ(same.json()["counts"], nlohmann::json::array({2}));
  EXPECT_DOUBLE_EQ(same.json()["p50"].get<double>(), 2.0);
  EXPECT_EQ(RatioDistribution(0, 0).json(), nlohmann::json({{"n", 0}}));
}

StageTimes times(double producers_busy, double producers_wait_slot, double compressors_busy,
                 double compressors_wait_input, double compressors_wait_slot, double writers_disk,
                 double writers_wait_input, int ranks = 1) {
  StageTimes s{};
  for (StageTime& t : s) t.ranks = ranks, t.matrices = 100;
  s[kProducers].busy_s = producers_busy * ranks;
  s[kProducers].wait_slot_s = producers_wait_slot * ranks;
  s[kCompressors].busy_s = compressors_busy * ranks;
  s[kCompressors].wait_input_s = compressors_wait_input * ranks;
  s[kCompressors].wait_slot_s = compressors_wait_slot * ranks;
  s[kWriters].wait_disk_s = writers_disk * ranks;
  s[kWriters].wait_input_s = writers_wait_input * ranks;
  return s;
}

DiagnosisContext context(int cores) {
  DiagnosisContext c;
  c.seconds = 1.0;
  c.cores = cores;
  c.busy_ranks = 6;
  c.ranks_per_node = {2, 2, 2};
  c.level = 3;
  return c;
}

TEST(Bottleneck, CompressorsBusyProducersWaitingForSlots) {
  const auto v = diagnose(times(0.3, 0.65, 0.97, 0.0, 0.01, 0.1, 0.85, 2), context(64));
  EXPECT_EQ(v["stage"], "compressor");
  EXPECT_NE(v["sentence"].get<std::string>().find("compressors were busy 97%"), std::string::npos) << v;
  EXPECT_NE(v["sentence"].get<std::string>().find("producers waited 65% for a free slot"), std::string::npos);
  EXPECT_NE(v["suggestion"].get<std::string>().find("more ranks to compression"), std::string::npos) << v;
  EXPECT_NE(v["suggestion"].get<std::string>().find("take them from the writers"), std::string::npos) << v;
}

TEST(Bottleneck, CompressorsOnFullCoresSuggestALowerLevel) {
  const auto v = diagnose(times(0.3, 0.65, 0.97, 0.0, 0.01, 0.1, 0.85, 2), context(2));
  EXPECT_EQ(v["stage"], "compressor");
  EXPECT_NE(v["suggestion"].get<std::string>().find("lower compression.level (now 3)"), std::string::npos) << v;
}

TEST(Bottleneck, AutoLevelAdviceNamesTheRange) {
  DiagnosisContext c = context(2);
  c.level_auto = true;
  c.level_min = 2;
  c.level_max = 12;
  const auto v = diagnose(times(0.3, 0.65, 0.97, 0.0, 0.01, 0.1, 0.85, 2), c);
  EXPECT_NE(v["suggestion"].get<std::string>().find("lower compression.level_range (now [2, 12]"), std::string::npos)
      << v;
  const auto w = diagnose(times(0.1, 0.9, 0.2, 0.0, 0.75, 0.95, 0.02), c);
  EXPECT_NE(w["suggestion"].get<std::string>().find("a higher compression.level_range (now up to 12"),
            std::string::npos)
      << w;
}

TEST(Bottleneck, WritersInTheDiskCompressorsWaitingForSlots) {
  const auto v = diagnose(times(0.1, 0.9, 0.2, 0.0, 0.75, 0.95, 0.02), context(64));
  EXPECT_EQ(v["stage"], "writer");
  EXPECT_NE(v["sentence"].get<std::string>().find("95% inside HDF5 writes"), std::string::npos) << v;
  EXPECT_NE(v["suggestion"].get<std::string>().find("faster storage"), std::string::npos) << v;
}

TEST(Bottleneck, ProducersBusyCompressorsStarved) {
  const auto v = diagnose(times(0.96, 0.0, 0.3, 0.68, 0.0, 0.05, 0.9), context(64));
  EXPECT_EQ(v["stage"], "producer");
  EXPECT_NE(v["sentence"].get<std::string>().find("compressors waited 68% for input"), std::string::npos) << v;
}

TEST(Bottleneck, NothingBusyNamesNoStage) {
  EXPECT_EQ(diagnose(times(0.1, 0.1, 0.3, 0.6, 0.0, 0.05, 0.9), context(64))["stage"], "none");
  StageTimes empty{};
  for (StageTime& t : empty) t.ranks = 1;
  EXPECT_EQ(diagnose(empty, context(64))["stage"], "none");
}

TEST(Bottleneck, UtilisationFractionsOfRankSeconds) {
  const auto u = stage_utilisation(times(0.5, 0.25, 1, 0, 0, 0.5, 0.5, 4), 1.0);
  EXPECT_DOUBLE_EQ(u["producer"]["busy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(u["producer"]["wait_slot"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(u["writer"]["active"].get<double>(), 0.5);
  EXPECT_EQ(u["compressor"]["ranks"], 4);
}

// Busy and disk-wait counters read at slightly different moments can add up to more than the
// elapsed time: the active fraction stays a fraction (the metrics schema allows at most 1).
TEST(Bottleneck, ActiveNeverExceedsOne) {
  StageTimes s = times(0.5, 0.25, 1, 0, 0, 0.31, 0.1);
  s[kWriters].busy_s = 0.7;
  EXPECT_DOUBLE_EQ(stage_utilisation(s, 1.0)["writer"]["active"].get<double>(), 1.0);
}

// A job with a transform: the compressors' busy time splits into the transform and compressing.
// The numbers are those of a matmul chain (256x256 float64 times a 256x256 operand, zstd 1) on
// 2 compressors: 97% busy, 79% of it in the transform.
StageTimes matmul_times() {
  StageTimes s = times(0.22, 0.74, 0.97, 0.0, 0.01, 0.04, 0.93, 2);
  s[kCompressors].transform_s = 0.79 * 2;
  s[kCompressors].saturated = 12;
  return s;
}

DiagnosisContext transform_context(int cores) {
  DiagnosisContext c = context(cores);
  c.transform = true;
  c.matmul = true;
  return c;
}

TEST(Bottleneck, TransformLimitsAMatmulChain) {
  const auto v = diagnose(matmul_times(), transform_context(64));
  EXPECT_EQ(v["stage"], "transform") << v;
  const std::string sentence = v["sentence"];
  EXPECT_NE(sentence.find("The transform limited this run"), std::string::npos) << v;
  EXPECT_NE(sentence.find("79% in the transform"), std::string::npos) << v;
  EXPECT_NE(sentence.find("18% compressing"), std::string::npos) << v;
  EXPECT_NE(sentence.find("producers waited 74% for a free slot"), std::string::npos) << v;
  EXPECT_NE(v["suggestion"].get<std::string>().find("more ranks to compression"), std::string::npos) << v;
  EXPECT_NE(v["suggestion"].get<std::string>().find("bin before it"), std::string::npos) << v;
  EXPECT_DOUBLE_EQ(v["evidence"]["compressors_transform"].get<double>(), 0.79);
}

TEST(Bottleneck, TransformOnFullCoresSuggestsACheaperChain) {
  DiagnosisContext c = transform_context(2);
  c.matmul = false;
  const auto v = diagnose(matmul_times(), c);
  EXPECT_EQ(v["stage"], "transform") << v;
  EXPECT_NE(v["suggestion"].get<std::string>().find("cores already run 6 working ranks"), std::string::npos) << v;
  EXPECT_NE(v["suggestion"].get<std::string>().find("fewer or simpler steps"), std::string::npos) << v;
}

// A cheap transform: the compressors are still the limit, and the sentence gives the split.
TEST(Bottleneck, CompressionNamedWhenTheTransformIsTheSmallerPart) {
  StageTimes s = times(0.3, 0.65, 0.97, 0.0, 0.01, 0.1, 0.85, 2);
  s[kCompressors].transform_s = 0.2 * 2;
  const auto v = diagnose(s, transform_context(64));
  EXPECT_EQ(v["stage"], "compressor") << v;
  EXPECT_NE(v["sentence"].get<std::string>().find("busy 97% of the time (77% compressing, 20% in the transform)"),
            std::string::npos)
      << v;
  // Without a transform the transform time is not looked at (and is never recorded).
  EXPECT_EQ(diagnose(s, context(64))["sentence"].get<std::string>().find("transform"), std::string::npos);
}

TEST(Bottleneck, UtilisationWithATransformStage) {
  const auto u = stage_utilisation(matmul_times(), 1.0, true);
  EXPECT_DOUBLE_EQ(u["transform"]["busy"].get<double>(), 0.79);
  EXPECT_DOUBLE_EQ(u["transform"]["active"].get<double>(), 0.79);
  EXPECT_EQ(u["transform"]["saturated"], 12);
  EXPECT_EQ(u["transform"]["ranks"], 2);
  EXPECT_NEAR(u["compressor"]["busy"].get<double>(), 0.18, 1e-12);  // compressing: busy - transform
  EXPECT_NEAR(u["compressor"]["active"].get<double>(), 0.18, 1e-12);
  EXPECT_FALSE(stage_utilisation(matmul_times(), 1.0).contains("transform"));
  EXPECT_DOUBLE_EQ(stage_utilisation(matmul_times(), 1.0)["compressor"]["busy"].get<double>(), 0.97);
}

// The launcher as the start record names it, from the variables mpirun and srun set.
TEST(LaunchInfo, MpirunSrunOrUnknown) {
  for (const char* name : {"OMPI_MCA_orte_hnp_uri", "OMPI_MCA_orte_local_daemon_uri", "PRTE_MCA_prte_hnp_uri",
                           "SLURM_STEP_ID", "SLURM_PROCID", "SLURM_JOB_ID", "SLURM_JOB_NODELIST", "SLURM_CLUSTER_NAME"})
    unsetenv(name);
  EXPECT_EQ(launch_info(), nlohmann::json({{"launcher", "unknown"}}));
  setenv("SLURM_JOB_ID", "4711", 1);
  setenv("SLURM_STEP_ID", "0", 1);
  setenv("SLURM_PROCID", "3", 1);
  const nlohmann::json srun = launch_info();
  EXPECT_EQ(srun["launcher"], "srun");
  EXPECT_EQ(srun["slurm_job_id"], "4711");
  setenv("OMPI_MCA_orte_hnp_uri", "123.0;tcp://127.0.0.1:1", 1);  // mpirun inside an allocation
  const nlohmann::json mpirun = launch_info();
  EXPECT_EQ(mpirun["launcher"], "mpirun");
  EXPECT_EQ(mpirun["slurm_job_id"], "4711");
}

}  // namespace
}  // namespace shmjob::metrics
