#pragma once
// The filter classes of HDF5's dynamically loaded filter plugins (LZ4, bzip2, Blosc, ...), for
// code that must run a filter itself: the input reader's chunk-size check decodes each chunk once
// with the same code HDF5 will use. HDF5 has no call that returns a registered filter's class, so
// the plugin directories are searched as HDF5 searches them (H5PLget: HDF5_PLUGIN_PATH, then the
// built-in default), in order, the first plugin providing an id winning.
#include <hdf5.h>

#include <map>
#include <vector>

namespace shmjob::h5 {

class FilterPlugins {
 public:
  FilterPlugins() = default;
  ~FilterPlugins();
  FilterPlugins(FilterPlugins&& other) noexcept;
  FilterPlugins& operator=(FilterPlugins&& other) noexcept;
  FilterPlugins(const FilterPlugins&) = delete;
  FilterPlugins& operator=(const FilterPlugins&) = delete;

  // The class of filter `id`, or nullptr when no plugin provides it. The directories are read on
  // the first call; a plugin stays loaded while this object lives.
  const H5Z_class2_t* find(H5Z_filter_t id);

 private:
  void scan();
  void release() noexcept;

  bool scanned_ = false;
  std::vector<void*> libraries_;  // dlopen handles of plugins that provide a filter
  std::map<H5Z_filter_t, const H5Z_class2_t*> classes_;
};

}  // namespace shmjob::h5
