// The fuzz targets hand their input to the code under test as a file path (fuzz_common.hpp).
// That file must open the way a job's input does, or a target fuzzes nothing past the open:
// every committed shard seed (valid HDF5 files) must open with HDF5 and scan as input.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "h5/h5_handle.hpp"
#include "input/input.hpp"

namespace {

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(FuzzHarnessTest, EveryShardSeedOpensAsHdf5AndScans) {
  shmjob::h5::silence_hdf5_errors();
  std::size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SHMJOB_FUZZ_CORPUS "/shard")) {
    SCOPED_TRACE(entry.path().string());
    const std::vector<std::uint8_t> bytes = read_bytes(entry.path());
    const shmjob::fuzz::InputFile file(bytes.data(), bytes.size());
    EXPECT_EQ(read_bytes(file.path()), bytes);
    const hid_t id = H5Fopen(file.path().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(id, 0) << "H5Fopen failed on the harness's file";
    const bool has_data = H5Lexists(id, "data", H5P_DEFAULT) > 0;
    H5Fclose(id);
    // As the shard target scans it: "/data", or the root as a group of 2-D datasets.
    shmjob::InputConfig config;
    config.files = {file.path()};
    config.dataset = has_data ? "/data" : "/";
    config.recursive = !has_data;
    EXPECT_NO_THROW(EXPECT_GT(shmjob::InputCatalog::scan(config).size(), 0u));
    ++seeds;
  }
  EXPECT_GE(seeds, 4u);
}

TEST(FuzzHarnessTest, InputFileIsRemovedWithItsDirectory) {
  const std::uint8_t byte = 7;
  std::string path;
  {
    const shmjob::fuzz::InputFile file(&byte, 1);
    path = file.path();
    EXPECT_TRUE(std::filesystem::is_regular_file(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(path).parent_path()));
}

}  // namespace
