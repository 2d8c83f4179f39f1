#include "metrics/metrics_log.hpp"

#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

#include "shmjob/error.hpp"
#include "util/printable.hpp"
#include "util/safe_file.hpp"

namespace shmjob::metrics {

namespace {
std::FILE* open_log(const std::filesystem::path& path, MetricsLog::Open how) {
  constexpr std::string_view what = "metrics log";
  if (how == MetricsLog::Open::replace) {
    fs::require_regular_or_absent(path, what);
    std::error_code ignored;
    std::filesystem::remove(path, ignored);  // a link put there since is refused by the create
  }
  fs::UniqueFd fd = how == MetricsLog::Open::append ? fs::open_for_append(path, what) : fs::create_new_file(path, what);
  std::FILE* file = ::fdopen(fd.get(), "a");
  if (file == nullptr)
    throw Error("metrics: cannot write " + printable(path.string()) + ": " + std::strerror(errno), kExitIo);
  fd.release();  // the FILE owns it now
  return file;
}
}  // namespace

MetricsLog::MetricsLog(const std::filesystem::path& path, Open how) : file_(open_log(path, how)), path_(path) {
  const bool append = how == Open::append;
  // An earlier run may have died mid-line (a full disk): start on a line of our own.
  if (append && std::fseek(file_.get(), -1, SEEK_END) == 0) {
    const int last = std::fgetc(file_.get());
    std::fseek(file_.get(), 0, SEEK_END);
    if (last != '\n' && last != EOF) std::fputc('\n', file_.get());
  }
}

void MetricsLog::append(const nlohmann::json& record) {
  const std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex_);
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() || std::fflush(file_.get()) != 0)
    throw Error("metrics: cannot write " + path_.string() + ": " + std::strerror(errno), kExitIo);
}

PeriodicSampler::PeriodicSampler(double interval_s, std::function<void()> tick) : tick_(std::move(tick)) {
  const auto interval = std::chrono::duration<double>(interval_s);
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval, [this] { return stop_; })) {
      lock.unlock();
      try {
        tick_();
      } catch (...) {
      }  // a failed sample must not take the job down
      lock.lock();
    }
  });
}

PeriodicSampler::~PeriodicSampler() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  try {
    tick_();
  } catch (...) {
  }
}

}  // namespace shmjob::metrics
