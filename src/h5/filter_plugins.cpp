#include "h5/filter_plugins.hpp"

#include <H5PLextern.h>
#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <string>
#include <utility>

namespace shmjob::h5 {
namespace {

using PluginType = H5PL_type_t (*)();
using PluginInfo = const void* (*)();

std::vector<std::string> search_path() {
  std::vector<std::string> dirs;
  unsigned count = 0;
  if (H5PLsize(&count) < 0) return dirs;
  for (unsigned i = 0; i < count; ++i) {
    const ssize_t length = H5PLget(i, nullptr, 0);
    if (length <= 0) continue;
    std::string dir(static_cast<std::size_t>(length) + 1, '\0');
    if (H5PLget(i, dir.data(), dir.size()) <= 0) continue;
    dir.resize(static_cast<std::size_t>(length));
    dirs.push_back(std::move(dir));
  }
  return dirs;
}

// The names HDF5 itself considers on Linux: lib*.so*.
std::vector<std::string> plugin_files(const std::string& dir) {
  std::vector<std::string> files;
  DIR* stream = ::opendir(dir.c_str());
  if (stream == nullptr) return files;
  while (const dirent* entry = ::readdir(stream)) {
    const std::string name = entry->d_name;
    if (name.rfind("lib", 0) == 0 && name.find(".so") != std::string::npos) files.push_back(dir + "/" + name);
  }
  ::closedir(stream);
  std::sort(files.begin(), files.end());  // readdir's order differs between file systems
  return files;
}

}  // namespace

FilterPlugins::~FilterPlugins() { release(); }

FilterPlugins::FilterPlugins(FilterPlugins&& other) noexcept
    : scanned_(std::exchange(other.scanned_, false)),
      libraries_(std::move(other.libraries_)),
      classes_(std::move(other.classes_)) {
  other.libraries_.clear();
  other.classes_.clear();
}

FilterPlugins& FilterPlugins::operator=(FilterPlugins&& other) noexcept {
  if (this != &other) {
    release();
    scanned_ = std::exchange(other.scanned_, false);
    libraries_ = std::move(other.libraries_);
    classes_ = std::move(other.classes_);
    other.libraries_.clear();
    other.classes_.clear();
  }
  return *this;
}

void FilterPlugins::release() noexcept {
  classes_.clear();
  for (void* library : libraries_) ::dlclose(library);
  libraries_.clear();
}

const H5Z_class2_t* FilterPlugins::find(H5Z_filter_t id) {
  if (!scanned_) scan();
  const auto hit = classes_.find(id);
  return hit == classes_.end() ? nullptr : hit->second;
}

void FilterPlugins::scan() {
  scanned_ = true;
  for (const std::string& dir : search_path())
    for (const std::string& file : plugin_files(dir)) {
      void* library = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (library == nullptr) continue;  // not a loadable library: HDF5 skips it too
      const auto type = reinterpret_cast<PluginType>(::dlsym(library, "H5PLget_plugin_type"));
      const auto info = reinterpret_cast<PluginInfo>(::dlsym(library, "H5PLget_plugin_info"));
      const auto* filter = type != nullptr && info != nullptr && type() == H5PL_TYPE_FILTER
                               ? static_cast<const H5Z_class2_t*>(info())
                               : nullptr;
      if (filter == nullptr || filter->version != H5Z_CLASS_T_VERS || filter->filter == nullptr ||
          classes_.count(filter->id) != 0) {
        ::dlclose(library);
        continue;
      }
      classes_.emplace(filter->id, filter);
      libraries_.push_back(library);
    }
}

}  // namespace shmjob::h5
