#include <algorithm>
#include <string>
#include <system_error>
#include <vector>

#include "shmjob/reader.hpp"

namespace shmjob {
namespace {
// <job>.shard-NNNNN.h5 files are shards; everything else ending in .h5 may be a master.
bool is_shard_name(const std::string& name) {
  const auto at = name.rfind(".shard-");
  return at != std::string::npos && name.size() == at + 7 + 5 + 3 &&
         std::all_of(name.begin() + static_cast<long>(at) + 7, name.end() - 3,
                     [](char c) { return c >= '0' && c <= '9'; });
}
}  // namespace

std::filesystem::path find_master(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    throw ReaderError(path.string() + ": no such file or directory", kExitBadInput);
  if (!std::filesystem::is_directory(status)) {
    if (is_shard_name(path.filename().string()))
      throw ReaderError(path.string() + " is a shard; pass the master file (<job>.h5) or the output directory",
                        kExitBadInput);
    return path;
  }
  std::vector<std::filesystem::path> masters;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && entry.path().extension() == ".h5" && !is_shard_name(name))
      masters.push_back(entry.path());
  }
  if (ec) throw ReaderError("cannot list " + path.string() + ": " + ec.message(), kExitBadInput);
  std::sort(masters.begin(), masters.end());
  if (masters.size() == 1) return masters.front();
  if (masters.empty())
    throw ReaderError(path.string() +
                          " holds no master file (<job>.h5): the job did not finish "
                          "(a failed job writes none), or this is not a shmjob output directory",
                      kExitBadInput);
  std::string names;
  for (const auto& m : masters) names += (names.empty() ? "" : ", ") + m.filename().string();
  throw ReaderError(path.string() + " holds several master files (" + names + "); pass one of them", kExitBadInput);
}

}  // namespace shmjob
