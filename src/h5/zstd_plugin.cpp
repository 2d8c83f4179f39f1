// Entry points HDF5 looks up when it dlopen()s libh5zstd.so from HDF5_PLUGIN_PATH. H5PLextern.h
// only declares them (with default visibility, so they survive the target's hidden preset);
// including it pulls in HDF5 headers but no libhdf5 symbol.
#include <H5PLextern.h>

#include "h5/zstd_filter.hpp"

extern "C" {

H5PL_type_t H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }

const void* H5PLget_plugin_info(void) { return shmjob::h5::zstd_filter_class(); }

}  // extern "C"
