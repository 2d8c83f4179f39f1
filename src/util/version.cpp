#include "shmjob/version.hpp"

#include "shmjob_version_config.hpp"

namespace shmjob {
std::string version() { return SHMJOB_VERSION_STRING; }
}  // namespace shmjob
