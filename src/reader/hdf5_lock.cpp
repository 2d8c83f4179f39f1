#include "reader/hdf5_lock.hpp"

namespace shmjob::reader {

std::mutex& hdf5_mutex() noexcept {
  static std::mutex mutex;
  return mutex;
}

}  // namespace shmjob::reader
