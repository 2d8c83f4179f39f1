#pragma once
// RAII for HDF5 identifiers and checked calls. Every HDF5 C call in shmjob goes through check()
// or Handle, which turn a negative return into an H5Error carrying what HDF5 said.
#include <hdf5.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmjob/dtype.hpp"

namespace shmjob::h5 {

// Throws H5Error("HDF5: <what>: <innermost HDF5 error message>") if rc < 0; returns rc.
[[noreturn]] void fail(std::string_view what);
template <class T>
T check(T rc, std::string_view what) {
  if (rc < 0) fail(what);
  return rc;
}

// Silences HDF5's own error-stack printing for this process: errors reach users through our
// one-line messages instead.
void silence_hdf5_errors();

template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, std::string_view what) : id_(check(id, what)) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const noexcept { return id_; }
  operator hid_t() const noexcept { return id_; }
  // Closes now and reports failure (a close can be where buffered data meets a full disk).
  void close(std::string_view what) {
    if (id_ < 0) return;
    const hid_t id = std::exchange(id_, H5I_INVALID_HID);
    check(Close(id), what);
  }

 private:
  void reset() noexcept {
    if (id_ >= 0) Close(std::exchange(id_, H5I_INVALID_HID));
  }
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Dataset = Handle<H5Dclose>;
using Dataspace = Handle<H5Sclose>;
using Datatype = Handle<H5Tclose>;
using PropList = Handle<H5Pclose>;
using Attribute = Handle<H5Aclose>;

// Attribute helpers on any object.
void write_string_attribute(hid_t object, const char* name, std::string_view value);
void write_u64_attribute(hid_t object, const char* name, unsigned long long value);
// A 1-D dataset of variable-length UTF-8 strings.
void write_string_list(hid_t location, const char* name, const std::vector<std::string>& values);

// The HDF5 type of a dtype in native (little-endian) byte order, as a handle of its own: HDF5
// predefines no float16, so that one is built (as h5py builds it).
Datatype native_type(DType dtype);

}  // namespace shmjob::h5
