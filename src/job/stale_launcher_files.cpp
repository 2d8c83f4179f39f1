#include "job/stale_launcher_files.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <system_error>

#include "shmjob/error.hpp"
#include "util/printable.hpp"

namespace shmjob::cleanup {
namespace fs = std::filesystem;
namespace {

// Younger files may belong to a job that is starting and has not mapped them yet.
constexpr auto kMinAge = std::chrono::seconds(5);

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

bool owned_by_me(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && st.st_uid == ::getuid();
}

bool old_enough(const fs::path& p) {
  std::error_code ec;
  const auto written = fs::last_write_time(p, ec);
  return !ec && fs::file_time_type::clock::now() - written >= kMinAge;
}

// Every file some process maps, as /proc/<pid>/maps names it. Only our own processes can map
// our files, and their maps are readable to us.
std::set<std::string> mapped_files() {
  std::set<std::string> mapped;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::ifstream maps(entry.path() / "maps");
    std::string line;
    while (std::getline(maps, line))
      if (const auto slash = line.find('/'); slash != std::string::npos) {
        std::string file = line.substr(slash);
        if (file.ends_with(" (deleted)")) continue;
        mapped.insert(std::move(file));
      }
  }
  return mapped;
}

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }
}  // namespace

std::vector<StaleFile> find_stale_launcher_files(const fs::path& shm_dir, const std::vector<fs::path>& tmp_dirs) {
  std::vector<StaleFile> stale;
  const std::string host = host_name();
  std::error_code ec;

  const std::set<std::string> mapped = mapped_files();
  const std::string segment_prefix = "vader_segment." + host + ".";
  for (const auto& entry : fs::directory_iterator(shm_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(segment_prefix) || !owned_by_me(entry.path()) || !old_enough(entry.path())) continue;
    if (mapped.contains(entry.path().string())) continue;
    stale.push_back({entry.path(), "shared-memory segment no process maps"});
  }

  const std::string session = "ompi." + host + "." + std::to_string(::getuid());
  for (const fs::path& tmp : tmp_dirs) {
    const fs::path dir = tmp / session;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with("pid.") || !owned_by_me(entry.path())) continue;
      char* end = nullptr;
      const long pid = std::strtol(name.c_str() + 4, &end, 10);
      if (end == nullptr || *end != '\0' || process_alive(pid)) continue;
      stale.push_back({entry.path(), "session directory of mpirun " + std::to_string(pid) + ", which is gone"});
    }
  }
  return stale;
}

std::vector<StaleFile> find_stale_launcher_files() {
  std::vector<fs::path> tmp_dirs{"/tmp"};
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0' && fs::path(t) != "/tmp")
    tmp_dirs.emplace_back(t);
  return find_stale_launcher_files("/dev/shm", tmp_dirs);
}

int run_cleanup(bool dry_run) {
  int code = kExitOk;
  const std::vector<StaleFile> stale = find_stale_launcher_files();
  for (const StaleFile& f : stale) {
    if (dry_run) {
      std::printf("would remove %s (%s)\n", f.path.c_str(), f.why.c_str());
      continue;
    }
    std::error_code ec;
    fs::remove_all(f.path, ec);
    if (ec) {
      std::fprintf(stderr, "shmjob: error: cleanup: cannot remove %s: %s\n", printable(f.path.string()).c_str(),
                   ec.message().c_str());
      code = kExitIo;
    } else {
      std::printf("removed %s (%s)\n", f.path.c_str(), f.why.c_str());
    }
  }
  if (stale.empty()) std::printf("shmjob: cleanup: nothing stale on this node\n");
  std::fflush(stdout);
  return code;
}

}  // namespace shmjob::cleanup
