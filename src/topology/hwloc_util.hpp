#pragma once
// Thin helpers over hwloc's C API for the topology and binding code: an owning bitmap, bitmap
// <-> CpuSet conversion and return-code checks that throw TopologyError.
#include <hwloc.h>

#include <string>

#include "topology/topology.hpp"

namespace shmjob::hwloc {

std::string errno_text(int error);

// Throws TopologyError("<what>: <errno text>") when rc < 0.
void check(int rc, const char* what);

class Bitmap {
 public:
  Bitmap();
  explicit Bitmap(const CpuSet& set);  // the given indexes set
  Bitmap(const Bitmap&) = delete;
  Bitmap& operator=(const Bitmap&) = delete;
  ~Bitmap();
  hwloc_bitmap_t get() const noexcept { return bitmap_; }

 private:
  hwloc_bitmap_t bitmap_;
};

// The indexes set in a finite bitmap, ascending.
CpuSet to_set(hwloc_const_bitmap_t bitmap);

}  // namespace shmjob::hwloc
