#include "metrics/proc_stats.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace shmjob::metrics {
namespace {
std::string read_small_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return {};
  char buffer[1024];
  const std::size_t got = std::fread(buffer, 1, sizeof buffer - 1, f);
  std::fclose(f);
  return std::string(buffer, got);
}
}  // namespace

std::optional<ProcStats> read_proc_stats(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  const std::string stat = read_small_file(base + "/stat");
  const std::string statm = read_small_file(base + "/statm");
  // The command name (field 2) is in parentheses and may hold spaces: parse after the last ')'.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || statm.empty()) return std::nullopt;
  // After ")": field 3 (state) ... field 14 utime, field 15 stime.
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(stat.c_str() + close + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
      2)
    return std::nullopt;
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(statm.c_str(), "%llu %llu", &size, &resident) != 2) return std::nullopt;
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  return ProcStats{static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100),
                   resident * static_cast<unsigned long long>(page > 0 ? page : 4096)};
}

}  // namespace shmjob::metrics
