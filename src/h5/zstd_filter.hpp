#pragma once
// HDF5 filter 32015 (zstd), as registered with The HDF Group. The same filter function serves the
// standalone plugin (libh5zstd.so, found through HDF5_PLUGIN_PATH by h5py and h5dump) and shmjob's
// own process, which registers it with H5Zregister. cd_values[0] is the compression level.

// H5Zpublic.h uses hid_t without including H5Ipublic.h (HDF5 1.10.8), so include that first.
// Both only declare: the plugin still does not link libhdf5.
#include <H5Ipublic.h>
#include <H5Zpublic.h>

#include <cstddef>
#include <cstdint>

#include "shmjob/matrix_shape.hpp"

namespace shmjob::h5 {

inline constexpr H5Z_filter_t kZstdFilterId = 32015;

// The most a zstd frame of `frame_bytes` bytes can decompress to: the filter refuses frames whose
// header claims more (a corrupt or hostile chunk must not make it allocate gigabytes). At most
// about 32768 x frame_bytes and never more than kMaxChunkBytes (HDF5's chunk limit).
std::uint64_t zstd_max_content_size(std::size_t frame_bytes) noexcept;

// The filter class. Uses malloc/free for buffers (what HDF5 1.10 uses internally) so the
// plugin does not need to link libhdf5.
const H5Z_class2_t* zstd_filter_class() noexcept;

// Registers the filter in this process if HDF5 does not know it yet. Throws H5Error on failure.
void register_zstd_filter();

}  // namespace shmjob::h5
