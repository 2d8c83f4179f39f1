#pragma once
#include <string>

namespace shmjob {
// The shmjob version, "0.1.0".
std::string version();
}  // namespace shmjob
