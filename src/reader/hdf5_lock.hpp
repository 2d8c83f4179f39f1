#pragma once
// The serial HDF5 library keeps global state and is not thread-safe: every HDF5 call a Reader
// makes, from any thread and any Reader, holds this one lock. It is process-wide because the
// state it protects is (the only such object in shmjob).
#include <mutex>

namespace shmjob::reader {

std::mutex& hdf5_mutex() noexcept;

}  // namespace shmjob::reader
