#include "h5/zstd_filter.hpp"
#include "shmjob/error.hpp"

namespace shmjob::h5 {

// H5Zfilter_avail may itself load a 32015 plugin found through HDF5_PLUGIN_PATH; any such plugin
// speaks the same frame format, so we only register ours when none is available.
void register_zstd_filter() {
  if (H5Zfilter_avail(kZstdFilterId) > 0) return;
  if (H5Zregister(zstd_filter_class()) < 0 || H5Zfilter_avail(kZstdFilterId) <= 0)
    throw H5Error("HDF5: cannot register the zstd filter (32015)");
}

}  // namespace shmjob::h5
